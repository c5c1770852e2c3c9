"""pytest fixtures for tests that need real servers; loaded by pyctr's pytest plugin.

Each fixture skips with the reason when this machine cannot provide what it
needs, so a kernel leg that lacks, say, an NFS client says so in the report,
and the skip check (pyctr.testing.skipcheck) makes sure another leg ran it.
"""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctr.testing import nfs


@pytest.fixture
def nfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[nfs.NfsServer]:
    """A running nfs-ganesha exporting an empty folder (``server.export``) on 127.0.0.1."""
    if os.geteuid() != 0:
        pytest.skip("nfs-ganesha needs root")
    if shutil.which(nfs.GANESHA) is None:
        pytest.skip("nfs-ganesha is not installed (Debian: nfs-ganesha nfs-ganesha-vfs)")
    export = tmp_path_factory.mktemp("nfs-export")
    server = nfs.start_nfs_server(export)
    yield server
    server.stop()


@pytest.fixture
def nfs_client() -> None:
    """Skips unless the running kernel can mount NFSv4."""
    if os.geteuid() != 0:
        pytest.skip("mounting NFS needs root")
    if not nfs.nfs_client_available():
        pytest.skip(f"kernel {platform.release()} has no NFSv4 client")


@pytest.fixture
def nfs_mount(nfs_client: None, nfs_server: nfs.NfsServer,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The export of ``nfs_server`` mounted through the kernel's NFSv4 client."""
    target = tmp_path_factory.mktemp("nfs-mount")
    nfs.mount_nfs(nfs_server, target)
    yield target
    nfs.umount(target)
