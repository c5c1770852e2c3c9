"""pyctr's own storage drivers against the shared conformance suite."""

from __future__ import annotations

import os
import secrets
import shutil

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


def test_cleanup_staging_removes_only_what_dead_processes_left(storage_driver):
    """One helper (drivers.remove_dead_staging) serves both drivers: a staging
    directory of a dead pid goes, one of a live process stays."""
    lid = secrets.token_hex(32)
    dead = storage_driver.home / f".tmp-{lid}-999999999-0badc0de"
    live = storage_driver.home / f".tmp-{lid}-{os.getpid()}-0badc0de"
    for d in (dead, live):
        (d / "diff").mkdir(parents=True)
    try:
        assert storage_driver.cleanup_staging() == [dead.name]
        assert not dead.exists() and live.is_dir()
    finally:
        shutil.rmtree(live, ignore_errors=True)
