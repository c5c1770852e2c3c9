"""pyctr's pytest plugin (entry point ``pytest11: pyctr``): shared fixtures and markers.

``@pytest.mark.kernel("debian61")`` runs a test only on that kernel leg;
the leg is named by ``PYCTR_KERNEL_LEG`` (tox sets it: ``host``,
``kernel-debian61``...). Elsewhere the test is skipped with that reason.
"""

from __future__ import annotations

import os

import pytest

from pyctr.testing.fixtures import nfs_client, nfs_mount, nfs_server  # noqa: F401


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vm: boots a qemu guest (pyctr.testing.vm)")
    config.addinivalue_line("markers", "kernel(name): runs only on the named kernel leg")


def pytest_runtest_setup(item: pytest.Item) -> None:
    leg = os.environ.get("PYCTR_KERNEL_LEG", "")
    for marker in item.iter_markers("kernel"):
        names = {n for n in marker.args} | {f"kernel-{n}" for n in marker.args}
        if leg not in names:
            pytest.skip(f"runs only on kernel leg {', '.join(marker.args)} (this is {leg or 'unnamed'})")
