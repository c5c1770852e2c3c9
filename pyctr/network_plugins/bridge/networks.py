"""User networks of the bridge driver: ``pyctr network create/ls/inspect/rm/prune``.

A mixin of :class:`pyctr.network_plugins.bridge.BridgeNetworkDriver`: each
network is a row of ``bridge_networks`` and a bridge of its own
(``pyctr-<id8>``) made at create time, with its nftables set elements.
"""

from __future__ import annotations

import ipaddress

from pyctr.core.errors import Conflict, DriverError, NotFound, UsageError
from pyctr.network_plugins.bridge import ipam, plan

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

DEFAULT_NETWORK = "bridge"
RESERVED = ("bridge", "host", "none", "default")


class UserNetworks:
    """Needs from the driver: ``_db``, ``_routes``, ``_ensure_bridge``, ``_default_network``,
    ``pools``, ``mtu``, ``table``."""

    _db: Any
    _routes: Any
    _ensure_bridge: Any
    _default_network: Any
    pools: list[tuple[str, int]]
    mtu: int
    table: str
    user_prefix: str

    def create_network(self, name: str, subnet: str | None = None, gateway: str | None = None,
                       internal: bool = False) -> dict[str, Any]:
        from pyctr.core.state import transaction
        from pyctr.network_plugins.bridge import nat
        from pyctr.network_plugins.bridge.netlink import RTNL

        if name in RESERVED:
            raise Conflict(f"{name} is a pre-defined network and cannot be created")
        if gateway and not subnet:
            raise UsageError("--gateway needs --subnet")
        routes = self._routes()
        conn = self._db()
        with transaction(conn):
            taken = [n.subnet for n in ipam.list_networks(conn)]
            try:
                if subnet:
                    sub, gw = plan.check_subnet(subnet, gateway, routes, taken)
                else:
                    sub = plan.choose_subnet(self.pools, routes, taken) or ""
                    if not sub:
                        raise DriverError("no subnet of the address pools is free; give --subnet")
                    gw = str(ipaddress.ip_network(sub).network_address + 1)
            except ValueError as e:
                raise UsageError(str(e)) from None
            net = ipam.insert_network(conn, name, None, sub, gw, internal=internal, mtu=self.mtu,
                                      bridge_prefix=self.user_prefix)
        try:
            with RTNL() as host:
                self._ensure_bridge(host, net)
            nat.run(plan.base_ruleset(self.table) + plan.network_elements(self.table, net))
        except BaseException:
            self._drop_network(conn, net)
            raise
        return self._describe(conn, net)

    def _drop_network(self, conn: Any, net: plan.Network) -> None:
        from pyctr.core.state import transaction
        from pyctr.network_plugins.bridge import apply, nat
        from pyctr.network_plugins.bridge.netlink import RTNL

        with transaction(conn):
            ipam.delete_network(conn, net.id)
        with RTNL() as host:
            apply.link_del(host, net.bridge)
        if nat.list_table(self.table) is not None:
            nat.run(plan.remove_network_elements(self.table, net))

    def remove_network(self, ref: str) -> None:
        conn = self._db()
        net = ipam.require_network(conn, ref)
        if ipam.is_default(conn, net.id):
            raise Conflict(f"{net.name} is a pre-defined network and cannot be removed; `pyctr system prune` "
                           f"releases what it holds on the host (its subnet on {net.bridge}) once no container "
                           f"of this store is on it")
        self._drop_network(conn, net)

    def prune_networks(self) -> list[str]:
        conn = self._db()
        gone = []
        for net in ipam.list_networks(conn):
            if not ipam.is_default(conn, net.id) and not ipam.endpoints(conn, network_id=net.id):
                self._drop_network(conn, net)
                gone.append(net.name)
        return gone

    def list_networks(self) -> list[dict[str, Any]]:
        conn = self._db()
        return [self._describe(conn, n) for n in ipam.list_networks(conn)]

    def inspect_network(self, ref: str) -> dict[str, Any]:
        conn = self._db()
        if ref in (DEFAULT_NETWORK, "default"):
            net = self._default_network(conn)
        else:
            net = ipam.get_network(conn, ref)
            if net is None:
                raise NotFound(f"network {ref} not found")
        return self._describe(conn, net)

    def _describe(self, conn: Any, net: plan.Network) -> dict[str, Any]:
        """Docker's ``network inspect`` shape."""
        return {
            "Name": net.name, "Id": net.id, "Driver": "bridge", "Scope": "local",
            "Internal": net.internal, "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Config": [{"Subnet": net.subnet, "Gateway": net.gateway}]},
            "Options": {"com.docker.network.bridge.name": net.bridge,
                        "com.docker.network.driver.mtu": str(net.mtu)},
            "Containers": {
                ep.container_id: {"Name": ep.name, "MacAddress": ep.mac,
                                  "IPv4Address": f"{ep.address}/{net.prefixlen}", "Aliases": ep.aliases}
                for ep in ipam.endpoints(conn, network_id=net.id)},
        }
