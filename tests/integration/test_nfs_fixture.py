"""The NFS fixtures give a real ganesha server and a real kernel NFSv4 mount.

On a kernel without an NFS client (this project's CI host) the test skips
with that reason; the kernel-debian61 leg runs it, and the skip check makes
sure one of them did.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.root, pytest.mark.matrix]


def test_a_file_written_through_nfs_lands_in_the_export(nfs_mount: Path, nfs_server):
    (nfs_mount / "hello").write_text("through NFSv4")
    os.sync()
    assert (nfs_server.export / "hello").read_text() == "through NFSv4"
    with open("/proc/mounts") as f:
        mounts = {line.split()[1]: line.split() for line in f}
    assert mounts[str(nfs_mount)][2] == "nfs4"
    assert mounts[str(nfs_mount)][0] == nfs_server.source


def test_root_is_not_squashed(nfs_mount: Path, nfs_server):
    (nfs_mount / "owned").write_text("")
    os.chown(nfs_mount / "owned", 1234, 5678)
    st = (nfs_server.export / "owned").stat()
    assert (st.st_uid, st.st_gid) == (1234, 5678)


@pytest.mark.kernel("debian61")
def test_the_debian61_leg_has_pure_cgroup2_and_its_kernel():
    assert os.uname().release.startswith("6.1.")
    with open("/proc/mounts") as f:
        cgroup_fs = {line.split()[2] for line in f if line.split()[2].startswith("cgroup")}
    assert cgroup_fs == {"cgroup2"}
    controllers = Path("/sys/fs/cgroup/cgroup.subtree_control").read_text().split()
    assert {"cpu", "memory", "pids", "io"} <= set(controllers)
