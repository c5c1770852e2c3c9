"""``pyctr network connect`` / ``disconnect`` for the bridge driver.

A mixin of :class:`pyctr.network_plugins.bridge.BridgeNetworkDriver`. A
container can have one endpoint per network: the first one it starts with
is ``eth0`` with the default route, every connect to a running container
adds the next free ``ethN`` (a veth pair to that network's bridge, a lease,
no route: Docker keeps the first network's gateway). Which networks a
container is wired to at its next start is recorded in
``bridge_container_networks`` once a connect or disconnect changed it; a
stopped or created container only gets that record changed.

Everything made is recorded first (the endpoint row, in the lease's
transaction), so the teardown of a stop, ``rm -f`` and ``system prune``
removes every attachment from the records alone.
"""

from __future__ import annotations

import contextlib

from pyctr.core.drivers import NetworkAttachment
from pyctr.core.errors import Conflict, DriverError, PyctrError, UsageError
from pyctr.network_plugins.bridge import ipam, plan

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


class Attachments:
    """Needs from the driver: ``_db``, ``_resolve``, ``_wanted``, ``_primary_ref``, ``_attach``,
    ``_teardown``, ``_summary``, ``_network_lock``, ``_refresh_hosts``."""

    _db: Any
    _resolve: Any
    _wanted: Any
    _primary_ref: Any
    _attach: Any
    _teardown: Any
    _summary: Any
    _network_lock: Any
    _refresh_hosts: Any

    def connect_network(self, container: Any, network: str, pid: int = 0, aliases: list[str] | None = None,
                        ip: str | None = None) -> NetworkAttachment | None:
        from pyctr.core.state import sqlite3

        try:
            return self._connect_network(container, network, pid, list(aliases or []), ip or "")
        except (OSError, sqlite3.Error) as e:
            raise DriverError(f"cannot connect container {container.name} to network {network}: {e}") from None

    def _connect_network(self, container: Any, network: str, pid: int, aliases: list[str], ip: str) -> Any:
        conn = self._db()
        net = self._resolve(conn, network)
        if ipam.is_default(conn, net.id):
            # Docker's rules: the default bridge has no name resolution and no fixed addresses
            if ip:
                raise UsageError("user specified IP address is supported on user defined networks only")
            if aliases:
                raise UsageError("network-scoped alias is supported only for containers in user defined networks")
        with self._network_lock(f"c-{container.id}"):
            wanted = self._wanted(conn, container)
            try:
                primary = self._resolve(conn, self._primary_ref(container)).id == net.id
            except PyctrError:
                primary = False  # the spec's network was removed since
            entry = {"network_id": net.id, "name": net.name, "aliases": aliases, "ip": ip, "primary": primary}
            message = f"endpoint with name {container.name} already exists in network {net.name}"
            try:
                wanted = plan.add_wanted(wanted, entry, container.name, net.name)
            except ValueError:
                raise Conflict(message) from None
            if ipam.endpoints(conn, container.id, net.id):
                raise Conflict(message)
            if pid:
                self._connect_running(conn, container, pid, net, entry)
            ipam.set_wanted_networks(conn, container.id, wanted)
        return self._summary(conn, container)

    def _connect_running(self, conn: Any, container: Any, pid: int, net: plan.Network,
                         entry: dict[str, Any]) -> None:
        from pyctr.network_plugins.bridge.netlink import RTNL

        with RTNL(netns_pid=pid) as inside:
            names = {lk["name"] for lk in inside.links()}
        eps = ipam.endpoints(conn, container.id)
        ifname = plan.next_ifname(names | {ep.ifname for ep in eps})
        try:
            # a container on no network yet (all disconnected) takes this one's gateway
            self._attach(conn, container, pid, net, entry, ifname, default_route=not eps)
            self._refresh_hosts(conn, {net.id}, {container.id})
        except BaseException as e:
            with contextlib.suppress(Exception):  # the first error is the one to report
                self._teardown(conn, container.id, net.id)
            if isinstance(e, PyctrError) or not isinstance(e, Exception):
                raise
            raise DriverError(f"cannot connect container {container.name} to network {net.name}: {e}") from None

    def disconnect_network(self, container: Any, network: str, pid: int = 0,
                           force: bool = False) -> NetworkAttachment | None:
        from pyctr.core.state import sqlite3

        conn = self._db()
        net = self._resolve(conn, network)
        with self._network_lock(f"c-{container.id}"):
            wanted = self._wanted(conn, container)
            eps = ipam.endpoints(conn, container.id, net.id)
            if not eps and all(w["network_id"] != net.id for w in wanted):
                raise Conflict(f"container {container.id[:12]} is not connected to network {net.name}")
            if eps:
                try:
                    self._teardown(conn, container.id, net.id)
                except (OSError, sqlite3.Error, PyctrError) as e:
                    if not force:
                        raise DriverError(f"cannot disconnect container {container.name} from network "
                                          f"{net.name}: {e}") from None
                    ipam.release(conn, container.id, net.id)  # -f: the records go whatever is left
                if pid:
                    self._reroute(conn, container, pid)
            ipam.set_wanted_networks(conn, container.id, plan.remove_wanted(wanted, net.id))
        return self._summary(conn, container)

    def _reroute(self, conn: Any, container: Any, pid: int) -> None:
        """The disconnected network carried the default route: the next interface's gateway takes over."""
        from pyctr.network_plugins.bridge import apply
        from pyctr.network_plugins.bridge.netlink import RTNL

        nets = {n.id: n for n in ipam.list_networks(conn)}
        left = sorted(((ep.ifname, nets[ep.network_id]) for ep in ipam.endpoints(conn, container.id)
                       if ep.network_id in nets), key=lambda x: (len(x[0]), x[0]))
        if not left:
            return
        with RTNL(netns_pid=pid) as inside:
            ops = plan.plan_gateway(inside.default_gateway(), left)
        if ops:
            with RTNL() as host:
                apply.perform(ops, host, pid)
