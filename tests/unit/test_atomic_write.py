"""state.atomic_write: the one crash-safe file writer (credentials use it too)."""

from __future__ import annotations

import os
import stat

import pytest

from pyctr.core.state import atomic_write
from pyctr.images import credentials


def test_replaces_content_and_leaves_no_temporary(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"old")
    atomic_write(f, b"new", 0o640)
    assert f.read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o640
    assert os.listdir(tmp_path) == ["f"]


def test_refuses_a_link_planted_at_the_temporary_name(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    f = tmp_path / "f"
    (tmp_path / f".f.tmp{os.getpid()}").symlink_to(victim)
    with pytest.raises(OSError):
        atomic_write(f, b"new")
    assert victim.read_bytes() == b"keep" and not f.exists()


def test_credentials_get_0600_even_over_a_leftover_temporary(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker"))
    f = tmp_path / "auth.json"
    left = tmp_path / f".auth.json.tmp{os.getpid()}"
    left.write_bytes(b"junk")
    left.chmod(0o666)
    credentials.save(f, "localhost:5000", "me", "pw")
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["auth.json"]
