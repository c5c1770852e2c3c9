"""Rootless mode's pure parts: /etc/subuid parsing, the namespace's id map, the XDG paths."""

from __future__ import annotations

from pyctr.core import rootless
from pyctr.runtime.userns import IdRange, mapping, read_ranges


def test_ranges_by_name_or_number_in_file_order(tmp_path):
    f = tmp_path / "subuid"
    f.write_text("# comment\nalice:100000:65536\nbob:165536:65536\n1000:300000:1000\nalice:400000:0\n"
                 "alice:bad:10\n\nalice:500000:5\n")
    assert read_ranges(str(f), "alice", 1000) == [IdRange(100000, 65536), IdRange(300000, 1000), IdRange(500000, 5)]
    assert read_ranges(str(f), "bob", 1001) == [IdRange(165536, 65536)]
    assert read_ranges(str(f), "carol", 1002) == []
    assert read_ranges(str(tmp_path / "missing"), "alice", 1000) == []


def test_mapping_puts_the_user_at_zero_and_ranges_from_one():
    assert mapping(1000, [IdRange(100000, 65536)]) == [(0, 1000, 1), (1, 100000, 65536)]
    assert mapping(1000, [IdRange(100000, 10), IdRange(200000, 5)]) == [
        (0, 1000, 1), (1, 100000, 10), (11, 200000, 5)]
    assert mapping(1000, []) == [(0, 1000, 1)]


def test_xdg_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert rootless.default_root(1000) == f"{tmp_path}/home/.local/share/pyctr"
    assert rootless.default_config_file(1000) == f"{tmp_path}/home/.config/pyctr/pyctr.toml"
    monkeypatch.setenv("XDG_DATA_HOME", "/data")
    monkeypatch.setenv("XDG_CONFIG_HOME", "/conf")
    assert rootless.default_root(1000) == "/data/pyctr"
    assert rootless.default_config_file(1000) == "/conf/pyctr/pyctr.toml"


def test_a_stray_variable_does_not_make_root_rootless(monkeypatch):
    """The recorded uid is believed only inside a user namespace (uid_map not the identity)."""
    monkeypatch.setenv(rootless.ENV_UID, "1000")
    if rootless.in_user_namespace():
        assert rootless.uid() == 1000
    else:
        import os

        assert rootless.uid() == (os.geteuid() or None)
