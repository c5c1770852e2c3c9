"""The network conformance suite against the other built-in drivers (none, host, container)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyctr.testing.conformance.network import MultiNetworkConformance, NetworkDriverConformance
from pyctr.testing.pytest_plugin import make_driver


def _driver(name: str, tmp_path: Path) -> Iterator[Any]:
    from pyctr.core.plugins import plugins

    driver = make_driver("network", name, tmp_path)
    yield driver
    plugins.unregister(driver)  # selection registered it for hooks


@pytest.fixture(params=["none", "host"])
def network_driver(request: Any, tmp_path: Path) -> Iterator[Any]:
    yield from _driver(request.param, tmp_path)


class TestBuiltinNetworkConformance(NetworkDriverConformance):
    # none and host have no networks to add: only the test that they say so applies;
    # the others would only skip, on every kernel leg (the skip check refuses that)
    test_network_connect_to_a_running_container = None
    test_network_connect_while_stopped_is_wired_at_the_next_start = None


class TestContainerNetworkConnect(MultiNetworkConformance):
    """``--network container:NAME`` needs a target container to ``connect``, so only
    the network connect part of the suite: it has no networks of its own to join."""

    test_network_connect_to_a_running_container = None
    test_network_connect_while_stopped_is_wired_at_the_next_start = None

    @pytest.fixture
    def network_driver(self, tmp_path: Path) -> Iterator[Any]:
        yield from _driver("container", tmp_path)
