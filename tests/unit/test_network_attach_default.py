"""A network driver without several networks per container says so in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyctr.core.drivers import DriverContext
from pyctr.core.errors import DriverNotSupported
from pyctr.network_plugins.none import NoneNetworkDriver


def test_connect_and_disconnect_network_default_to_unsupported(tmp_path: Path) -> None:
    d = NoneNetworkDriver(DriverContext(root=tmp_path, runroot=tmp_path))
    with pytest.raises(DriverNotSupported, match="cannot connect a container to another network") as e:
        d.connect_network(object(), "app", 1234)
    assert "\n" not in str(e.value)
    with pytest.raises(DriverNotSupported, match="cannot disconnect a container from a network"):
        d.disconnect_network(object(), "app")
