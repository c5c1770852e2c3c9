"""Carry out a plan's netlink operations (and read the host view it needs).

Host operations go through one rtnetlink socket in pyctr's own netns,
container operations through one opened inside ``/proc/<pid>/ns/net``
(see :class:`.netlink.RTNL`). Only pyroute2's message codecs are imported.
"""

from __future__ import annotations

import socket  # (pyroute2's codecs, which every user of this module loads, import it anyway)
import errno

from pyctr.network_plugins.bridge.netlink import (
    IFF_UP,
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_EXCL,
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWROUTE,
    RTNL,
    NetlinkError,
)
from pyctr.network_plugins.bridge.plan import HostView

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RTN_UNICAST = 1


def read_view(rtnl: RTNL, ifnames: list[str], routes: bool = False,
              sysctls: list[str] | None = None) -> HostView:
    """The part of the host a plan needs: the named links, their addresses, routes."""
    view = HostView()
    by_index = {}
    for name in ifnames:
        link = rtnl.link(name)
        if link is not None:
            view.links[name] = link
            by_index[link["index"]] = name
    if by_index:
        for index, addr, plen in rtnl.addresses():
            if index in by_index:
                view.addresses.setdefault(by_index[index], []).append(f"{addr}/{plen}")
    if routes:
        view.routes = rtnl.routes()
    for path in sysctls or []:
        try:
            with open(path) as f:
                view.sysctls[path] = f.read().strip()
        except OSError:
            pass
    return view


def _index(rtnl: RTNL, ifname: str) -> int:
    # one lookup per name and socket: a plan names the same link several times
    cache = rtnl.__dict__.setdefault("index_cache", {})
    if ifname not in cache:
        link = rtnl.link(ifname)
        if link is None:
            raise NetlinkError(errno.ENODEV, f"no interface {ifname}")
        cache[ifname] = link["index"]
    return cache[ifname]


def _up(rtnl: RTNL, ifname: str) -> None:
    rtnl.request("ifinfmsg", RTM_NEWLINK, NLM_F_ACK,
                 {"index": _index(rtnl, ifname), "flags": IFF_UP, "change": IFF_UP}, [])


def _addr(rtnl: RTNL, op: dict[str, Any]) -> None:
    try:
        rtnl.request("ifaddrmsg", RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                     {"family": socket.AF_INET, "prefixlen": op["prefixlen"],
                      "index": _index(rtnl, op["ifname"]), "scope": 0},
                     [["IFA_LOCAL", op["address"]], ["IFA_ADDRESS", op["address"]],
                      ["IFA_BROADCAST", op["broadcast"]]])
    except NetlinkError as e:
        if e.errno != errno.EEXIST:  # a concurrent run added it first
            raise


def addr_del(rtnl: RTNL, ifname: str, address: str, prefixlen: int) -> bool:
    """Remove an IPv4 address from a link if it is there; True when it went."""
    link = rtnl.link(ifname)
    if link is None:
        return False
    try:
        rtnl.request("ifaddrmsg", RTM_DELADDR, NLM_F_ACK,
                     {"family": socket.AF_INET, "prefixlen": prefixlen, "index": link["index"], "scope": 0},
                     [["IFA_LOCAL", address], ["IFA_ADDRESS", address]])
    except NetlinkError as e:
        if e.errno in (errno.EADDRNOTAVAIL, errno.ENODEV):  # gone already (a concurrent release)
            return False
        raise
    return True


def _bridge(rtnl: RTNL, op: dict[str, Any]) -> None:
    try:
        rtnl.request("ifinfmsg", RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, {},
                     [["IFLA_IFNAME", op["ifname"]], ["IFLA_MTU", op["mtu"]], ["IFLA_ADDRESS", op["mac"]],
                      ["IFLA_LINKINFO", {"attrs": [["IFLA_INFO_KIND", "bridge"]]}]])
    except NetlinkError as e:
        if e.errno != errno.EEXIST:
            raise


def _veth(rtnl: RTNL, op: dict[str, Any]) -> None:
    peer = {"attrs": [["IFLA_IFNAME", op["peer"]], ["IFLA_ADDRESS", op["peer_mac"]],
                      ["IFLA_MTU", op["mtu"]], ["IFLA_NET_NS_PID", op["pid"]]]}
    msg = ({"flags": IFF_UP, "change": IFF_UP},
           [["IFLA_IFNAME", op["ifname"]], ["IFLA_MTU", op["mtu"]],
            ["IFLA_MASTER", _index(rtnl, op["master"])],
            ["IFLA_LINKINFO", {"attrs": [["IFLA_INFO_KIND", "veth"],
                                         ["IFLA_INFO_DATA", {"attrs": [["VETH_INFO_PEER", peer]]}]]}]])
    try:
        rtnl.request("ifinfmsg", RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, *msg)
    except NetlinkError as e:
        if e.errno != errno.EEXIST:
            raise
        # left by a crashed start of this very container (the name is derived
        # from its id): replace it
        link_del(rtnl, op["ifname"])
        rtnl.request("ifinfmsg", RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, *msg)


def link_del(rtnl: RTNL, ifname: str) -> bool:
    """Delete a link if it exists; True when something went."""
    rtnl.__dict__.get("index_cache", {}).pop(ifname, None)
    link = rtnl.link(ifname)
    if link is None:
        return False
    try:
        rtnl.request("ifinfmsg", RTM_DELLINK, NLM_F_ACK, {"index": link["index"]}, [])
    except NetlinkError as e:
        if e.errno != errno.ENODEV:
            raise
        return False
    return True


def _route(rtnl: RTNL, op: dict[str, Any]) -> None:
    dst, _, plen = op["dst"].partition("/")
    attrs = [["RTA_GATEWAY", op["gateway"]]]
    if int(plen):
        attrs.append(["RTA_DST", dst])
    try:
        rtnl.request("rtmsg", RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                     {"family": socket.AF_INET, "dst_len": int(plen), "table": RT_TABLE_MAIN,
                      "proto": RTPROT_BOOT, "scope": RT_SCOPE_UNIVERSE, "type": RTN_UNICAST}, attrs)
    except NetlinkError as e:
        if e.errno != errno.EEXIST:
            raise


def _sysctl(op: dict[str, Any], rtnl: RTNL | None = None) -> None:
    try:
        with open(op["path"], "w") as f:
            f.write(op["value"])
    except FileNotFoundError:
        # sysfs shows the netns of whoever mounted it: a rootless user's bridge, in a
        # namespace of the user's (bridge.rootless), has its ports set through netlink
        parts = op["path"].split("/")
        if rtnl is None or parts[:4] != ["", "sys", "class", "net"] or parts[5:] != ["brport", "hairpin_mode"]:
            raise
        _hairpin(rtnl, parts[4], op["value"] == "1")


_AF_BRIDGE, _RTM_SETLINK, _IFLA_PROTINFO, _IFLA_BRPORT_MODE, _NLA_F_NESTED = 7, 19, 12, 4, 0x8000


def _hairpin(rtnl: RTNL, ifname: str, on: bool) -> None:
    """A bridge port's hairpin mode through rtnetlink (RTM_SETLINK, AF_BRIDGE, IFLA_PROTINFO)."""
    import struct

    from pyctr.network_plugins.bridge.netlink import NLM_F_REQUEST

    link = rtnl.link(ifname)
    if link is None:
        raise FileNotFoundError(errno.ENOENT, f"no interface {ifname}")
    mode = struct.pack("=HHB3x", 5, _IFLA_BRPORT_MODE, int(on))
    protinfo = struct.pack("=HH", 4 + len(mode), _IFLA_PROTINFO | _NLA_F_NESTED) + mode
    body = struct.pack("=BxHiII", _AF_BRIDGE, 0, link["index"], 0, 0) + protinfo
    rtnl.seq += 1
    rtnl.sock.send(struct.pack("=IHHII", 16 + len(body), _RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, rtnl.seq, 0)
                   + body)
    list(rtnl._replies("ifinfmsg", dump=False))  # (the ACK, or NetlinkError)


def perform(ops: list[dict[str, Any]], host: RTNL, pid: int | None = None) -> None:
    """Run the operations in order; container ones in ``pid``'s netns."""
    inside: RTNL | None = None
    try:
        for op in ops:
            kind = op["op"]
            if kind == "sysctl":
                _sysctl(op, host)
                continue
            if op.get("ns") == "container":
                if inside is None:
                    assert pid is not None
                    inside = RTNL(netns_pid=pid)
                rtnl = inside
            else:
                rtnl = host
            if kind == "bridge_add":
                _bridge(rtnl, op)
            elif kind == "veth_add":
                _veth(rtnl, op)
            elif kind == "addr_add":
                _addr(rtnl, op)
            elif kind == "link_up":
                _up(rtnl, op["ifname"])
            elif kind == "route_add":
                _route(rtnl, op)
            elif kind == "link_del":
                link_del(rtnl, op["ifname"])
            else:
                raise ValueError(f"unknown operation {kind}")
    finally:
        if inside is not None:
            inside.close()
