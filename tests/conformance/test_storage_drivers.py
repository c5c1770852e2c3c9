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


def test_overlay2_mounts_a_volatile_layer_volatile_and_refuses_it_after_a_crash(tmp_path):
    """``run --rm``: no sync at unmount. overlayfs leaves work/incompat/volatile behind; a clean
    put removes it (so the layer mounts again), and a layer found with it but not mounted (the
    host crashed while it was in use) is refused in one line instead of mounted half-written."""
    import io

    from pyctr.core.errors import DriverError
    from pyctr.core.plugins import plugins
    from pyctr.storage_plugins.overlay2 import VOLATILE_LEFT
    from pyctr.testing.tarbuild import entry, tar_bytes

    driver = make_driver("storage", "overlay2", tmp_path)
    base, rw, plain = (secrets.token_hex(32) for _ in range(3))
    try:
        driver.apply_diff(base, None, io.BytesIO(tar_bytes(entry("etc", "dir"), entry("etc/motd", data=b"hi\n"))))
        driver.create_rw(rw, base)
        driver.mark_volatile(rw)
        driver.create_rw(plain, base)

        def options(path):
            with open("/proc/self/mountinfo") as f:
                return next(line.split()[-1] for line in f if line.split()[4] == str(path))

        volatile = {"volatile", "fsync=volatile"}  # newer kernels show the latter
        assert volatile & set(options(driver.get(rw)).split(","))
        assert not volatile & set(options(driver.get(plain)).split(","))
        assert (driver.home / rw / VOLATILE_LEFT).is_dir()  # what the kernel marks
        driver.put(rw)
        assert not (driver.home / rw / VOLATILE_LEFT).exists()
        driver.get(rw)
        driver.put(rw)
        (driver.home / rw / VOLATILE_LEFT).mkdir(parents=True)  # as a crash leaves it
        with pytest.raises(DriverError, match="crashed"):
            driver.get(rw)
    finally:
        for layer in (rw, plain, base):
            driver.put(layer)
            driver.remove(layer)
        plugins.unregister(driver)
