"""The ``bridge`` network driver: a Linux bridge, a veth pair per container,
IPAM in the state database, NAT and published ports in nftables.

``spec.network`` keys this driver reads (all optional):

==============  ==============================================================
``network``     network name or id; ``"bridge"`` (default) is the default network
``ports``       ``["[ip:][hostport:]containerport[/proto]", ...]`` (``-p``);
                an empty host port picks a free one
``publish_all`` ``-P``: publish every port of ``expose`` on a free host port
``expose``      ``["80/tcp", ...]``, the image's EXPOSE (for ``-P``)
``aliases``     ``--network-alias`` names peers on a user network resolve
``ip``          ``--ip``: the address to lease
``dns``         ``--dns`` servers; ``dns_search``, ``dns_options`` likewise
``add_hosts``   ``--add-host`` ``["name:ip", ...]``
==============  ==============================================================

Driver options (``DriverContext.options``, or ``PYCTR_NETWORK_OPT="k=v;k=v"``): ``bridge``
(default ``pyctr0``), ``table`` (nftables table, default ``pyctr``),
``pools`` (``"172.17.0.0/16:16,192.168.0.0/16:20"``), ``mtu``, ``user_prefix`` (user networks'
bridges are ``<user_prefix><id>``, default ``pyctr-``).

``connect`` writes ``hosts`` and ``resolv.conf`` into ``container.dir``;
containers on one user network find each other by name through those hosts
files (see :mod:`.files`). Everything a connect makes is recorded in the
state database before it is made, so ``disconnect`` and
``cleanup_orphans`` work from the records alone after a crash.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from pathlib import Path

from pyctr.core.drivers import DriverContext, NetworkAttachment, NetworkDriver
from pyctr.core.errors import (
    DriverError,
    NotFound,
    PrerequisitesMissing,
    PyctrError,
    UsageError,
)
from pyctr.network_plugins.bridge import ipam, plan
from pyctr.network_plugins.bridge.attach import Attachments
from pyctr.network_plugins.bridge.networks import DEFAULT_NETWORK, UserNetworks

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"


def _ifindex(ifname: str) -> int:
    return int(ifname[3:]) if ifname.startswith("eth") and ifname[3:].isdigit() else 1 << 20


class BridgeNetworkDriver(Attachments, UserNetworks, NetworkDriver):
    name = "bridge"
    priority = 10
    wants_network_namespace = True
    #: True for the rootless user's class (pyctr.network_plugins.bridge.rootless)
    in_user_netns = False

    def __new__(cls, ctx: DriverContext) -> BridgeNetworkDriver:  # noqa: ARG003
        from pyctr.core import rootless

        if not cls.in_user_netns and rootless.active():
            # a rootless user's bridges live in a network namespace of its own (see .rootless)
            from pyctr.network_plugins.bridge import rootless as in_userns

            cls = in_userns.driver_class(cls)
        return super().__new__(cls)

    def __init__(self, ctx: DriverContext) -> None:
        super().__init__(ctx)
        o = dict(_env_options())
        o.update(ctx.options)
        self.bridge = o.get("bridge", "pyctr0")
        self.table = o.get("table", "pyctr")
        self.mtu = int(o.get("mtu", plan.DEFAULT_MTU))
        self.user_prefix = o.get("user_prefix", "pyctr-")
        if not 1 <= len(self.user_prefix) <= 9:
            raise UsageError(f"invalid network user_prefix option {self.user_prefix!r}: 1 to 9 characters")
        try:
            self.pools = plan.parse_pools(o["pools"]) if o.get("pools") else list(plan.DEFAULT_POOLS)
        except ValueError as e:
            raise UsageError(f"invalid network pools option: {e}") from None

    @classmethod
    def probe(cls, ctx: DriverContext) -> None:
        import importlib.util

        from pyctr.network_plugins.bridge import nat

        if not os.path.exists("/proc/sys/net/ipv4"):
            raise PrerequisitesMissing("the bridge network driver needs IPv4 networking in this kernel")
        from pyctr.core import rootless

        if rootless.active():
            from pyctr.network_plugins.bridge.rootless import probe

            probe()
        if not nat.available():
            raise PrerequisitesMissing("the bridge network driver needs nftables: install the nftables package")
        if importlib.util.find_spec("pyroute2") is None:
            raise PrerequisitesMissing("the bridge network driver needs pyroute2: pip install 'pyroute2>=0.9,<0.10'")

    # -- helpers -----------------------------------------------------------

    def _db(self) -> Any:
        """This thread's connection to the state database, kept open.

        Opening runs the migration check and the last close of a WAL database
        checkpoints it (an fsync): both are paid once, not per call.
        """
        import _thread  # (threading.local is this; threading itself is a 2-3 ms import)

        from pyctr.core import state

        local = self.__dict__.setdefault("_local", _thread._local())
        conn = getattr(local, "conn", None)
        # never use a connection across fork (the detached monitor disconnects)
        if conn is None or getattr(local, "pid", 0) != os.getpid():
            conn = local.conn = state.connect(self.ctx.root)
            local.pid = os.getpid()
        return conn

    def _network_lock(self, name: str) -> contextlib.AbstractContextManager[None]:
        """An flock under ``<runroot>/network/``: ``hosts`` serialises rewriting
        hosts files, ``c-<id>`` one container's connects and disconnects."""
        from pyctr.core.state import flocked

        return flocked(Path(self.ctx.runroot) / "network" / f"{name}.lock", dir_mode=0o777)

    def _routes(self) -> list[str]:
        from pyctr.network_plugins.bridge.netlink import RTNL

        with RTNL() as r:
            return r.routes()

    def _resolve(self, conn: Any, ref: str) -> plan.Network:
        if ref in (DEFAULT_NETWORK, "default", ""):
            return self._default_network(conn)
        return ipam.require_network(conn, ref)

    def _default_network(self, conn: Any) -> plan.Network:
        from pyctr.core.state import transaction

        row = conn.execute("SELECT id FROM bridge_networks WHERE is_default = 1").fetchone()
        if row is not None:
            return ipam.require_network(conn, row[0])
        routes = self._routes()
        with transaction(conn):
            row = conn.execute("SELECT id FROM bridge_networks WHERE is_default = 1").fetchone()
            if row is None:
                taken = [n.subnet for n in ipam.list_networks(conn)]
                subnet = plan.choose_subnet(self.pools, routes, taken)
                if subnet is None:
                    raise DriverError("no subnet of the address pools is free of the host's routes; "
                                      "set the pools option")
                gw = str(ipaddress.ip_network(subnet).network_address + 1)
                return ipam.insert_network(conn, DEFAULT_NETWORK, self.bridge, subnet, gw,
                                           mtu=self.mtu, default=True)
        return ipam.require_network(conn, row[0])

    def _ensure_bridge(self, host: Any, net: plan.Network) -> None:
        from pyctr.network_plugins.bridge import apply

        view = apply.read_view(host, [net.bridge], sysctls=[
            IP_FORWARD, f"/proc/sys/net/ipv4/conf/{net.bridge}/route_localnet"])
        apply.perform(plan.plan_bridge(view, net), host)

    def _refresh_hosts(self, conn: Any, network_ids: set[str], containers: set[str] = frozenset(),
                       created: set[str] = frozenset()) -> None:
        """Rewrite, from the records, the hosts files of ``containers`` and of every
        container on ``network_ids`` (``created``: files that may be made).

        One lock for all networks: a container on two networks has one file,
        and it must be rendered from one consistent read of the endpoints.
        """
        from pyctr.network_plugins.bridge import files

        with self._network_lock("hosts"):
            eps = ipam.endpoints(conn)
            default = {n.id for n in ipam.list_networks(conn) if ipam.is_default(conn, n.id)}
            resolving = {ep.network_id for ep in eps} - default
            targets = set(containers) | {ep.container_id for ep in eps
                                         if ep.network_id in network_ids and ep.network_id in resolving}
            made = {ep.hosts_path for ep in eps if ep.container_id in created}
            for path, text in files.hosts_files(eps, resolving, targets | set(created)).items():
                files.write_in_place(path, text, create=path in made)

    @staticmethod
    def _free_port(p: plan.PortMapping, taken: list[plan.PortMapping]) -> int:
        import socket  # (here: the socket module's import is on no start path without -p)

        kind = socket.SOCK_STREAM if p.proto == "tcp" else socket.SOCK_DGRAM
        for _ in range(50):
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind((p.host_ip or "0.0.0.0", 0))
                port = s.getsockname()[1]
            if not any(plan.ports_conflict(plan.PortMapping(p.proto, p.host_ip, port, 0), t) for t in taken):
                return port
        raise DriverError("no free host port found to publish on")

    @staticmethod
    def _attachment(net: plan.Network, ep: ipam.Endpoint) -> NetworkAttachment:
        return NetworkAttachment(
            network=net.name, ip_address=ep.address, prefix_len=net.prefixlen, gateway=net.gateway,
            mac_address=ep.mac,
            extra={"network_id": net.id, "bridge": net.bridge, "veth": ep.veth, "aliases": ep.aliases,
                   "ifname": ep.ifname, "ports": [p.to_dict() for p in ep.ports]})

    # -- NetworkDriver -----------------------------------------------------

    def connect(self, container: Any, pid: int) -> NetworkAttachment:
        from pyctr.core.state import sqlite3

        try:
            return self._connect(container, pid)
        except (OSError, sqlite3.Error) as e:  # before anything was made (after: see _connect)
            raise DriverError(f"cannot connect container {container.id[:12]} to its network: {e}") from None

    @staticmethod
    def _spec_ports(want: dict[str, Any]) -> list[plan.PortMapping]:
        try:
            ports = [plan.parse_port(str(p)) for p in want.get("ports") or []]
            if want.get("publish_all"):
                for e in want.get("expose") or []:
                    port, _, proto = str(e).partition("/")
                    ports.append(plan.PortMapping(proto or "tcp", "", 0, int(port)))
        except ValueError as e:
            raise UsageError(str(e)) from None
        return ports

    def _published(self, container: Any, want: dict[str, Any]) -> list[plan.PortMapping]:
        """The container's published ports (host ports 0 are chosen when leased)."""
        return self._spec_ports(want)

    def _dnat_ports(self, ports: list[plan.PortMapping]) -> list[plan.PortMapping]:
        """The ports as the DNAT rules match them (the rootless driver drops the host address)."""
        return ports

    @staticmethod
    def _primary_ref(container: Any) -> str:
        want = container.spec.network or {}
        # "mode" is what the CLI records (the --network value); a user
        # network's name there means this network
        mode = str(want.get("mode") or "")
        return str(want.get("network") or (mode if mode not in ("", "bridge") else DEFAULT_NETWORK))

    def _wanted(self, conn: Any, container: Any) -> list[dict[str, Any]]:
        """The networks the container is wired to at start, in order (see :func:`.plan.add_wanted`)."""
        wanted = ipam.wanted_networks(conn, container.id)
        if wanted is not None:
            return wanted
        net = self._resolve(conn, self._primary_ref(container))
        return [{"network_id": net.id, "name": net.name, "aliases": [], "ip": "", "primary": True}]

    def _attach(self, conn: Any, container: Any, pid: int, net: plan.Network, entry: dict[str, Any],
                ifname: str, default_route: bool) -> ipam.Endpoint:
        """Lease, veth pair and rules of one network (hosts files: the caller)."""
        from pyctr.network_plugins.bridge import apply, nat
        from pyctr.network_plugins.bridge.netlink import RTNL

        want: dict[str, Any] = dict(container.spec.network or {})
        primary = bool(entry.get("primary"))
        ports = self._published(container, want) if primary else []
        aliases = entry.get("aliases") or (list(want.get("aliases") or []) if primary else [])
        ip = entry.get("ip") or (want.get("ip") if primary else None) or None
        ep = ipam.Endpoint(
            container_id=container.id, network_id=net.id, veth="", address="", mac="",
            name=container.name, hostname=container.spec.hostname or container.id[:12],
            aliases=list(aliases), extra_hosts=list(want.get("add_hosts") or []),
            hosts_path=str(Path(container.dir) / "hosts"), ports=ports, ifname=ifname)
        ep = ipam.allocate(conn, net, ep, ip, self._free_port)
        with RTNL() as host:
            self._ensure_bridge(host, net)
            apply.perform(plan.plan_endpoint(net, container.id, pid, ep.address, ep.ifname, default_route),
                          host, pid)
        # the base ruleset and the network's elements only when the ruleset may have lost them (see nat)
        nat.ensure(str(Path(self.ctx.runroot) / "network" / f"nft-{self.table}.json"),
                   {"base": plan.base_ruleset(self.table),
                    f"network {net.id} {net.bridge} {net.subnet} {int(net.internal)}":
                        plan.network_elements(self.table, net)},
                   plan.port_rules(self.table, container.id, ep.address, self._dnat_ports(ep.ports)))
        return ep

    def _connect(self, container: Any, pid: int) -> NetworkAttachment:
        from pyctr.network_plugins.bridge import files
        from pyctr.network_plugins.bridge.netlink import RTNL

        want: dict[str, Any] = dict(container.spec.network or {})
        self._spec_ports(want)  # bad -p values stop here, before anything is made
        conn = self._db()
        targets = []
        for w in self._wanted(conn, container):
            net = ipam.get_network(conn, w["network_id"])
            if net is None:
                raise NotFound(f"network {w['name']} not found")
            targets.append((net, w))
        old = ipam.endpoints(conn, container.id)
        if old:
            with RTNL() as host:
                if all(host.link(ep.veth) is not None for ep in old):
                    return self._summary(conn, container)  # already connected
            self._teardown(conn, container.id)
        net = targets[0][0] if targets else None
        try:
            for i, (net, w) in enumerate(targets):
                # the first network is eth0 with the default route, as Docker's
                self._attach(conn, container, pid, net, w, f"eth{i}", default_route=i == 0)
            Path(container.dir).mkdir(parents=True, exist_ok=True)
            try:
                host_resolv = Path("/etc/resolv.conf").read_text()
            except OSError:
                host_resolv = ""
            files.write_in_place(Path(container.dir) / "resolv.conf", files.render_resolv(
                host_resolv, want.get("dns") or None, want.get("dns_search") or None,
                want.get("dns_options") or None))
            self._refresh_hosts(conn, {n.id for n, _ in targets}, {container.id}, created={container.id})
        except BaseException as e:
            with contextlib.suppress(Exception):  # the first error is the one to report
                self._teardown(conn, container.id)
            if isinstance(e, PyctrError) or not isinstance(e, Exception):
                raise
            where = f" to network {net.name}" if net is not None else ""
            raise DriverError(f"cannot connect the container{where}: {e}") from None
        return self._summary(conn, container)

    def _summary(self, conn: Any, container: Any) -> NetworkAttachment:
        """The container's attachment for ``inspect``: its first interface at the top,
        every network (wired or only recorded) in ``extra["networks"]``."""
        eps = sorted(ipam.endpoints(conn, container.id), key=lambda e: _ifindex(e.ifname))
        nets = {n.id: n for n in ipam.list_networks(conn)}
        eps = [ep for ep in eps if ep.network_id in nets]
        networks: dict[str, Any] = {}
        for ep in eps:
            net = nets[ep.network_id]
            networks[net.name] = {"NetworkID": net.id, "EndpointID": ep.veth, "Gateway": net.gateway,
                                  "IPAddress": ep.address, "IPPrefixLen": net.prefixlen,
                                  "MacAddress": ep.mac, "Aliases": ep.aliases or None}
        for w in ipam.wanted_networks(conn, container.id) or []:
            if w["network_id"] not in {ep.network_id for ep in eps}:
                networks[w["name"]] = {"NetworkID": w["network_id"], "EndpointID": "", "Gateway": "",
                                       "IPAddress": "", "IPPrefixLen": 0, "MacAddress": "",
                                       "Aliases": w.get("aliases") or None}
        if eps:
            att = self._attachment(nets[eps[0].network_id], eps[0])
        else:
            att = NetworkAttachment(network=next(iter(networks), ""))
        att.extra["networks"] = networks
        return att

    def _teardown(self, conn: Any, container_id: str, network_id: str | None = None) -> list[str]:
        """Remove the container's endpoints (only the one on ``network_id`` if given)."""
        from pyctr.network_plugins.bridge import apply, files, nat
        from pyctr.network_plugins.bridge.netlink import RTNL

        eps = ipam.endpoints(conn, container_id, network_id)
        gone = []
        if eps:
            with RTNL() as host:
                for ep in eps:
                    if apply.link_del(host, ep.veth):
                        gone.append(f"veth {ep.veth}")
        if any(ep.ports for ep in eps):
            n = nat.delete_rules(self.table, owners={container_id})
            if n:
                gone.append(f"{n} nftables rule(s) of {container_id[:12]}")
        ipam.release(conn, container_id, network_id)
        gone += [f"lease {ep.address} of {container_id[:12]}" for ep in eps]
        if eps:
            self._refresh_hosts(conn, {ep.network_id for ep in eps},
                                {container_id} if network_id is not None else set())
            if network_id is not None and not ipam.endpoints(conn, container_id):
                # on no network any more: its file forgets the peers too
                with self._network_lock("hosts"):
                    files.write_in_place(eps[0].hosts_path, files.HOSTS_HEADER, create=False)
        return gone

    def disconnect(self, container: Any) -> None:
        from pyctr.core.state import sqlite3

        try:
            self._teardown(self._db(), container.id)
        except (OSError, sqlite3.Error, ValueError) as e:
            # a PyctrError, so the runtime's cleanup goes on with cgroups and mounts
            raise DriverError(f"cannot disconnect container {container.id[:12]}: {e}") from None

    def forget(self, container: Any) -> None:
        ipam.forget_container_networks(self._db(), container.id)

    def cleanup_orphans(self, live_container_ids: set[str]) -> list[str]:
        from pyctr.network_plugins.bridge import apply, nat
        from pyctr.network_plugins.bridge.netlink import RTNL

        conn = self._db()
        report: list[str] = []
        for cid in sorted(ipam.lease_owners(conn) - set(live_container_ids)):
            report += self._teardown(conn, cid)
        ipam.forget_wanted_networks(conn, set(live_container_ids))  # bookkeeping, nothing to report
        n = nat.delete_rules(self.table, keep=set(live_container_ids))
        if n:
            report.append(f"{n} orphaned nftables rule(s)")
        # veths on our bridges that no record explains (made by hand or
        # by a version that crashed before recording): nothing owns them
        nets = ipam.list_networks(conn)
        known = {ep.veth for ep in ipam.endpoints(conn)}
        with RTNL() as host:
            links = host.links()
            ours = {lk["index"] for lk in links if lk["name"] in {n.bridge for n in nets}}
            for lk in links:
                if (lk["master"] in ours and lk["kind"] == "veth" and lk["name"] not in known
                        and apply.link_del(host, lk["name"])):
                    report.append(f"veth {lk['name']}")
        return report

    def release_default_network(self) -> list[str]:
        """This root's share of the bridge every root's default network is on, once no container
        of the root is connected to it: its gateway address on the bridge and its subnet in the
        nftables sets go, and the bridge itself (and the table) when no root has an address
        there any more. ``system prune`` calls it (the bridge_prune plugin); the next container
        on the default network makes it again, maybe with another subnet."""
        from pyctr.core.state import transaction
        from pyctr.network_plugins.bridge import apply, nat
        from pyctr.network_plugins.bridge.netlink import RTNL

        conn = self._db()
        with transaction(conn):
            row = conn.execute("SELECT id FROM bridge_networks WHERE is_default = 1").fetchone()
            if row is None:
                return []
            net = ipam.require_network(conn, row[0])
            if ipam.endpoints(conn, network_id=net.id):
                return []
            ipam.delete_network(conn, net.id)  # (first: a connect from now on makes it afresh)
        lines = [f"released the default network's subnet {net.subnet} on {net.bridge}"]
        t = {"family": plan.FAMILY, "table": self.table}
        sub = ipaddress.ip_network(net.subnet)
        subnet_element = {"prefix": {"addr": str(sub.network_address), "len": sub.prefixlen}}
        with RTNL() as host:
            apply.addr_del(host, net.bridge, net.gateway, net.prefixlen)
            link = host.link(net.bridge)
            left = [a for i, a, _ in host.addresses(link["index"])] if link is not None else []
            if link is not None and not left and not any(lk["master"] == link["index"] for lk in host.links()):
                apply.link_del(host, net.bridge)  # no root has an address there, nothing is plugged in
                lines.append(f"removed the bridge {net.bridge}, which no store uses any more")
        again = conn.execute("SELECT id FROM bridge_networks WHERE is_default = 1").fetchone()
        if again is not None:
            # a container of this root connected meanwhile and made the network again: its
            # address and elements stay (made again if they were just taken away)
            renewed = ipam.require_network(conn, again[0])
            with RTNL() as host:
                self._ensure_bridge(host, renewed)
            nat.run(plan.base_ruleset(self.table) + plan.network_elements(self.table, renewed))
            return lines
        if nat.list_table(self.table) is None:
            return lines
        if left:
            nat.run([{"add": {"element": {**t, "name": "subnets", "elem": [subnet_element]}}},
                     {"delete": {"element": {**t, "name": "subnets", "elem": [subnet_element]}}}])
        else:
            nat.run(plan.remove_network_elements(self.table, net))
            if not _set_elements(nat.list_table(self.table), ("bridges", "subnets")):
                nat.remove_table(self.table)
                lines.append(f"removed the nftables table {self.table}, which no store uses any more")
        return lines

    def status(self) -> list[tuple[str, str]]:
        return [("Bridge", self.bridge), ("nftables table", f"{plan.FAMILY} {self.table}")]

    def ports(self, container_id: str) -> list[dict[str, Any]]:
        """Published ports of a container (``pyctr port``)."""
        conn = self._db()
        return [p.to_dict() for ep in ipam.endpoints(conn, container_id) for p in ep.ports]


def _set_elements(listing: dict[str, Any] | None, names: tuple[str, ...]) -> list[Any]:
    """The elements of the named sets in an ``nft -j list table`` listing."""
    out: list[Any] = []
    for item in (listing or {}).get("nftables", []):
        s = item.get("set")
        if s and s.get("name") in names:
            out += s.get("elem") or []
    return out


def _env_options() -> list[tuple[str, str]]:
    """``PYCTR_NETWORK_OPT="bridge=br0;table=t;pools=10.1.0.0/16:24"`` until the CLI has --network-opt."""
    out = []
    for item in os.environ.get("PYCTR_NETWORK_OPT", "").split(";"):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            out.append((key.strip(), value.strip()))
    return out


__all__ = ["BridgeNetworkDriver"]
