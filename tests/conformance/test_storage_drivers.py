"""pyctr's own storage drivers against the shared conformance suite."""

from __future__ import annotations

import pytest

from pyctr.testing.conformance.storage import TestStorageDriverConformance as _Suite
from pyctr.testing.pytest_plugin import make_driver

pytestmark = pytest.mark.matrix  # overlayfs differs between kernels: run on every leg


@pytest.fixture(params=["overlay2", "vfs"])
def storage_driver(request, tmp_path):
    from pyctr.core.plugins import plugins

    driver = make_driver("storage", request.param, tmp_path)
    yield driver
    plugins.unregister(driver)


class TestBuiltinStorageDrivers(_Suite):
    pass
