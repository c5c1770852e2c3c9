"""The network conformance suite against the other built-in drivers (none, host)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pyctr.testing.conformance.network import NetworkDriverConformance
from pyctr.testing.pytest_plugin import make_driver


@pytest.fixture(params=["none", "host"])
def network_driver(request: Any, tmp_path: Path) -> Any:
    return make_driver("network", request.param, tmp_path)


class TestBuiltinNetworkConformance(NetworkDriverConformance):
    pass
