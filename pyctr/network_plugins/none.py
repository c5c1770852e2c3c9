"""``--network none``: a network namespace of its own with only ``lo``."""

from __future__ import annotations

from typing import Any

from pyctr.core.drivers import NetworkAttachment, NetworkDriver


class NoneNetworkDriver(NetworkDriver):
    wants_network_namespace = True
    priority = 100

    def connect(self, container: Any, pid: int) -> NetworkAttachment | None:
        # The init brings lo up itself; nothing to plug in.
        return NetworkAttachment(network="none")

    def disconnect(self, container: Any) -> None:
        """Nothing was made."""
