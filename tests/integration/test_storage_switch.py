"""A store's images live in one storage driver: naming another one is refused in one line that
says how to proceed (it would list the images and fail to run them), and ``system check``
reports layers no command of the store reaches."""

from __future__ import annotations

import json
import sqlite3

import pytest

pytestmark = pytest.mark.root


def _driver(pyctr) -> str:
    return json.loads(pyctr("info", "--format", "json", check=True).stdout)["Driver"]


def test_another_storage_driver_on_a_store_with_images_is_refused(busybox, busybox_rootfs):
    holder = _driver(busybox)
    other = "vfs" if holder != "vfs" else "overlay2"
    for args in (["run", "--rm", "--network", "none", "busybox", "true"], ["images"], ["pull", "busybox"],
                 ["import", "-", "x"]):
        r = busybox(f"--storage-driver={other}", *args, input="")
        assert r.returncode == 125, (args, r.stderr)
        line = r.stderr.strip()
        assert len(line.splitlines()) == 1 and f"in the {holder} storage driver, not {other}" in line, line
        assert "--root" in line and "image prune -a" in line
    assert busybox("ps", "-a", "-q", check=True).stdout == ""
    assert "busybox" in busybox("images", check=True).stdout  # without the flag: as before
    assert busybox(f"--storage-driver={holder}", "images", check=True).stdout.count("busybox") == 1
    # once the store holds no image, it switches
    busybox("image", "prune", "-a", "-f", check=True)
    assert busybox(f"--storage-driver={other}", "images", check=True).stdout.count("\n") == 1  # the header
    busybox(f"--storage-driver={other}", "import", str(busybox_rootfs), "again", check=True)
    assert _driver(busybox) == other and "again" in busybox("images", check=True).stdout


def test_a_store_without_a_recorded_driver_keeps_using_its_layers_driver(pyctr, busybox_rootfs):
    """(A store an older pyctr made with --storage-driver=vfs recorded no choice: the next
    command without the flag must not pick another driver under its images.)"""
    pyctr("--storage-driver=vfs", "import", str(busybox_rootfs), "busybox", check=True)
    db = sqlite3.connect(pyctr.root / "pyctr.db")
    db.execute("DELETE FROM settings WHERE key = 'storage_driver'")
    db.commit()
    db.close()
    assert _driver(pyctr) == "vfs"
    r = pyctr("run", "--rm", "--network", "none", "busybox", "true")
    assert r.returncode == 0, r.stderr


def test_system_check_reports_orphaned_layers(busybox):
    holder = _driver(busybox)
    db = sqlite3.connect(busybox.root / "pyctr.db")
    # what an older pyctr left when --storage-driver was switched under a store's images:
    # the store's choice is another driver than the one its layers are recorded in
    other = "vfs" if holder != "vfs" else "overlay2"
    db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES ('storage_driver', ?)", (other,))
    db.commit()
    r = busybox("system", "check")
    assert f"layer(s) recorded in the {holder} storage driver, which this store no longer uses" in r.stdout + r.stderr
    assert r.returncode != 0
    r = busybox("system", "check", "--repair")
    assert f"removed 1 layer(s) of the {holder} storage driver" in r.stdout, r.stdout + r.stderr
    assert not db.execute("SELECT 1 FROM layers WHERE driver = ?", (holder,)).fetchone()
    # a layer in the driver that nothing records
    db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES ('storage_driver', ?)", (holder,))
    db.commit()
    db.close()
    from pyctr.core.drivers import DriverContext
    from pyctr.core.selection import driver_class

    storage = driver_class("storage", holder)(DriverContext(root=busybox.root, runroot=busybox.runroot))
    storage.create("0" * 64, None)  # (as a crash between the driver's work and its record leaves it)
    r = busybox("system", "check")
    assert f"layer {'0' * 12} in the {holder} driver is recorded nowhere: orphaned" in r.stdout + r.stderr, r.stdout
    busybox("system", "check", "--repair")
    assert not storage.exists("0" * 64)
