"""``--network none``: a network namespace of its own with only ``lo``."""

from __future__ import annotations

from pyctr.core.drivers import NetworkAttachment, NetworkDriver

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


class NoneNetworkDriver(NetworkDriver):
    wants_network_namespace = True
    priority = 100

    def connect(self, container: Any, pid: int) -> NetworkAttachment | None:
        # The init brings lo up itself; nothing to plug in.
        return NetworkAttachment(network="none")

    def disconnect(self, container: Any) -> None:
        """Nothing was made."""
