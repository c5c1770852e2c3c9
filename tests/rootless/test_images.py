"""Images as a rootless user: pull from the local registry (whiteouts and opaque directories
through overlayfs's userxattr markers), login and push with the user's own credentials."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.registry


def test_pull_and_run_from_the_local_registry(session, registry, registry_images):
    ref = f"{registry.host}/pyctr/app1:v1"
    done = session.pyctr("pull", ref, check=True)
    assert "Downloaded newer image" in done.stdout or "Pull complete" in done.stdout
    out = session.pyctr("run", "--rm", "--network", "none", ref, "sh", "-c",
                        "cat /etc/motd; ls /usr/share/doc; ls -i /opt/app1 | sort -n | awk '{print $1}' | uniq | wc -l",
                        check=True).stdout.split()
    assert out[:4] == ["hello", "from", "app1", "APP1"]  # the opaque directory hides the base's docs
    assert out[4] == "2"  # run.sh, and data with its hard link: two inodes
    # the opaque marker is overlayfs's user.* one, set by the user's extraction
    marked = [d for d in session.store.glob("overlay2/*/diff/usr/share/doc") if _xattr(d, "user.overlay.opaque") == b"y"]
    assert len(marked) == 1
    assert not [d for d in session.store.glob("overlay2/*/diff/usr/share/doc") if _xattr(d, "trusted.overlay.opaque")]


def _xattr(path, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def test_whiteout_hides_the_base_file(session, registry, registry_images):
    """app1's layer deletes the base's /etc/hostname: a 0:0 character device the user's
    extraction made in its namespace (no CAP_MKNOD on the host needed since Linux 5.8)."""
    ref = f"{registry.host}/pyctr/app1:v1"
    session.pyctr("pull", "-q", ref, check=True)
    whiteouts = [p for p in session.store.glob("overlay2/*/diff/etc/hostname")
                 if (os.lstat(p).st_mode & 0o170000) == 0o020000 and os.lstat(p).st_rdev == 0]
    assert len(whiteouts) == 1
    assert os.lstat(whiteouts[0]).st_uid == session.user.uid  # the namespace's root: the user
    out = session.pyctr("run", "--rm", "--network", "none", "--entrypoint", "sh", ref, "-c",
                        "cat /etc/hostname; ls /etc", check=True).stdout.split()
    assert len(out[0]) == 12  # pyctr's own /etc/hostname, mounted over the whited-out path


def test_login_push_pull_with_the_users_credentials(busybox, auth_registry):
    user, password = auth_registry.credentials
    done = busybox.pyctr("login", "-u", user, "--password-stdin", auth_registry.host, input=password + "\n")
    assert done.returncode == 0, done.stderr
    ref = f"{auth_registry.host}/rootless/busybox:v1"
    busybox.pyctr("tag", "busybox", ref, check=True)
    busybox.pyctr("push", ref, check=True)
    busybox.pyctr("rmi", ref, "busybox", check=True)
    busybox.pyctr("pull", ref, check=True)
    assert busybox.pyctr("run", "--rm", "--network", "none", ref, "echo", "pushed", check=True).stdout == "pushed\n"
    # the credentials are the user's: in its own store, its own file, closed to others
    auth_files = [p for p in (busybox.store / "auth.json", busybox.runtime / "pyctr" / "auth.json") if p.exists()]
    assert auth_files
    st = os.stat(auth_files[0])
    assert st.st_uid == busybox.user.uid and st.st_mode & 0o077 == 0
    assert auth_registry.host in json.loads(auth_files[0].read_text())["auths"]
