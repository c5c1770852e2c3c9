"""A small synchronous rtnetlink client built on pyroute2's message classes.

Why not ``pyroute2.IPRoute``: importing any ``pyroute2.*`` module runs
``pyroute2/__init__.py``, which imports every protocol the library knows
(asyncio, NDB, IPDB, wireguard, ...): about 136 ms (230+ ms on a loaded
machine) on every ``pyctr run``. The bridge driver only needs the encoder and
decoder of three message kinds (``ifinfmsg``, ``ifaddrmsg``, ``rtmsg``), so
:func:`_light_import` loads exactly those submodules without executing the
package ``__init__``, and this module speaks netlink over a plain socket
(one request, wait for the ACK or the dump's end; no event loop).
"""

from __future__ import annotations

import _socket
import _thread
import _weakref
import ctypes
import errno
import importlib.util
import os
import struct
import sys
import types
from collections.abc import Iterator
from typing import Any

from pyctr.core.standins import import_with, real_module

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
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26

IFF_UP = 0x1

_HDR = struct.Struct("=IHHII")

_messages: dict[str, Any] | None = None


def _light_import() -> dict[str, Any]:
    """Import pyroute2's ifinfmsg/ifaddrmsg/rtmsg without pyroute2/__init__."""
    global _messages
    if _messages is not None:
        return _messages
    stubs: dict[str, types.ModuleType] = {}
    if "pyroute2" not in sys.modules:
        spec = importlib.util.find_spec("pyroute2")
        if spec is None or spec.submodule_search_locations is None:
            from pyctr.core.errors import PrerequisitesMissing

            raise PrerequisitesMissing("the bridge network driver needs pyroute2: pip install 'pyroute2>=0.9,<0.10'")
        stub = types.ModuleType("pyroute2")
        stub.__path__ = list(spec.submodule_search_locations)
        stub.__spec__ = spec
        stub.__file__ = spec.origin
        stubs["pyroute2"] = stub
        sys.modules["pyroute2"] = stub  # before the next find_spec, which would run the real __init__
    try:
        if "pyroute2.config" not in sys.modules:
            stubs["pyroute2.config"] = sys.modules["pyroute2.config"] = _config_stub()
        ifinf, ifaddr, rt = import_with(_CODEC_STAND_INS, "pyroute2.netlink.rtnl.ifinfmsg",
                                        "pyroute2.netlink.rtnl.ifaddrmsg", "pyroute2.netlink.rtnl.rtmsg")
    finally:
        for name, stub in stubs.items():
            if sys.modules.get(name) is stub:
                # A later plain "import pyroute2" must get the real package:
                # drop the stubs; the codec submodules stay cached and are reused.
                del sys.modules[name]
    _messages = {
        "ifinfmsg": ifinf.ifinfmsg,
        "ifaddrmsg": ifaddr.ifaddrmsg,
        "rtmsg": rt.rtmsg,
    }
    return _messages


def _config_stub() -> types.ModuleType:
    """``pyroute2.config`` as the codecs see it, without its imports.

    The real module imports multiprocessing and platform (about 7 ms) for
    IPDB/NDB settings; the three codecs read only the attributes set here.
    Any other attribute is taken from the real module, loaded on that first
    use under its own name (so nothing breaks if a later pyroute2 reads more).
    """
    spec = importlib.util.find_spec("pyroute2.config")
    stub = types.ModuleType("pyroute2.config")
    stub.__spec__ = spec
    stub.__file__ = spec.origin if spec else None
    stub.data_plugins_pkgs = []  # type: ignore[attr-defined]
    stub.data_plugins_path = []  # type: ignore[attr-defined]
    stub.machine = os.uname().machine  # type: ignore[attr-defined]  (platform.machine() is this)
    stub.AF_BRIDGE = getattr(_socket, "AF_BRIDGE", 7)  # type: ignore[attr-defined]
    stub.AF_NETLINK = getattr(_socket, "AF_NETLINK", 16)  # type: ignore[attr-defined]

    def real_attribute(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)  # the import system asks for __path__ and the like
        real = sys.modules.get("pyroute2.config")
        if real is None or real is stub:
            real = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            spec.loader.exec_module(real)  # type: ignore[union-attr]
        return getattr(real, name)

    stub.__getattr__ = real_attribute  # type: ignore[attr-defined]  (PEP 562)
    return stub


class _LazyLogger:
    """``logging.getLogger(name)``, importing logging when first used."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(real_module("logging").getLogger(self.name), attr)


#: The codecs' modules import logging, threading, traceback, weakref, socket
#: and pkgutil (with textwrap, string, selectors and more behind them: 15-25
#: ms) but at import only call ``logging.getLogger`` and
#: ``threading.Lock``/``local`` and read socket's constants, and later use
#: ``weakref.proxy`` and ``inet_pton``/``inet_ntop``; the rest is for their
#: error paths. (``socket.AddressFamily`` appears only in pyroute2.common's
#: signatures, and its constants are the plain ints of ``_socket``.)
_CODEC_STAND_INS = {
    "socket": {**{name: getattr(_socket, name) for name in ("AF_INET", "AF_INET6", "AF_UNSPEC", "inet_ntop",
                                                              "inet_pton")}, "AddressFamily": int},
    "pkgutil": {},
    "logging": {"getLogger": _LazyLogger},
    "threading": {"Lock": _thread.allocate_lock, "RLock": _thread.RLock, "local": _thread._local},
    "traceback": {},
    "weakref": {"proxy": _weakref.proxy},
}


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
        self.msgs = _light_import()
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
    def _open() -> _socket.socket:
        s = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_ROUTE)
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
        for m in self.request("ifaddrmsg", RTM_GETADDR, NLM_F_DUMP, {"family": _socket.AF_INET}, []):
            if index is None or m["index"] == index:
                out.append((m["index"], m.get_attr("IFA_ADDRESS"), m["prefixlen"]))
        return out

    def routes(self) -> list[str]:
        """Destinations (CIDR) of every IPv4 route in every table."""
        out = []
        for m in self.request("rtmsg", RTM_GETROUTE, NLM_F_DUMP, {"family": _socket.AF_INET}, []):
            dst = m.get_attr("RTA_DST")
            if dst:
                out.append(f"{dst}/{m['dst_len']}")
        return out


    def default_gateway(self) -> str | None:
        """The gateway of the main table's IPv4 default route, if there is one."""
        for m in self.request("rtmsg", RTM_GETROUTE, NLM_F_DUMP, {"family": _socket.AF_INET}, []):
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
