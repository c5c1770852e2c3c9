"""The compression-bomb limit is the user's: ``layer-max-size`` in the config file or
``PYCTR_LAYER_MAX_SIZE`` (go-units sizes, ``0`` = no limit; 8 GiB by default). A layer past it
is refused in one line that names the setting, and nothing of it stays in the store."""

from __future__ import annotations

import os

import pytest

from pyctr.testing.corpus import compression_bombs

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    """A 16 KiB gzip layer that unpacks to 16 MiB of zeros."""
    _name, blob = compression_bombs(16 << 20)[0]
    path = tmp_path_factory.mktemp("bomb") / "bomb.tar.gz"
    path.write_bytes(blob)
    assert path.stat().st_size < 64 << 10
    return path


def _store(p) -> set[str]:
    """Layer directories and staging entries of both drivers."""
    found = set()
    for home in (p.root / "overlay2", p.root / "vfs" / "dir"):
        if home.is_dir():
            found |= {f"{home}/{n}" for n in os.listdir(home) if n != "l"}
    return found


def _refused(p, bomb, tag: str, env: dict[str, str] | None = None) -> None:
    before = _store(p)
    old_env = dict(p.env)
    p.env.update(env or {})
    try:
        r = p("import", str(bomb), tag)
    finally:
        p.env = old_env
    assert r.returncode == 125, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "layer-max-size" in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert p("image", "inspect", tag).returncode != 0
    assert _store(p) == before


@pytest.mark.parametrize("driver", ["overlay2", "vfs"])
def test_the_environment_variable_bounds_a_layer(pyctr, bomb, driver):
    pyctr.env["PYCTR_STORAGE_DRIVER"] = driver
    _refused(pyctr, bomb, "bomb:env", {"PYCTR_LAYER_MAX_SIZE": "8m"})
    # above what it unpacks to, and with no limit at all: the same layer goes in
    pyctr.env["PYCTR_LAYER_MAX_SIZE"] = "17MiB"
    pyctr("import", str(bomb), "bomb:17m", check=True)
    pyctr.env["PYCTR_LAYER_MAX_SIZE"] = "0"
    pyctr("import", str(bomb), "bomb:unlimited", check=True)
    assert pyctr("system", "check").returncode == 0


def test_the_config_file_bounds_a_layer_and_the_environment_wins(pyctr, bomb):
    config = pyctr.env["PYCTR_CONFIG"]
    with open(config, "w") as f:
        f.write('layer-max-size = "1m"\n')
    _refused(pyctr, bomb, "bomb:file")
    assert pyctr("info", "--format", "{{json .}}").returncode == 0
    pyctr.env["PYCTR_LAYER_MAX_SIZE"] = "1g"
    pyctr("import", str(bomb), "bomb:env-wins", check=True)


def test_a_bad_limit_is_one_line(pyctr, bomb):
    pyctr.env["PYCTR_LAYER_MAX_SIZE"] = "lots"
    r = pyctr("import", str(bomb), "bomb:bad")
    assert r.returncode == 125 and r.stderr.strip() == "Error: invalid layer-max-size: 'lots'", r.stderr
