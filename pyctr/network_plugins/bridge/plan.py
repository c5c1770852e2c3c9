"""The bridge driver's plan: what to do, computed from what is there. Pure.

Nothing here touches the system: given the host's view (links, addresses,
routes) and a request, the functions return the netlink operations to
perform (plain dicts, applied by :mod:`.apply`) and the nftables commands
(the JSON document ``nft -j -f -`` reads, run by :mod:`.nat`). That keeps
every decision unit-testable without root and golden-checked.

nftables layout, one table of pyctr's own (``ip pyctr`` by default)::

    set bridges           every pyctr bridge
    set nat_bridges       bridges whose traffic is masqueraded (not --internal)
    set internal_bridges  --internal networks: no traffic in or out
    set same_bridge       (bridge . bridge): traffic within one network is allowed
    set subnets           the networks' subnets (hairpin masquerade)
    chain prerouting  nat/dstnat   fib daddr type local jump ports
    chain output      nat/-100     fib daddr type local jump ports   (host, 127.0.0.1)
    chain ports       DNAT rules of published ports, comment = container id
    chain postrouting nat/srcnat   masquerade: leaving a bridge; 127.0.0.1 into a
                                   bridge (route_localnet); DNAT-ed from a subnet back into
                                   a bridge (hairpin)
    chain forward     filter       within one network: accept; internal networks closed;
                                   networks isolated from each other except through
                                   published ports

The base chains hold only static rules that refer to the sets, so
"ensure" is: add table/sets/chains, flush the base chains, add the static
rules, add the network's set elements: one atomic batch, the same result
whoever runs it and however often. Per-network state is set elements;
per-container state is rules in ``ports`` tagged with the container id.
"""

from __future__ import annotations

import ipaddress

from pyctr.core.records import Record, factory

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

#: like Docker's default-address-pools: (base, size of each subnet)
DEFAULT_POOLS: tuple[tuple[str, int], ...] = (
    ("172.17.0.0/16", 16),
    ("172.18.0.0/15", 16),
    ("172.20.0.0/14", 16),
    ("172.24.0.0/13", 16),
    ("192.168.0.0/16", 20),
)
DEFAULT_MTU = 1500
CONTAINER_IFNAME = "eth0"


class HostView(Record):
    """What the host has now (only the parts a plan looks at)."""

    #: name -> {"index", "kind", "up", "master", "mtu"}
    links: dict[str, dict[str, Any]] = factory(dict)
    #: ifname -> ["a.b.c.d/len", ...]
    addresses: dict[str, list[str]] = factory(dict)
    #: every IPv4 route destination, CIDR
    routes: list[str] = factory(list)
    #: "/proc/sys/..." -> current value
    sysctls: dict[str, str] = factory(dict)


class Network(Record):
    """A bridge network as stored in the state database."""

    id: str
    name: str
    bridge: str
    subnet: str
    gateway: str
    internal: bool = False
    mtu: int = DEFAULT_MTU

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen


class PortMapping(Record):
    proto: str  # tcp | udp
    host_ip: str  # "" = every address
    host_port: int  # 0 = choose one
    container_port: int

    def to_dict(self) -> dict[str, Any]:
        return {"proto": self.proto, "host_ip": self.host_ip, "host_port": self.host_port,
                "container_port": self.container_port}


# ---------------------------------------------------------------------------
# Names and addresses
# ---------------------------------------------------------------------------


def veth_name(container_id: str, network_id: str) -> str:
    """``veth`` + 7 hex, derived from the ids so a crashed run's veth is findable."""
    from hashlib import sha256  # here, not at the top: plan is imported by commands that name no veth

    return "veth" + sha256(f"{container_id}:{network_id}".encode()).hexdigest()[:7]


def user_bridge_name(network_id: str, prefix: str = "pyctr-") -> str:
    """``pyctr-<id8>``; a shorter id after a longer prefix keeps it within IFNAMSIZ (15)."""
    return prefix + network_id[:min(8, 15 - len(prefix))]


def mac_for_ip(ip: str) -> str:
    """02:42 + the IPv4 address, as Docker derives container MACs."""
    b = ipaddress.IPv4Address(ip).packed
    return "02:42:" + ":".join(f"{x:02x}" for x in b)


def parse_pools(text: str) -> list[tuple[str, int]]:
    """``"172.17.0.0/16:16,192.168.0.0/16:20"`` -> [(base, size), ...]."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        base, _, size = item.partition(":")
        net = ipaddress.ip_network(base, strict=True)
        n = int(size) if size else net.prefixlen
        if n < net.prefixlen or n > 30:
            raise ValueError(f"pool {item}: subnet size must be between /{net.prefixlen} and /30")
        out.append((str(net), n))
    return out


def choose_subnet(pools: list[tuple[str, int]] | tuple[tuple[str, int], ...], routes: list[str],
                  taken: list[str]) -> str | None:
    """The first subnet of the pools that overlaps no host route and no network we own.

    Host routes to 0.0.0.0/0 (default) and to the loopback range are not
    conflicts: everything overlaps those.
    """
    busy = []
    for r in [*routes, *taken]:
        net = ipaddress.ip_network(r, strict=False)
        if net.prefixlen == 0 or net.subnet_of(ipaddress.ip_network("127.0.0.0/8")):
            continue
        busy.append(net)
    for base, size in pools:
        for cand in ipaddress.ip_network(base).subnets(new_prefix=size):
            if not any(cand.overlaps(b) for b in busy):
                return str(cand)
    return None


def check_subnet(subnet: str, gateway: str | None, routes: list[str], taken: list[str]) -> tuple[str, str]:
    """Validate a user-given subnet (and gateway); return (subnet, gateway). Raises ValueError."""
    net = ipaddress.ip_network(subnet, strict=False)
    if net.version != 4:
        raise ValueError(f"only IPv4 subnets are supported, not {subnet}")
    if net.prefixlen > 30:
        raise ValueError(f"subnet {subnet} is too small: at most /30")
    for t in taken:
        if net.overlaps(ipaddress.ip_network(t)):
            raise ValueError(f"subnet {net} overlaps the pyctr network {t}")
    for r in routes:
        rn = ipaddress.ip_network(r, strict=False)
        if rn.prefixlen and rn.prefixlen < 32 and not rn.subnet_of(ipaddress.ip_network("127.0.0.0/8")) \
                and net.overlaps(rn):
            raise ValueError(f"subnet {net} overlaps the host's route to {rn}")
    gw = ipaddress.ip_address(gateway) if gateway else net.network_address + 1
    if gw not in net or gw in (net.network_address, net.broadcast_address):
        raise ValueError(f"gateway {gw} is not a host address of {net}")
    return str(net), str(gw)


def parse_port(text: str, default_ip: str = "") -> PortMapping:
    """``[ip:][hostport:]containerport[/proto]`` (Docker's -p syntax, one port)."""
    spec, _, proto = text.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp"):
        raise ValueError(f"invalid protocol {proto!r} in {text!r}: tcp or udp")
    parts = spec.rsplit(":", 2)
    if len(parts) == 1:
        host_ip, host_port, cport = default_ip, "", parts[0]
    elif len(parts) == 2:
        host_ip, host_port, cport = default_ip, parts[0], parts[1]
    else:
        host_ip, host_port, cport = parts
    host_ip = host_ip.strip("[]")
    if host_ip in ("0.0.0.0", "::"):
        host_ip = ""
    if host_ip:
        ipaddress.IPv4Address(host_ip)
    hp = int(host_port) if host_port else 0
    cp = int(cport)
    if not (0 <= hp <= 65535 and 0 < cp <= 65535):
        raise ValueError(f"invalid port in {text!r}")
    return PortMapping(proto, host_ip, hp, cp)


def ports_conflict(a: PortMapping, b: PortMapping) -> bool:
    return (a.proto == b.proto and a.host_port == b.host_port
            and (not a.host_ip or not b.host_ip or a.host_ip == b.host_ip))


# ---------------------------------------------------------------------------
# Netlink operations
# ---------------------------------------------------------------------------


def plan_bridge(view: HostView, net: Network) -> list[dict[str, Any]]:
    """Make sure the bridge exists, carries the gateway address and is up."""
    ops: list[dict[str, Any]] = []
    link = view.links.get(net.bridge)
    if link is None:
        # a fixed MAC: otherwise the bridge takes its lowest port's and
        # changes it (and the containers' ARP entry goes stale) as veths come and go
        ops.append({"op": "bridge_add", "ifname": net.bridge, "mtu": net.mtu,
                    "mac": "02:42:" + ":".join(net.id[i:i + 2] for i in range(0, 8, 2))})
    elif link.get("kind") not in (None, "bridge"):
        raise ValueError(f"{net.bridge} exists and is not a bridge ({link.get('kind')})")
    want = f"{net.gateway}/{net.prefixlen}"
    if want not in view.addresses.get(net.bridge, []):
        ops.append({"op": "addr_add", "ns": "host", "ifname": net.bridge, "address": net.gateway,
                    "prefixlen": net.prefixlen,
                    "broadcast": str(ipaddress.ip_network(net.subnet).broadcast_address)})
    if link is None or not link.get("up"):
        ops.append({"op": "link_up", "ns": "host", "ifname": net.bridge})
    for path, value in (
        ("/proc/sys/net/ipv4/ip_forward", "1"),
        # 127.0.0.1:HOSTPORT is DNAT-ed in the output hook; the rerouted packet
        # still has source 127.0.0.1, which the kernel only lets out of a
        # non-loopback device with route_localnet (masquerade fixes it after).
        (f"/proc/sys/net/ipv4/conf/{net.bridge}/route_localnet", "1"),
    ):
        if view.sysctls.get(path) != value:
            ops.append({"op": "sysctl", "path": path, "value": value})
    return ops


def plan_endpoint(net: Network, container_id: str, pid: int, ip: str, ifname: str = CONTAINER_IFNAME,
                  default_route: bool = True) -> list[dict[str, Any]]:
    """The veth pair of one container on one network, and its side of it.

    The first network of a container is ``eth0`` and carries the default
    route; ``network connect`` adds ``eth1``, ``eth2``, ... without one (Docker
    keeps the first network's gateway).
    """
    veth = veth_name(container_id, net.id)
    ops: list[dict[str, Any]] = [
        # the peer is created directly inside the container's netns under its
        # final name: no window where it sits on the host under a temporary one
        {"op": "veth_add", "ifname": veth, "master": net.bridge, "mtu": net.mtu,
         "peer": ifname, "peer_mac": mac_for_ip(ip), "pid": pid},
        # a container can reach its own published ports through the host
        {"op": "sysctl", "path": f"/sys/class/net/{veth}/brport/hairpin_mode", "value": "1"},
        {"op": "link_up", "ns": "container", "ifname": "lo"},
        {"op": "addr_add", "ns": "container", "ifname": ifname, "address": ip,
         "prefixlen": net.prefixlen,
         "broadcast": str(ipaddress.ip_network(net.subnet).broadcast_address)},
        {"op": "link_up", "ns": "container", "ifname": ifname},
    ]
    if default_route:
        ops.append({"op": "route_add", "ns": "container", "dst": "0.0.0.0/0", "gateway": net.gateway})
    return ops


def plan_gateway(current: str | None, remaining: list[tuple[str, Network]]) -> list[dict[str, Any]]:
    """After a disconnect: a container left without a default route gets one via
    the gateway of its first remaining interface (``(ifname, network)``, in
    order), as Docker re-chooses the gateway endpoint."""
    if current is not None or not remaining:
        return []
    return [{"op": "route_add", "ns": "container", "dst": "0.0.0.0/0", "gateway": remaining[0][1].gateway}]


def next_ifname(taken: list[str] | set[str]) -> str:
    """The first ``ethN`` not among the container's interfaces (``network connect``)."""
    n = 0
    while f"eth{n}" in taken:
        n += 1
    return f"eth{n}"


def add_wanted(wanted: list[dict[str, Any]], entry: dict[str, Any], container_name: str,
               network_name: str) -> list[dict[str, Any]]:
    """The container's networks after ``network connect``; ValueError when already there.

    An entry is ``{"network_id", "name", "aliases", "ip", "primary"}``: the
    networks a container is wired to at each start, in order (the first gets
    ``eth0`` and the default route).
    """
    if any(w["network_id"] == entry["network_id"] for w in wanted):
        raise ValueError(f"endpoint with name {container_name} already exists in network {network_name}")
    return [*wanted, entry]


def remove_wanted(wanted: list[dict[str, Any]], network_id: str) -> list[dict[str, Any]]:
    """The container's networks after ``network disconnect`` (unchanged if absent)."""
    return [w for w in wanted if w["network_id"] != network_id]


def plan_teardown(view: HostView, veths: list[str]) -> list[dict[str, Any]]:
    """Delete the host ends that still exist (the peer goes with them)."""
    return [{"op": "link_del", "ns": "host", "ifname": v} for v in veths if v in view.links]


# ---------------------------------------------------------------------------
# nftables
# ---------------------------------------------------------------------------

FAMILY = "ip"


def _m(left: Any, right: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def _meta(key: str) -> dict[str, Any]:
    return {"meta": {"key": key}}


_LOCAL_DADDR = _m({"fib": {"result": "type", "flags": ["daddr"]}}, "local")
_DNATED = _m({"ct": {"key": "status"}}, "dnat", "in")


def base_ruleset(table: str) -> list[dict[str, Any]]:
    """The table, its sets and base chains with their static rules (idempotent)."""
    t = {"family": FAMILY, "table": table}

    def chain(name: str, **hook: Any) -> dict[str, Any]:
        return {"add": {"chain": {**t, "name": name, **hook}}}

    def rule(chain_name: str, *expr: dict[str, Any]) -> dict[str, Any]:
        return {"add": {"rule": {**t, "chain": chain_name, "expr": list(expr)}}}

    cmds: list[dict[str, Any]] = [{"add": {"table": {"family": FAMILY, "name": table}}}]
    for s in ("bridges", "nat_bridges", "internal_bridges"):
        cmds.append({"add": {"set": {**t, "name": s, "type": "ifname"}}})
    cmds.append({"add": {"set": {**t, "name": "same_bridge", "type": ["ifname", "ifname"]}}})
    cmds.append({"add": {"set": {**t, "name": "subnets", "type": "ipv4_addr", "flags": ["interval"]}}})
    cmds += [
        chain("prerouting", type="nat", hook="prerouting", prio=-100, policy="accept"),
        chain("output", type="nat", hook="output", prio=-100, policy="accept"),
        chain("postrouting", type="nat", hook="postrouting", prio=100, policy="accept"),
        chain("forward", type="filter", hook="forward", prio=0, policy="accept"),
        chain("ports"),
    ]
    for c in ("prerouting", "output", "postrouting", "forward"):
        cmds.append({"flush": {"chain": {**t, "name": c}}})
    bridges, nat_bridges, internal = "@bridges", "@nat_bridges", "@internal_bridges"
    cmds += [
        rule("prerouting", _LOCAL_DADDR, {"jump": {"target": "ports"}}),
        rule("output", _LOCAL_DADDR, {"jump": {"target": "ports"}}),
        # containers going out: source becomes the host's address
        rule("postrouting", _m(_meta("iifname"), nat_bridges), _m(_meta("oifname"), bridges, "!="),
             {"masquerade": None}),
        # the host's 127.0.0.1 talking to a published port (output DNAT)
        rule("postrouting", _m({"payload": {"protocol": "ip", "field": "saddr"}},
                               {"prefix": {"addr": "127.0.0.0", "len": 8}}),
             _m(_meta("oifname"), bridges), {"masquerade": None}),
        # hairpin: a container reaching a published port lands back on a
        # bridge; without SNAT the server would answer it directly. Matched
        # on the source subnet, not iifname: with br_netfilter the DNAT can
        # happen in the bridge path, where this hook sees no input device.
        rule("postrouting", _m({"payload": {"protocol": "ip", "field": "saddr"}}, "@subnets"),
             _m(_meta("oifname"), bridges), _DNATED, {"masquerade": None}),
        # traffic within one bridge: with br_netfilter loaded, bridged frames
        # pass this hook too, with the bridge as both iif and oif
        rule("forward", _m({"concat": [_meta("iifname"), _meta("oifname")]}, "@same_bridge"),
             {"accept": None}),
        rule("forward", _m(_meta("iifname"), internal), {"drop": None}),
        rule("forward", _m(_meta("oifname"), internal), {"drop": None}),
        rule("forward", _DNATED, {"accept": None}),
        # one pyctr network does not route into another (Docker's isolation)
        rule("forward", _m(_meta("iifname"), bridges), _m(_meta("oifname"), bridges), {"drop": None}),
    ]
    return cmds


def network_elements(table: str, net: Network, verb: str = "add") -> list[dict[str, Any]]:
    t = {"family": FAMILY, "table": table}
    sets = ["bridges", "internal_bridges" if net.internal else "nat_bridges"]
    cmds = [{verb: {"element": {**t, "name": s, "elem": [net.bridge]}}} for s in sets]
    cmds.append({verb: {"element": {**t, "name": "same_bridge",
                                    "elem": [{"concat": [net.bridge, net.bridge]}]}}})
    sub = ipaddress.ip_network(net.subnet)
    cmds.append({verb: {"element": {**t, "name": "subnets", "elem": [
        {"prefix": {"addr": str(sub.network_address), "len": sub.prefixlen}}]}}})
    return cmds


def remove_network_elements(table: str, net: Network) -> list[dict[str, Any]]:
    """Delete the network's elements; adding them first makes the delete idempotent."""
    return network_elements(table, net, "add") + network_elements(table, net, "delete")


def port_rules(table: str, container_id: str, ip: str, ports: list[PortMapping]) -> list[dict[str, Any]]:
    """DNAT rules in ``ports`` for one container, tagged with its id."""
    t = {"family": FAMILY, "table": table}
    cmds = []
    for p in ports:
        expr: list[dict[str, Any]] = []
        if p.host_ip:
            expr.append(_m({"payload": {"protocol": "ip", "field": "daddr"}}, p.host_ip))
        expr.append(_m({"payload": {"protocol": p.proto, "field": "dport"}}, p.host_port))
        expr.append({"dnat": {"family": "ip", "addr": ip, "port": p.container_port}})
        cmds.append({"add": {"rule": {**t, "chain": "ports", "comment": container_id, "expr": expr}}})
    return cmds


def rules_to_delete(listing: dict[str, Any], table: str, owners: set[str] | None = None,
                    keep: set[str] | None = None) -> list[dict[str, Any]]:
    """Delete commands for ``ports`` rules whose comment is in ``owners`` (or not in ``keep``).

    ``listing`` is the output of ``nft -j list chain ip TABLE ports``.
    """
    cmds = []
    for item in listing.get("nftables", []):
        r = item.get("rule")
        if not r or r.get("chain") != "ports" or r.get("table") != table:
            continue
        owner = r.get("comment", "")
        if (owners is not None and owner in owners) or (keep is not None and owner not in keep):
            cmds.append({"delete": {"rule": {"family": FAMILY, "table": table, "chain": "ports",
                                             "handle": r["handle"]}}})
    return cmds


def document(cmds: list[dict[str, Any]]) -> dict[str, Any]:
    return {"nftables": cmds}
