"""A small synchronous rtnetlink client built on pyroute2's message classes.

Why not ``pyroute2.IPRoute``: the bridge driver needs only the encoder and
decoder of three message kinds (``ifinfmsg``, ``ifaddrmsg``, ``rtmsg``), which
pyctr.network_plugins.bridge.codecs loads without the rest of pyroute2, and
this module speaks netlink over a plain socket (one request, wait for the ACK
or the dump's end; no event loop).
"""

from __future__ import annotations

import socket  # (pyroute2's codecs import it anyway)
import ctypes
import errno
import os
import struct
from collections.abc import Iterator

from pyctr.network_plugins.bridge import codecs

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

NETLINK_ROUTE = 0
CLONE_NEWNET = 0x40000000

NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLMSG_ERROR = 0x2
NLMSG_DONE = 0x3

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26

IFF_UP = 0x1

_HDR = struct.Struct("=IHHII")

class NetlinkError(OSError):
    """A negative netlink ACK; ``errno`` is the kernel's error number."""


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int, nstype: int) -> None:
    if _libc.setns(fd, nstype) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


class RTNL:
    """One rtnetlink socket, in the host's netns or in ``/proc/<pid>/ns/net``."""

    def __init__(self, netns_pid: int | None = None) -> None:
        self.msgs = codecs.messages()
        self.seq = 0
        if netns_pid is None:
            self.sock = self._open()
        else:
            # A socket belongs to the netns it was created in: enter the
            # container's netns in this thread only, open, come back.
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            target = os.open(f"/proc/{netns_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(target, CLONE_NEWNET)
                try:
                    self.sock = self._open()
                finally:
                    _setns(own, CLONE_NEWNET)
            finally:
                os.close(own)
                os.close(target)

    @staticmethod
    def _open() -> socket.socket:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        s.bind((0, 0))
        return s

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RTNL:  # noqa: PYI034  (3.11 has typing.Self, but this stays plain)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------

    def request(self, kind: str, mtype: int, flags: int, fields: dict[str, Any],
                attrs: list[Any]) -> list[Any]:
        """Send one message; return the decoded replies (dump) or [] (ACK)."""
        msg = self.msgs[kind]()
        for k, v in fields.items():
            msg[k] = v
        msg["attrs"] = attrs
        self.seq += 1
        msg["header"]["type"] = mtype
        msg["header"]["flags"] = NLM_F_REQUEST | flags
        msg["header"]["sequence_number"] = self.seq
        msg["header"]["pid"] = 0
        msg.encode()
        self.sock.send(msg.data)
        return list(self._replies(kind, dump=bool(flags & NLM_F_DUMP)))

    def _replies(self, kind: str, dump: bool) -> Iterator[Any]:
        cls = self.msgs[kind]
        while True:
            buf = self.sock.recv(1 << 16)
            off = 0
            while off + _HDR.size <= len(buf):
                length, mtype, _flags, seq, _pid = _HDR.unpack_from(buf, off)
                if length < _HDR.size:
                    return
                if seq != self.seq:
                    off += (length + 3) & ~3
                    continue
                if mtype == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", buf, off + _HDR.size)
                    if code:
                        raise NetlinkError(-code, os.strerror(-code))
                    return
                if mtype == NLMSG_DONE:
                    return
                m = cls(buf[off:off + length])
                m.decode()
                yield m
                off += (length + 3) & ~3
            if not dump:
                # a non-dump request answered by data only (no ACK asked)
                return

    # -- queries -----------------------------------------------------------

    def link(self, ifname: str) -> dict[str, Any] | None:
        try:
            (m,) = self.request("ifinfmsg", RTM_GETLINK, 0, {}, [["IFLA_IFNAME", ifname]])
        except NetlinkError as e:
            if e.errno == errno.ENODEV:
                return None
            raise
        return _link_info(m)

    def links(self) -> list[dict[str, Any]]:
        return [_link_info(m) for m in self.request("ifinfmsg", RTM_GETLINK, NLM_F_DUMP, {}, [])]

    def addresses(self, index: int | None = None) -> list[tuple[int, str, int]]:
        out = []
        for m in self.request("ifaddrmsg", RTM_GETADDR, NLM_F_DUMP, {"family": socket.AF_INET}, []):
            if index is None or m["index"] == index:
                out.append((m["index"], m.get_attr("IFA_ADDRESS"), m["prefixlen"]))
        return out

    def routes(self) -> list[str]:
        """Destinations (CIDR) of every IPv4 route in every table."""
        out = []
        for m in self.request("rtmsg", RTM_GETROUTE, NLM_F_DUMP, {"family": socket.AF_INET}, []):
            dst = m.get_attr("RTA_DST")
            if dst:
                out.append(f"{dst}/{m['dst_len']}")
        return out


    def default_gateway(self) -> str | None:
        """The gateway of the main table's IPv4 default route, if there is one."""
        for m in self.request("rtmsg", RTM_GETROUTE, NLM_F_DUMP, {"family": socket.AF_INET}, []):
            if m["dst_len"] == 0 and m["table"] == 254:
                return m.get_attr("RTA_GATEWAY") or ""
        return None


def _link_info(m: Any) -> dict[str, Any]:
    kind = None
    info = m.get_attr("IFLA_LINKINFO")
    if info is not None:
        kind = info.get_attr("IFLA_INFO_KIND")
    return {
        "index": m["index"],
        "name": m.get_attr("IFLA_IFNAME"),
        "kind": kind,
        "up": bool(m["flags"] & IFF_UP),
        "master": m.get_attr("IFLA_MASTER") or 0,
        "mtu": m.get_attr("IFLA_MTU"),
    }
