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
    pass
