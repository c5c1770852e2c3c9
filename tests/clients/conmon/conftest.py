"""The detached-container tests of tests/integration run again here with conmon watching the
containers (the ``conmon`` runtime driver): the heavy ones, run once in the clients leg
rather than in each of the host legs (which run the light ones with both watchers)."""

from __future__ import annotations

import pytest


@pytest.fixture
def watcher(busybox) -> str:
    from pyctr.runtime.conmon_files import conmon_binary

    if conmon_binary() is None:
        pytest.skip("conmon is not installed (Debian package conmon)")
    busybox.env["PYCTR_RUNTIME"] = "conmon"
    return "conmon"
