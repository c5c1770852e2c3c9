"""The network conformance suite against the bridge driver (session-unique bridge and table)."""

from __future__ import annotations

from typing import Any

import pytest

from pyctr.testing.bridge import bridge_driver, bridge_session, user_network  # noqa: F401  (fixtures)
from pyctr.testing.conformance.network import NetworkDriverConformance


@pytest.fixture
def network_driver(bridge_driver: Any) -> Any:  # noqa: F811
    return bridge_driver


@pytest.fixture
def network_factory() -> Any:
    # the second network of the network connect tests: a user network, named with the session's tag
    return user_network


class TestBridgeConformance(NetworkDriverConformance):
    # the bridge has multiple networks: the test of the DriverNotSupported defaults would
    # only skip, here and on every kernel leg (which the skip check refuses), so it is not collected
    test_network_connect_unsupported_says_so = None
