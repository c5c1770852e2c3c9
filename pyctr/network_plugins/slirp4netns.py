"""The ``slirp4netns`` network driver: rootless networking in user space, as rootless podman's.

A rootless user cannot make veths into the host's network namespace, so the
container's own namespace gets a tap device whose other end is the
``slirp4netns`` process (Debian's slirp4netns), a TCP/IP stack in user space
that lives in the host's namespace and makes ordinary sockets there for the
container's connections: outbound traffic leaves as the user's own. Inside::

    tap0 10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3 (slirp's forwarder to the host's resolvers)

Published ports (``-p [ip:][hostport:]port[/proto]``, ``-P``) are slirp's host
forwards, added through its API socket: slirp4netns listens on the host's
address (127.0.0.1, or every address by default) and connects to the
container's 10.0.2.100. Ports below ``net.ipv4.ip_unprivileged_port_start``
cannot be bound by an unprivileged user: refused when the container is
created, before anything exists.

The default network of a rootless user (:data:`pyctr.core.selection.PRIORITY`:
the bridge driver says it needs root). Options (``PYCTR_NETWORK_OPT="k=v;..."``):
``allow_host_loopback=true`` lets the container reach the host's 127.0.0.1
as 10.0.2.2 (off by default, as podman's), ``mtu`` (65520).

Each container's helper is recorded in ``<runroot>/slirp4netns/<id>.json``
(pid and start time, API socket, ports) before the container's command
starts; ``disconnect`` ends it from that record alone, after a crash too.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from pyctr import hookimpl
from pyctr.core.drivers import DriverContext, NetworkAttachment, NetworkDriver
from pyctr.core.errors import DriverError, PrerequisitesMissing, UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

ADDRESS = "10.0.2.100"
GATEWAY = "10.0.2.2"
DNS = "10.0.2.3"
TAP = "tap0"


def _find(name: str) -> str | None:
    for directory in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":"):
        path = os.path.join(directory, name)
        if directory and os.access(path, os.X_OK) and os.path.isfile(path):
            return path
    return None


def _env_options() -> dict[str, str]:
    out = {}
    for item in os.environ.get("PYCTR_NETWORK_OPT", "").split(";"):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def parse_port(text: str) -> dict[str, Any]:
    """``[ip:][hostport:]containerport[/proto]`` (Docker's -p, one port) as a mapping dict."""
    spec, _, proto = str(text).partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp"):
        raise UsageError(f"invalid protocol {proto!r} in {text!r}: tcp or udp")
    parts = spec.rsplit(":", 2)
    host_ip, host_port, cport = (["", ""] + parts)[-3:] if len(parts) < 3 else parts
    host_ip = host_ip.strip("[]")
    if host_ip in ("0.0.0.0", "::"):
        host_ip = ""
    try:
        if host_ip:
            import ipaddress

            ipaddress.IPv4Address(host_ip)
        hp = int(host_port) if host_port else 0
        cp = int(cport)
    except ValueError:
        raise UsageError(f"invalid port mapping {text!r}: want [ip:][hostport:]port[/tcp|udp]") from None
    if not (0 <= hp <= 65535 and 0 < cp <= 65535):
        raise UsageError(f"invalid port in {text!r}")
    return {"proto": proto, "host_ip": host_ip, "host_port": hp, "container_port": cp}


def unprivileged_port_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1024


def wanted_ports(network: dict[str, Any]) -> list[dict[str, Any]]:
    ports = [parse_port(p) for p in network.get("ports") or []]
    if network.get("publish_all"):
        for e in network.get("expose") or []:
            port, _, proto = str(e).partition("/")
            ports.append({"proto": proto or "tcp", "host_ip": "", "host_port": 0, "container_port": int(port)})
    return ports


class Slirp4netnsNetworkDriver(NetworkDriver):
    wants_network_namespace = True
    priority = 20

    def __init__(self, ctx: DriverContext) -> None:
        super().__init__(ctx)
        options = _env_options()
        options.update(ctx.options)
        self.allow_host_loopback = options.get("allow_host_loopback", "false").lower() in ("1", "true", "yes")
        self.mtu = int(options.get("mtu", "65520"))
        self.records = Path(ctx.runroot) / "slirp4netns"

    @classmethod
    def probe(cls, ctx: DriverContext) -> None:
        if _find("slirp4netns") is None:
            raise PrerequisitesMissing("slirp4netns is not installed (apt-get install slirp4netns)")
        if not os.path.exists("/dev/net/tun"):
            raise PrerequisitesMissing("slirp4netns needs /dev/net/tun (modprobe tun)")

    # -- at create: refuse what cannot work, before anything exists -------------

    @hookimpl
    def pyctr_modify_container_spec(self, spec: Any) -> None:
        floor = unprivileged_port_start()
        rootless = os.geteuid() != 0 or os.environ.get("_PYCTR_ROOTLESS_UID")
        for p in wanted_ports(spec.network or {}):
            if rootless and 0 < p["host_port"] < floor:
                raise UsageError(
                    f"port {p['host_port']} is privileged (below net.ipv4.ip_unprivileged_port_start={floor}): "
                    f"a rootless user cannot publish on it; use a port from {floor} up (-p {max(floor, 8080)}:"
                    f"{p['container_port']}) or lower that sysctl")

    # -- connect / disconnect ---------------------------------------------------

    def _record_path(self, container_id: str) -> Path:
        return self.records / f"{container_id}.json"

    def _socket_path(self, container_id: str) -> str:
        return str(self.records / f"{container_id[:16]}.sock")

    def connect(self, container: Any, pid: int) -> NetworkAttachment:
        ports = wanted_ports(container.spec.network or {})
        self.records.mkdir(parents=True, exist_ok=True, mode=0o700)
        for p in ports:
            if not p["host_port"]:
                p["host_port"] = _free_port(p)
        api = self._socket_path(container.id)
        record = {"pid": 0, "starttime": "", "api": api, "ports": ports}
        _write_json(self._record_path(container.id), record)
        try:
            os.unlink(api)
        except FileNotFoundError:
            pass
        helper = _spawn(self._argv(pid, os.path.basename(api)), container.dir, str(self.records))
        record.update(pid=helper, starttime=_starttime(helper))
        _write_json(self._record_path(container.id), record)
        try:
            _wait_ready(helper, container.dir)
            for p in ports:
                _add_hostfwd(api, p)
        except BaseException:
            self.disconnect(container)
            raise
        _write_resolv_conf(container.dir, container.spec.network or {})
        return NetworkAttachment(network="slirp4netns", ip_address=ADDRESS, prefix_len=24, gateway=GATEWAY,
                                 extra={"ports": ports, "helper": "slirp4netns"})

    def _argv(self, pid: int, api: str) -> list[str]:
        argv = [_find("slirp4netns") or "slirp4netns", "--configure", f"--mtu={self.mtu}",
                "--enable-sandbox", "--enable-seccomp", "--api-socket", api, "--ready-fd", "READY_FD"]
        if not self.allow_host_loopback:
            argv.append("--disable-host-loopback")
        return argv + [str(pid), TAP]

    def disconnect(self, container: Any) -> None:
        path = self._record_path(container.id)
        try:
            record = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return
        _stop(int(record.get("pid") or 0), str(record.get("starttime") or ""))
        for leftover in (record.get("api"), str(Path(container.dir) / "slirp4netns.log")):
            try:
                os.unlink(leftover)
            except (FileNotFoundError, TypeError):
                pass
        path.unlink(missing_ok=True)

    def cleanup_orphans(self, live_container_ids: set[str]) -> list[str]:
        gone = []
        if not self.records.is_dir():
            return gone
        for entry in self.records.glob("*.json"):
            cid = entry.stem
            if cid in live_container_ids:
                continue
            try:
                record = json.loads(entry.read_text())
            except ValueError:
                record = {}
            _stop(int(record.get("pid") or 0), str(record.get("starttime") or ""))
            for leftover in (record.get("api"),):
                if leftover:
                    Path(leftover).unlink(missing_ok=True)
            entry.unlink(missing_ok=True)
            gone.append(f"stopped the slirp4netns of container {cid[:12]}, which no longer exists")
        return gone

    def ports(self, container_id: str) -> list[dict[str, Any]]:
        """Published ports of a container (``pyctr port``)."""
        try:
            return list(json.loads(self._record_path(container_id).read_text()).get("ports") or [])
        except (FileNotFoundError, ValueError):
            return []

    def status(self) -> list[tuple[str, str]]:
        return [("Helper", _find("slirp4netns") or "slirp4netns (not found)"),
                ("Host loopback", "allowed" if self.allow_host_loopback else "not reachable")]


# ---------------------------------------------------------------------------
# the helper process
# ---------------------------------------------------------------------------


def _spawn(argv: list[str], container_dir: Any, cwd: str) -> int:
    """Start slirp4netns in a session of its own (it outlives a detached run's command);
    its complaints go to a log file in the container's directory, read if it fails.
    ``READY_FD`` in ``argv`` becomes the write end of the pipe it says "1" on when ready."""
    import subprocess

    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    argv = [a.replace("READY_FD", str(ready_w)) for a in argv]
    log = os.open(os.path.join(str(container_dir), "slirp4netns.log"),
                  os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(ready_w,),
                                start_new_session=True, cwd=cwd)  # (the API socket's path is relative to it)
    except OSError as e:
        os.close(ready_r)
        raise DriverError(f"cannot start slirp4netns: {e.strerror}") from None
    finally:
        os.close(log)
        os.close(ready_w)
    _READY[proc.pid] = (ready_r, proc)
    return proc.pid


#: helper pid -> (the read end of its ready pipe, its Popen)
_READY: dict[int, tuple[int, Any]] = {}


def _wait_ready(pid: int, container_dir: Any) -> None:
    ready_r, proc = _READY.pop(pid)
    try:
        said = os.read(ready_r, 1)
    finally:
        os.close(ready_r)
    if said == b"1":
        return
    proc.wait()
    try:
        with open(os.path.join(str(container_dir), "slirp4netns.log")) as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        lines = []
    why = lines[-1] if lines else f"exit status {proc.returncode}"
    if "/dev/net/tun" in why or "tun" in why.lower() and "permission" in why.lower():
        why += " (rootless networking needs /dev/net/tun readable and writable by you: distributions ship it 0666)"
    raise DriverError(f"slirp4netns failed: {why}")


def _starttime(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return ""
    return stat[stat.rindex(")") + 2:].split()[19]


def _stop(pid: int, starttime: str) -> None:
    """End the helper if ``pid`` is still it (never a process that reused the number)."""
    if pid <= 0 or not starttime or _starttime(pid) != starttime:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)  # ours when this process started it (run in the foreground)
    except ChildProcessError:
        pass


def _free_port(p: dict[str, Any]) -> int:
    import socket

    kind = socket.SOCK_STREAM if p["proto"] == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((p["host_ip"] or "0.0.0.0", 0))
        return int(s.getsockname()[1])


def _add_hostfwd(api: str, p: dict[str, Any], guest: str = ADDRESS) -> None:
    request = {"execute": "add_hostfwd", "arguments": {
        "proto": p["proto"], "host_addr": p["host_ip"] or "0.0.0.0", "host_port": p["host_port"],
        "guest_addr": guest, "guest_port": p["container_port"]}}
    reply = _api_call(api, request)
    if "error" in reply:
        desc = reply["error"].get("desc", reply["error"]) if isinstance(reply["error"], dict) else reply["error"]
        where = f"{p['host_ip'] or '0.0.0.0'}:{p['host_port']}/{p['proto']}"
        raise DriverError(f"cannot publish {where}: {desc} (is the port in use?)")


def _api_call(api: str, request: dict[str, Any]) -> dict[str, Any]:
    """One request to slirp4netns's API socket, its JSON answer (it speaks once per connection)."""
    import socket

    # A unix socket's path must fit in 108 bytes; the run root's may not: reach it
    # through a descriptor of its directory instead.
    dir_fd = os.open(os.path.dirname(api), os.O_PATH | os.O_CLOEXEC)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(f"/proc/self/fd/{dir_fd}/{os.path.basename(api)}")
            s.sendall(json.dumps(request).encode())
            s.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
    finally:
        os.close(dir_fd)
    reply = json.loads(answer or b"{}")
    return reply if isinstance(reply, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _write_resolv_conf(container_dir: Any, network: dict[str, Any]) -> None:
    """slirp's DNS forwarder, unless --dns named servers."""
    servers = list(network.get("dns") or []) or [DNS]
    lines = [f"nameserver {s}" for s in servers]
    if network.get("dns_search"):
        lines.append("search " + " ".join(network["dns_search"]))
    if network.get("dns_options"):
        lines.append("options " + " ".join(network["dns_options"]))
    path = os.path.join(str(container_dir), "resolv.conf")
    with open(path, "w") as f:  # in place: the init binds this very file
        f.write("\n".join(lines) + "\n")
