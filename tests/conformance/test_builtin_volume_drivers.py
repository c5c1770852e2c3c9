"""pyctr's own volume drivers against the shared conformance suite.

``local`` runs everywhere; ``nfs`` needs a kernel NFS client and a real
server (nfs-ganesha on loopback) and is skipped with the driver's own probe
sentence where the kernel has no client.
"""

from __future__ import annotations

import os

import pytest

from pyctr.testing.conformance.volume import TestVolumeDriverConformance as _Suite
from pyctr.testing.pytest_plugin import make_driver

pytestmark = pytest.mark.matrix  # the nfs driver needs a kernel NFS client: runs on every kernel leg


@pytest.fixture(params=["local", "nfs"])
def builtin_volume_driver(request, tmp_path):
    from pyctr.core.plugins import plugins

    options: dict[str, str] = {}
    if request.param == "nfs":
        from pyctr.plugins import nfs_client

        if os.geteuid() != 0:
            pytest.skip("mounting NFS needs root")
        problem = nfs_client.support_problem()
        if problem:
            pytest.skip(problem)
        server = request.getfixturevalue("nfs_server")
        options = {"share": server.source, "port": str(server.port), "vers": "4.1"}
    driver = make_driver("volume", request.param, tmp_path)
    yield driver, options
    plugins.unregister(driver)


@pytest.fixture
def volume_driver(builtin_volume_driver):
    return builtin_volume_driver[0]


@pytest.fixture
def volume_options(builtin_volume_driver):
    return builtin_volume_driver[1]


class TestBuiltinVolumeDrivers(_Suite):
    pass
