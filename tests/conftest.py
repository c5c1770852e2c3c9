"""Fixtures for pyctr's own tests: a private storage root per test, the pyctr
command run as a user would run it, a busybox image built from Debian's
busybox-static, and a leak check that fails any root test leaving a mount,
veth, netns, cgroup or container process behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyctr.testing import leaks
from pyctr.testing.bridge import bridge_session  # noqa: F401  (session fixture)

PYCTR = [sys.executable, "-m", "pyctr"]


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="needs root (namespaces, mounts, cgroups)")
        for item in items:
            if "root" in item.keywords:
                item.add_marker(skip)


class Pyctr:
    """The pyctr command line on a private root."""

    def __init__(self, base: Path, storage_driver: str | None = None) -> None:
        self.root = base / "root"
        self.runroot = base / "run"
        self.env = dict(os.environ, PYCTR_ROOT=str(self.root), PYCTR_RUNROOT=str(self.runroot),
                        PYCTR_CONFIG=str(base / "no-config.toml"))
        if storage_driver:
            self.env["PYCTR_STORAGE_DRIVER"] = storage_driver
        self.env.pop("PYCTR_NETWORK", None)
        # credentials only from what a test puts there, never the user's own ~/.docker
        self.env["DOCKER_CONFIG"] = str(base / "docker-config")
        self.env.pop("REGISTRY_AUTH_FILE", None)

    def __call__(self, *args: str, input: str | None = None, timeout: float = 120,
                 check: bool = False) -> subprocess.CompletedProcess:
        result = subprocess.run(PYCTR + list(args), input=input, capture_output=True, text=True,
                                env=self.env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"pyctr {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result


@pytest.fixture(scope="session", autouse=True)
def session_bridge(bridge_session):  # noqa: F811  (the imported fixture, requested by name)
    """Bridge containers of this session use a bridge, nft table and pool of their own."""
    os.environ["PYCTR_NETWORK_OPT"] = ";".join(f"{k}={v}" for k, v in bridge_session.options().items())
    yield bridge_session


@pytest.fixture(scope="session", autouse=True)
def session_cgroup_subtree():
    """Every container of this test session goes into a cgroup subtree of its own,
    below the cgroups this process runs in. At the end the subtree must be gone (a cgroup
    left has a process in it). (The machine's default bridge and nft table are checked
    around each root test: no_leaks.)"""
    name = f"pyctr-tests-{os.getpid()}"
    os.environ["PYCTR_CGROUP_SUBTREE"] = name
    yield name
    left = leaks.remove_cgroup(name)
    assert not left, f"the session left cgroups with processes in them: {left}"


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory) -> Path:
    from pyctr.testing.rootfs import build_busybox_rootfs

    return build_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


@pytest.fixture
def pyctr(tmp_path) -> Pyctr:
    return Pyctr(tmp_path)


@pytest.fixture
def busybox(pyctr, busybox_rootfs) -> Pyctr:
    """A private root holding the ``busybox`` image."""
    pyctr("import", "--change", 'CMD ["sh"]', str(busybox_rootfs), "busybox", check=True)
    return pyctr


@pytest.fixture
def watcher(request, busybox) -> str:
    """The runtime driver of the test's detached containers, the one that watches them: the
    default, "conmon" where it is installed and else "pyctr" (pyctr's own Python monitor),
    unless the test is parametrized over both (``both_watchers`` in tests/helpers.py) or its
    directory overrides this fixture (tests/clients/conmon runs the heavy ones with "pyctr")."""
    name = getattr(request, "param", None) or ("conmon" if _have_conmon() else "pyctr")
    if name == "conmon" and not _have_conmon():
        pytest.skip("conmon is not installed (Debian package conmon)")
    busybox.env["PYCTR_RUNTIME"] = name
    return name


def _have_conmon() -> bool:
    from pyctr.runtime.conmon_files import conmon_binary

    return conmon_binary() is not None


@pytest.fixture(autouse=True)
def no_leaks(request, tmp_path_factory):
    """Fail a root test that leaves anything behind (and clean it up)."""
    if "root" not in request.keywords or os.geteuid() != 0:
        yield
        return
    under = str(tmp_path_factory.getbasetemp())
    before = leaks.Snapshot.take(under)
    yield
    left = leaks.Snapshot.take(under).leaked_since(before)
    if left:
        leaks.clean(left)
        pytest.fail(f"test left behind: {left}")
