"""NFS volumes end to end: a real nfs-ganesha on loopback and the kernel's NFS client.

The seed's exact ``--mount`` string (with the server at 127.0.0.1) and the
``nfs`` driver through ``pyctr --volume-driver=nfs run -v data:/app``. Each
test checks the host's mount table while the container runs, the file on the
server's own directory, a second container's view, and that the data outlives
the container. Skipped with the drivers' probe sentence on a kernel without an
NFS client (this project's CI host); the kernel-debian61 leg runs them:
``python -m pyctr.testing.vm -- .venv/bin/python -m pytest tests/integration/test_nfs_volumes.py``.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from pyctr.testing.waiting import until

from tests.conftest import PYCTR

pytestmark = [pytest.mark.root, pytest.mark.matrix]  # needs an NFS client: runs on every kernel leg

SEED = ("type=volume,source=nfsvolume,target=/app,volume-driver=local,volume-opt=type=nfs,"
        "volume-opt=device=:/opt/test,volume-opt=o=addr=127.0.0.1")


@pytest.fixture
def nfs_kernel() -> None:
    from pyctr.plugins import nfs_client

    problem = nfs_client.support_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture
def seed_server(nfs_kernel, tmp_path_factory):
    """ganesha on the standard port exporting ``/opt/test``, as the seed's server does."""
    from pyctr.testing import nfs

    if not nfs.shutil.which(nfs.GANESHA):
        pytest.skip("nfs-ganesha is not installed")
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", 2049))
        except OSError:
            pytest.skip("port 2049 on 127.0.0.1 is taken; the seed's command has no port option")
    server = nfs.start_nfs_server(tmp_path_factory.mktemp("seed-export"), port=2049, pseudo="/opt/test")
    yield server
    server.stop()


def _nfs_mount_at(path: Path) -> tuple[str, str] | None:
    """(fstype, source) of the mount the host has at ``path``."""
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == real:
                sep = fields.index("-")
                return fields[sep + 1], fields[sep + 2]
    return None


def _hold(pyctr, mount_args: list[str], target: str, sync: Path) -> subprocess.Popen:
    """A container that writes a file into the volume and waits until told to stop."""
    script = (f"echo from-container > {target}/written; touch /sync/ready; "
              "until [ -f /sync/go ]; do sleep 0.1; done")
    return subprocess.Popen(PYCTR + ["run", "--name", "holder"] + mount_args + ["-v", f"{sync}:/sync", "busybox",
                                                                             "sh", "-c", script],
                            env=pyctr.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _exercise(pyctr, mount_args: list[str], volume: str, server, tmp_path: Path) -> None:
    data = pyctr.root / "volumes" / volume / "_data"
    sync = tmp_path / "sync"
    sync.mkdir()
    holder = _hold(pyctr, mount_args, "/app", sync)
    try:
        until(lambda: (sync / "ready").exists() or holder.poll() is not None, 120)
        assert holder.poll() is None, holder.communicate()
        fstype, source = _nfs_mount_at(data) or ("", "")
        assert fstype.startswith("nfs") and source == server.source  # the host sees the nfs mount
        assert (server.export / "written").read_text() == "from-container\n"  # on the server's own disk
        other = pyctr("run", "--rm", "-v", f"{volume}:/other", "busybox", "cat", "/other/written", timeout=300)
        assert other.returncode == 0 and other.stdout == "from-container\n", other.stderr
        assert _nfs_mount_at(data) is not None  # the holder still uses it
    finally:
        (sync / "go").touch()
        out, err = holder.communicate(timeout=300)
    assert holder.returncode == 0, err
    assert _nfs_mount_at(data) is None  # the last user stopped: unmounted
    pyctr("rm", "holder", check=True)
    assert volume in pyctr("volume", "ls", "-q", check=True).stdout.split()
    again = pyctr("run", "--rm", "-v", f"{volume}:/again", "busybox", "cat", "/again/written", timeout=300)
    assert again.stdout == "from-container\n", again.stderr
    pyctr("volume", "rm", volume, check=True)
    assert (server.export / "written").read_text() == "from-container\n"  # removing the volume kept the export
    assert _nfs_mount_at(data) is None


def test_the_seed_mount_command_against_a_local_server(busybox, seed_server, tmp_path):
    _exercise(busybox, ["--mount", SEED], "nfsvolume", seed_server, tmp_path)


def test_the_nfs_driver_through_the_global_volume_driver(busybox, nfs_kernel, nfs_server, tmp_path):
    busybox("volume", "create", "-d", "nfs", "-o", f"share={nfs_server.source}", "-o", f"port={nfs_server.port}",
            "-o", "vers=4.1", "data", check=True)
    _exercise(busybox, ["-v", "data:/app"], "data", nfs_server, tmp_path)


def test_a_volume_created_by_run_with_the_nfs_driver(busybox, nfs_kernel, nfs_server, tmp_path):
    mount = (f"type=volume,src=data,dst=/app,volume-opt=share={nfs_server.source},"
             f"volume-opt=port={nfs_server.port},volume-opt=vers=4.1")
    run = busybox("--volume-driver=nfs", "run", "--rm", "--mount", mount, "busybox", "sh", "-c",
                  "echo hi > /app/hi", timeout=300)
    assert run.returncode == 0, run.stderr
    assert (nfs_server.export / "hi").read_text() == "hi\n"
    info = busybox("volume", "inspect", "--format", "{{.Driver}}", "data", check=True)
    assert info.stdout == "nfs\n"
    busybox("volume", "rm", "data", check=True)


def test_an_unreachable_share_leaves_no_volume(busybox, nfs_kernel, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    mount = (f"type=volume,src=nowhere,dst=/app,volume-driver=nfs,volume-opt=share=127.0.0.1:/export,"
             f"volume-opt=port={port},volume-opt=vers=4.1,volume-opt=soft,volume-opt=timeo=10,volume-opt=retrans=1")
    run = busybox("run", "--rm", "--mount", mount, "busybox", "true", timeout=300)
    assert run.returncode == 125 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "failed to mount NFS volume" in run.stderr
    assert busybox("volume", "ls", "-q", check=True).stdout == ""
