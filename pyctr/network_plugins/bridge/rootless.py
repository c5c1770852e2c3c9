"""The bridge driver for a rootless user: bridges in a network namespace of the user's own.

A rootless user cannot make links or rules in the host's network namespace,
but it can in one it made itself. As rootless podman's "rootless netns": one
network namespace per run root, made inside the user's namespace and kept by
a bind mount on ``<runroot>/network/rootless-netns`` (in the user's mount
namespace, so it lives as long as the pause process). The bridge driver's
kernel work (netlink, nftables, sysctls) runs unchanged in a thread that
joined it: a thread may ``setns`` into a network namespace on its own, and a
process forked from it (``nft``) starts there. The thread is needed because
a process cannot come back: the host's network namespace belongs to the
initial user namespace, which the user has no capabilities over.

Its way out is one ``slirp4netns`` process attached to it (the "uplink",
``tap0`` 10.0.2.100 with the default route via 10.0.2.2), running in the
host's network namespace as the user: containers' connections are
masqueraded onto ``tap0`` by the bridge's own rules and leave as the user's
sockets. A published port ``[ip:]hostport:port`` is a slirp host forward
``ip:hostport -> 10.0.2.100:hostport`` plus the bridge's DNAT rule in the
namespace (``hostport -> container:port``, without the host address, which
the namespace never sees). Host ports to choose (``-p 80``, ``-P``) are
picked in the host's namespace, before the thread runs.

The uplink is started by the first connect and ended by the disconnect that
leaves no container attached (under one lock, so a connect never finds it
ending); its pid is recorded in ``<runroot>/network/rootless-uplink.json``.
Containers on one user network find each other by name through their hosts
files, as root's do.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from pyctr.core.errors import DriverError, PrerequisitesMissing
from pyctr.kernel import linux

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

NETNS_FILE = "rootless-netns"
UPLINK_FILE = "rootless-uplink.json"
LOCK_FILE = "rootless-uplink.lock"
#: where slirp4netns configures its end in the namespace (its defaults)
UPLINK_ADDRESS = "10.0.2.100"
UPLINK_IFNAME = "tap0"


def probe() -> None:
    """What a rootless bridge needs besides the bridge's own: slirp4netns and /dev/net/tun."""
    from pyctr.network_plugins.slirp4netns import _find

    if _find("slirp4netns") is None:
        raise PrerequisitesMissing("a rootless user's bridge networks need slirp4netns for their way out "
                                   "(apt-get install slirp4netns)")
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        raise PrerequisitesMissing("a rootless user's bridge networks need /dev/net/tun readable and writable "
                                   "by you (distributions ship it 0666)")


class Netns:
    """The user's network namespace of one run root, and its uplink."""

    def __init__(self, runroot: Path) -> None:
        self.dir = Path(runroot) / "network"
        self.path = self.dir / NETNS_FILE

    # -- the namespace ----------------------------------------------------------

    def _mounted(self) -> bool:
        """Is the file a network namespace (a bind mount of nsfs), not the plain file a
        previous pause process's mount namespace left behind?"""
        try:
            return os.stat(self.path).st_dev == os.stat("/proc/thread-self/ns/net").st_dev
        except FileNotFoundError:
            return False

    def ensure(self, locked: bool = False) -> None:
        """Make the namespace if it is not there (under the uplink's lock: ``locked`` if the caller holds it)."""
        if self._mounted():
            return
        if locked:
            self._in_thread(self._make, None)
            return
        with self.lock():
            if not self._mounted():
                self._in_thread(self._make, None)

    def _make(self) -> None:
        # (in a thread of its own: the unshare moves only that thread)
        linux.unshare(linux.CLONE_NEWNET)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.close(fd)
        linux.mount("/proc/thread-self/ns/net", str(self.path), None, linux.MS_BIND)
        # A new namespace holds no rules: the nftables stamps of the last one (see bridge.nat.ensure)
        # must not vouch for it, should the kernel give it the same inode number.
        for stamp in self.dir.glob("nft-*.json"):
            with contextlib.suppress(FileNotFoundError):
                stamp.unlink()
        from pyctr.network_plugins.bridge.netlink import IFF_UP, NLM_F_ACK, RTM_NEWLINK, RTNL

        with RTNL() as rtnl:
            lo = rtnl.link("lo")
            if lo is not None:
                rtnl.request("ifinfmsg", RTM_NEWLINK, NLM_F_ACK,
                             {"index": lo["index"], "flags": IFF_UP, "change": IFF_UP}, [])

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in a thread inside the namespace (made already: :meth:`ensure`);
        its result, or its exception."""
        return self._in_thread(fn, str(self.path), *args, **kwargs)

    @staticmethod
    def _in_thread(fn: Any, netns: str | None, *args: Any, **kwargs: Any) -> Any:
        import threading  # (only a rootless user's bridged commands get here)

        outcome: dict[str, Any] = {}

        def body() -> None:
            try:
                if netns is not None:
                    fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
                    try:
                        linux.setns(fd, linux.CLONE_NEWNET)
                    finally:
                        os.close(fd)
                outcome["value"] = fn(*args, **kwargs)
            except BaseException as e:  # noqa: BLE001  (re-raised in the caller's thread)
                outcome["error"] = e

        thread = threading.Thread(target=body, name="pyctr-rootless-netns")
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")

    # -- the uplink -------------------------------------------------------------

    def lock(self) -> contextlib.AbstractContextManager[None]:
        from pyctr.core.state import flocked

        return flocked(self.dir / LOCK_FILE, dir_mode=0o700)

    def _record(self) -> dict[str, Any]:
        try:
            return json.loads((self.dir / UPLINK_FILE).read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _uplink_alive(self, record: dict[str, Any]) -> bool:
        from pyctr.network_plugins.slirp4netns import _starttime

        pid = int(record.get("pid") or 0)
        return pid > 0 and bool(record.get("starttime")) and _starttime(pid) == record["starttime"]

    def ensure_uplink(self) -> str:
        """The uplink's API socket, its slirp4netns started if none runs (call with :meth:`lock` held,
        from a thread in the host's network namespace: slirp4netns's sockets are made where it runs)."""
        from pyctr.network_plugins import slirp4netns as slirp

        record = self._record()
        if self._uplink_alive(record):
            return str(record["api"])
        self.ensure(locked=True)
        api = str(self.dir / "rootless-uplink.sock")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(api)
        argv = [slirp._find("slirp4netns") or "slirp4netns", "--configure", "--mtu=65520",
                "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp",
                "--api-socket", os.path.basename(api), "--ready-fd", "READY_FD",
                "--netns-type=path", str(self.path), UPLINK_IFNAME]
        pid = slirp._spawn(argv, self.dir, str(self.dir))
        record = {"pid": pid, "starttime": slirp._starttime(pid), "api": api}
        slirp._write_json(self.dir / UPLINK_FILE, record)
        try:
            slirp._wait_ready(pid, self.dir)
        except BaseException:
            self.stop_uplink()
            raise
        return api

    def stop_uplink(self) -> None:
        from pyctr.network_plugins.slirp4netns import _stop

        record = self._record()
        pid, starttime = int(record.get("pid") or 0), str(record.get("starttime") or "")
        _stop(pid, starttime)
        _wait_gone(pid, starttime)
        for leftover in (self.dir / UPLINK_FILE, self.dir / "rootless-uplink.sock", self.dir / "slirp4netns.log"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()

    # -- published ports ----------------------------------------------------------

    def forward(self, api: str, ports: list[Any]) -> None:
        """slirp host forwards ``host_ip:host_port -> 10.0.2.100:host_port`` for ``ports``."""
        from pyctr.network_plugins.slirp4netns import _add_hostfwd

        for p in ports:
            _add_hostfwd(api, {"proto": p.proto, "host_ip": p.host_ip, "host_port": p.host_port,
                               "container_port": p.host_port}, guest=UPLINK_ADDRESS)

    def unforward(self, keep: list[Any] | None = None, drop: list[Any] | None = None) -> int:
        """Remove the host forwards of ``drop`` (or of every port not in ``keep``); how many.
        Nothing to do when the uplink is not running (its forwards ended with it)."""
        from pyctr.network_plugins.slirp4netns import _api_call

        record = self._record()
        if not self._uplink_alive(record):
            return 0
        listed = _api_call(str(record["api"]), {"execute": "list_hostfwd"}).get("return", {}).get("entries", [])
        key = lambda proto, ip, port: (proto, ip or "0.0.0.0", int(port))  # noqa: E731
        dropping = {key(p.proto, p.host_ip, p.host_port) for p in drop or []}
        keeping = {key(p.proto, p.host_ip, p.host_port) for p in keep or []}
        gone = 0
        for entry in listed:
            k = key(entry.get("proto"), entry.get("host_addr"), entry.get("host_port", 0))
            if (drop is not None and k in dropping) or (keep is not None and k not in keeping):
                _api_call(str(record["api"]), {"execute": "remove_hostfwd", "arguments": {"id": entry["id"]}})
                gone += 1
        return gone


def _wait_gone(pid: int, starttime: str, timeout: float = 3.0) -> None:
    """Wait (a little) for a stopped uplink to end: a command that stopped it returns with it
    gone (or a zombie of its reaper's), not still exiting."""
    import time

    from pyctr.network_plugins.slirp4netns import _starttime

    deadline = time.monotonic() + timeout
    while pid > 0 and starttime and time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in ("Z", "X") or _starttime(pid) != starttime:
            return
        time.sleep(0.01)


def host_free_port(proto: str, host_ip: str) -> int:
    """A free port of the host's network namespace (call from a thread there)."""
    import socket

    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    try:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host_ip or "0.0.0.0", 0))
            return int(s.getsockname()[1])
    except OSError as e:
        raise DriverError(f"no free host port to publish on: {e.strerror}") from None


# ---------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------

from pyctr.network_plugins.bridge import ipam, plan  # noqa: E402

_CLASSES: dict[type, type] = {}


def driver_class(base: type) -> type:
    """The bridge driver class ``base`` with :class:`InUserNetns` in front (made once)."""
    if base not in _CLASSES:
        _CLASSES[base] = type("RootlessBridgeNetworkDriver", (InUserNetns, base),
                              {"__module__": __name__, "__doc__": InUserNetns.__doc__})
    return _CLASSES[base]


class InUserNetns:
    """The bridge driver of a rootless user (made by the bridge driver's class itself when
    :func:`pyctr.core.rootless.active`): the same work, in the user's network namespace.
    (A mixin put in front of the bridge driver's class by :func:`driver_class`, so that
    this module need not import the driver's, which imports it.)"""

    in_user_netns = True
    _db: Any
    _spec_ports: Any

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.netns = Netns(ctx.runroot)
        #: container id -> its published ports, host ports chosen in the host's namespace
        self._chosen: dict[str, list[plan.PortMapping]] = {}

    # -- the two places where the namespace differs from the host ------------------

    def _published(self, container: Any, want: dict[str, Any]) -> list[plan.PortMapping]:
        chosen = self._chosen.get(container.id)
        return list(chosen) if chosen is not None else self._spec_ports(want)

    def _dnat_ports(self, ports: list[plan.PortMapping]) -> list[plan.PortMapping]:
        # the uplink delivers every forward to 10.0.2.100:hostport: the host address is not seen here
        return [plan.PortMapping(p.proto, "", p.host_port, p.container_port) for p in ports]

    def _ports_of(self, container_id: str | None = None) -> list[plan.PortMapping]:
        return [p for ep in ipam.endpoints(self._db(), container_id) for p in ep.ports]

    def _stop_idle_uplink(self) -> None:
        """End the uplink when no container is attached any more."""
        with self.netns.lock():
            if not ipam.endpoints(self._db()):
                self.netns.stop_uplink()

    # -- NetworkDriver --------------------------------------------------------------

    def connect(self, container: Any, pid: int) -> Any:
        ports = self._spec_ports(dict(container.spec.network or {}))  # bad -p values stop here
        self._chosen[container.id] = [
            p if p.host_port else plan.PortMapping(p.proto, p.host_ip, host_free_port(p.proto, p.host_ip),
                                                   p.container_port) for p in ports]
        try:
            with self.netns.lock():
                api = self.netns.ensure_uplink()
                attachment = self.netns.call(super().connect, container, pid)
            try:
                self.netns.forward(api, self._ports_of(container.id))
            except BaseException:
                with contextlib.suppress(Exception):  # the first error is the one to report
                    self.disconnect(container)
                raise
        except BaseException:
            with contextlib.suppress(Exception):
                self._stop_idle_uplink()
            raise
        finally:
            self._chosen.pop(container.id, None)
        return attachment

    def disconnect(self, container: Any) -> None:
        published = self._ports_of(container.id)
        self.netns.ensure()
        self.netns.call(super().disconnect, container)
        with contextlib.suppress(OSError, ValueError, DriverError):  # (the uplink may be gone already)
            self.netns.unforward(drop=published)
        self._stop_idle_uplink()

    def cleanup_orphans(self, live_container_ids: set[str]) -> list[str]:
        self.netns.ensure()
        report = self.netns.call(super().cleanup_orphans, live_container_ids)
        with contextlib.suppress(OSError, ValueError, DriverError):
            n = self.netns.unforward(keep=self._ports_of())
            if n:
                report.append(f"{n} orphaned slirp4netns port forward(s)")
        self._stop_idle_uplink()
        return report

    def connect_network(self, container: Any, network: str, pid: int = 0, aliases: list[str] | None = None,
                        ip: str | None = None) -> Any:
        if not pid:
            return super().connect_network(container, network, pid, aliases, ip)  # records only
        with self.netns.lock():
            self.netns.ensure_uplink()
            return self.netns.call(super().connect_network, container, network, pid, aliases, ip)

    def disconnect_network(self, container: Any, network: str, pid: int = 0, force: bool = False) -> Any:
        self.netns.ensure()
        summary = self.netns.call(super().disconnect_network, container, network, pid, force)
        self._stop_idle_uplink()
        return summary

    def create_network(self, name: str, subnet: str | None = None, gateway: str | None = None,
                       internal: bool = False) -> dict[str, Any]:
        self.netns.ensure()
        return self.netns.call(super().create_network, name, subnet, gateway, internal)

    def remove_network(self, ref: str) -> None:
        self.netns.ensure()
        self.netns.call(super().remove_network, ref)

    def prune_networks(self) -> list[str]:
        self.netns.ensure()
        return self.netns.call(super().prune_networks)

    def inspect_network(self, ref: str) -> dict[str, Any]:
        self.netns.ensure()
        return self.netns.call(super().inspect_network, ref)

    def release_default_network(self) -> list[str]:
        # (system prune's bridge plugin: the default network's bridge is in the namespace too)
        self.netns.ensure()
        return self.netns.call(super().release_default_network)

    def status(self) -> list[tuple[str, str]]:
        return super().status() + [("Rootless netns", str(self.netns.path)),
                                   ("Uplink", "slirp4netns (10.0.2.100 in the namespace)")]
