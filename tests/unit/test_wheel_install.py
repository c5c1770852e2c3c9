"""``pip install .`` as a user does it: a wheel (not editable) into a fresh virtual environment,
its dependencies from the package index, gives a ``pyctr`` that works and carries its licence."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _run(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)


def test_a_wheel_in_a_fresh_venv_gives_a_working_pyctr(tmp_path):
    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", str(venv)).returncode == 0
    pip = str(venv / "bin" / "pip")
    dist = tmp_path / "dist"
    built = _run(pip, "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT))  # what `pip install .` builds
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("pyctr-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names), names
    assert any(n.endswith("NOTICE") for n in names)
    assert "pyctr/runtime/seccomp_default.py" in names and not any(n.startswith("tests/") for n in names)

    installed = _run(pip, "install", "-q", str(wheel))
    assert installed.returncode == 0, installed.stderr

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYCTR_", "PYTHON"))}
    env.update(PYCTR_ROOT=str(tmp_path / "root"), PYCTR_RUNROOT=str(tmp_path / "run"),
               PYCTR_CONFIG=str(tmp_path / "none.toml"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    pyctr = str(venv / "bin" / "pyctr")
    version = _run(pyctr, "version", env=env, cwd=tmp_path)
    assert version.returncode == 0 and "0.1.0" in version.stdout, version.stdout + version.stderr
    where = _run(str(venv / "bin" / "python"), "-c", "import pyctr, sys; print(pyctr.__file__)", env=env, cwd=tmp_path)
    assert where.stdout.startswith(str(venv)), where.stdout  # the installed copy, not this checkout
    images = _run(pyctr, "images", env=env, cwd=tmp_path)
    assert images.returncode == 0 and images.stdout.split()[:2] == ["REPOSITORY", "TAG"], images.stderr
    plugins = _run(pyctr, "plugins", env=env, cwd=tmp_path)
    assert plugins.returncode == 0, plugins.stderr
    listed = {tuple(line.split()[:2]) for line in plugins.stdout.splitlines()[1:]}
    assert {("overlay2", "storage"), ("vfs", "storage"), ("bridge", "network"), ("local", "volume"),
            ("cgroupfs", "cgroup")} <= listed, plugins.stdout
    bad = _run(pyctr, "run", "--no-such-flag", "busybox", env=env, cwd=tmp_path)
    assert bad.returncode == 125 and "Traceback" not in bad.stderr, bad.stderr
