"""The network conformance suite against the other built-in drivers (none, host)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyctr.testing.conformance.network import NetworkDriverConformance
from pyctr.testing.pytest_plugin import make_driver


@pytest.fixture(params=["none", "host"])
def network_driver(request: Any, tmp_path: Path) -> Iterator[Any]:
    from pyctr.core.plugins import plugins

    driver = make_driver("network", request.param, tmp_path)
    yield driver
    plugins.unregister(driver)  # selection registered it for hooks


class TestBuiltinNetworkConformance(NetworkDriverConformance):
    pass
