"""``--network host``: the container shares the host's network namespace."""

from __future__ import annotations

from pyctr import hookimpl
from pyctr.core.drivers import NetworkAttachment, NetworkDriver

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.core.spec import ContainerSpec


class HostNetworkDriver(NetworkDriver):
    wants_network_namespace = False

    @hookimpl
    def pyctr_modify_container_spec(self, spec: ContainerSpec) -> None:
        # Registered as a hook plugin when selected: the network namespace
        # plugin then returns no flag.
        spec.namespaces["network"] = "host"

    def connect(self, container: Any, pid: int) -> NetworkAttachment | None:
        return NetworkAttachment(network="host")

    def disconnect(self, container: Any) -> None:
        """Nothing was made."""
