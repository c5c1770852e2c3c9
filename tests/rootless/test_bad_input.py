"""What a rootless user can get wrong: one line on stderr, exit 125, nothing left
(no pause process, no namespace, no mount; the session fixture checks the processes)."""

from __future__ import annotations

import os

import pytest


def _one_line_125(done, *words: str) -> None:
    assert done.returncode == 125, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in done.stderr


def test_xdg_runtime_dir_unset(session):
    env = dict(session.env)
    del env["XDG_RUNTIME_DIR"]
    session.env = env
    _one_line_125(session.pyctr("images"), "XDG_RUNTIME_DIR is not set")
    assert not session.store.exists()
    assert session.processes() == {}


def test_xdg_runtime_dir_of_someone_else(session):
    other = session.base / "roots-runtime"
    other.mkdir(mode=0o755)  # root's, readable: still not the user's
    _one_line_125(session.pyctr("images", env={"XDG_RUNTIME_DIR": str(other)}), "belongs to uid 0", "not to you")
    assert session.processes() == {}


def test_root_owned_store(session):
    store = session.base / "root-store"
    store.mkdir(mode=0o755)
    done = session.pyctr("--root", str(store), "images")
    _one_line_125(done, "belongs to uid 0", "never mix")
    assert os.listdir(store) == []
    assert session.pause_pid() is None and session.processes() == {}


def test_root_store_default_path_of_root(session):
    """/var/lib/pyctr (root's default) named by a user is refused the same way."""
    done = session.pyctr("--root", "/var/lib/pyctr", "images")
    if os.path.exists("/var/lib/pyctr"):
        _one_line_125(done, "belongs to uid 0")
    else:
        _one_line_125(done, "not writable by you")
    assert session.processes() == {}


def test_missing_newuidmap(session):
    """A user with ranges but without the setuid helpers on $PATH."""
    done = session.pyctr("images", env={"PATH": str(session.base)})
    _one_line_125(done, "newuidmap is not installed", "uidmap")
    assert session.pause_pid() is None and session.processes() == {}


def test_no_subuid_range_single_mapping(norange_session, root_owned_tar):
    """No range: a single-id namespace with a note, root-only images run; --user 99:99 is one line."""
    s = norange_session
    done = s.pyctr("import", str(root_owned_tar), "tiny")
    assert done.returncode == 0, done.stderr
    assert "no range in /etc/subuid and /etc/subgid" in done.stderr  # the note, once, when the namespace is made
    info = s.pyctr("info", check=True).stdout
    assert "ID Mapping: single" in info and f"UID Map: 0->{s.user.uid} (1)" in info
    assert s.pyctr("run", "--rm", "--network", "none", "tiny", "id", check=True).stdout.startswith("uid=0")
    done = s.pyctr("run", "--rm", "--network", "none", "--user", "99:99", "tiny", "id")
    _one_line_125(done, "only id 0 exists", "/etc/subuid")
    assert s.pyctr("ps", "-aq", check=True).stdout.strip() == ""


def test_no_subuid_range_image_with_other_owners(norange_session, busybox_tar):
    s = norange_session
    assert "no range in /etc/subuid" in s.pyctr("images", check=True).stderr  # (the note: the namespace is new)
    done = s.pyctr("import", str(busybox_tar), "busybox")
    _one_line_125(done, "belongs to uid 99", "only id 0 exists")
    assert s.pyctr("images", "-q", check=True).stdout.strip() == ""
    leftovers = [p for p in s.store.glob("overlay2/*") if p.name != "l"]
    assert leftovers == []
