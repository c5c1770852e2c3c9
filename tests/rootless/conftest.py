"""The rootless suite: pyctr run by a real unprivileged user.

The session (run as root, which only sets things up) makes the account
``pyctr-rootless`` with a 65536-id range in /etc/subuid and /etc/subgid
(pyctr.testing.rootless), gives it /dev/net/tun and /dev/fuse for the
session, and finds an interpreter the user can run this pyctr with. Every
pyctr command of a test then runs as that user (uid and gid switched by
subprocess, no supplementary groups, an environment of its own), with its
own $HOME and $XDG_RUNTIME_DIR per test, hence its own pause process.

After each test nothing of the user may be left running (its pause process
is stopped; any other process is a leak), and nothing may be mounted on the
host's side under the test's directories.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

import pytest

from pyctr.testing import rootless

pytestmark = pytest.mark.rootless

BASE = Path("/var/tmp")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/rootless/" in str(item.fspath):
            item.add_marker(pytest.mark.rootless)


@pytest.fixture(scope="session")
def rootless_base() -> Path:
    """A directory every user can read, for this session's files (removed at the end)."""
    if os.geteuid() != 0:
        pytest.skip("the rootless suite's set-up needs root (useradd, /etc/subuid)")
    base = Path(BASE / f"pyctr-rootless-{os.getpid()}")
    base.mkdir(mode=0o755)
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def test_user(rootless_base) -> rootless.TestUser:
    user = rootless.ensure_user(rootless.USER)
    grants = [rootless.DeviceGrant(dev, user.uid) for dev in ("/dev/net/tun", "/dev/fuse") if os.path.exists(dev)]
    yield user
    for grant in grants:
        grant.revoke()


@pytest.fixture(scope="session")
def user_python(test_user, rootless_base) -> str:
    return rootless.python_for(test_user, rootless_base / "python")


@pytest.fixture(scope="session")
def busybox_tar(rootless_base) -> Path:
    """The busybox image as a tarball the user imports: its files keep their owners (root, and 99 for
    /home/user99), as an image's would."""
    from pyctr.testing.rootfs import build_busybox_rootfs

    rootfs = build_busybox_rootfs(rootless_base / "busybox-rootfs")
    tar = rootless_base / "busybox.tar"
    with tarfile.open(tar, "w") as tf:
        for name in sorted(os.listdir(rootfs)):
            tf.add(rootfs / name, arcname=name)
    os.chmod(tar, 0o644)
    shutil.rmtree(rootfs)
    return tar


def _host_mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


@pytest.fixture
def session(request, test_user, user_python, rootless_base) -> rootless.Session:
    """The user's session for this test; afterwards: nothing of the user still runs, nothing mounted."""
    base = rootless_base / f"t-{request.node.name[:28].replace('/', '_').replace('[', '_').replace(']', '')}"
    if base.exists():
        shutil.rmtree(base)
    s = rootless.Session(test_user, base, user_python)
    yield s
    leftovers = s.finish()
    mounted = _host_mounts_under(base)
    shutil.rmtree(base, ignore_errors=True)
    assert not leftovers, f"the user's processes left running: {leftovers}"
    assert not mounted, f"mounted on the host's side: {mounted}"


@pytest.fixture
def busybox(session, busybox_tar) -> rootless.Session:
    """The user's session with the ``busybox`` image imported by the user."""
    session.pyctr("import", "--change", 'CMD ["sh"]', str(busybox_tar), "busybox", check=True)
    return session


@pytest.fixture(scope="session")
def norange_user(rootless_base) -> rootless.TestUser:
    """An account with no /etc/subuid or /etc/subgid range: the single-id fallback."""
    return rootless.ensure_user(rootless.NO_RANGE_USER, ranges=False)


@pytest.fixture
def norange_session(norange_user, user_python, rootless_base) -> rootless.Session:
    base = rootless_base / "t-norange"
    if base.exists():
        shutil.rmtree(base)
    s = rootless.Session(norange_user, base, user_python)
    yield s
    leftovers = s.finish()
    shutil.rmtree(base, ignore_errors=True)
    assert not leftovers, f"the user's processes left running: {leftovers}"


@pytest.fixture(scope="session")
def root_owned_tar(rootless_base) -> Path:
    """A one-file image whose files all belong to root (what a single-id namespace can hold)."""
    import io

    tar = rootless_base / "root-owned.tar"
    with tarfile.open(tar, "w") as tf:
        for name, data in (("bin/busybox", Path("/bin/busybox").read_bytes()),):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tf.addfile(info, io.BytesIO(data))
        for applet in ("sh", "id", "true", "cat", "echo"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tf.addfile(info)
    os.chmod(tar, 0o644)
    return tar
