"""The heavy detached-container tests of tests/integration run again here with the other
watcher: the host legs run them with the default one, conmon where it is installed, so here
they run with pyctr's own Python monitor (the ``pyctr`` runtime driver), once, in the clients
leg rather than in each host leg (which run the light ones with both watchers). Without conmon
the host legs already ran them with pyctr's monitor, so they are skipped here."""

from __future__ import annotations

import pytest


@pytest.fixture
def watcher(busybox) -> str:
    from pyctr.runtime.conmon_files import conmon_binary

    if conmon_binary() is None:
        pytest.skip("conmon is not installed: the host legs ran these with pyctr's monitor")
    busybox.env["PYCTR_RUNTIME"] = "pyctr"
    return "pyctr"
