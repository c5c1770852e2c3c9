"""The example third-party distribution's volume driver against the conformance suite."""

from __future__ import annotations

import pytest

from pyctr.testing.conformance.volume import TestVolumeDriverConformance as _Suite
from pyctr.testing.pytest_plugin import make_driver


@pytest.fixture
def volume_driver(tmp_path):
    from pyctr.core.plugins import plugins

    driver = make_driver("volume", "example", tmp_path)
    yield driver
    plugins.unregister(driver)


class TestExampleVolumeDriver(_Suite):
    pass
