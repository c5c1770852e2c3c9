"""The service's socket and lifetime: ``pyctr system service [--time S] [URI]``.

* URI: ``unix:///run/pyctr/pyctr.sock`` by default (``$XDG_RUNTIME_DIR/pyctr/pyctr.sock``
  for a user other than root), a plain path, or ``tcp://127.0.0.1:PORT`` (loopback only:
  the API is root on this host to whoever reaches it).
* systemd socket activation: with ``LISTEN_PID`` = our pid and ``LISTEN_FDS`` >= 1, fd 3 is
  the listening socket (contrib/pyctr.socket), and it is never unlinked by us.
* The socket is made mode 0600; a stale one (nobody answers on it) is replaced, a live one
  is an error.
* ``--time``: exit after that many idle seconds (0: never). Idle means no request in flight,
  which includes every open stream and hijacked connection; open keep-alive connections
  between requests do not count.
* SIGTERM (and SIGINT): stop accepting, end the open streams, exit. Containers outlive the
  service: each one's monitor is a process of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterator

from pyctr.core.errors import UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.api.launcher import Launcher
    from pyctr.core.config import Config

DEFAULT_IDLE = 5.0


def default_uri() -> str:
    from pyctr.core import rootless

    if rootless.active() and os.environ.get("XDG_RUNTIME_DIR"):  # (inside its namespace the user is uid 0)
        return f"unix://{os.environ['XDG_RUNTIME_DIR']}/pyctr/pyctr.sock"
    return "unix:///run/pyctr/pyctr.sock"


class _State:
    """What every connection shares: settings, the launcher, the idle clock, the stop flag."""

    config: Config
    launcher: Launcher
    verbose: bool = False

    def init_state(self, config: Config, launcher: Launcher, verbose: bool) -> None:
        self.config = config
        self.launcher = launcher
        self.verbose = verbose
        self.stopping = threading.Event()
        self._busy = 0
        self._busy_lock = threading.Lock()
        self.last_active = time.monotonic()

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        with self._busy_lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._busy_lock:
                self._busy -= 1
                self.last_active = time.monotonic()

    def idle_for(self) -> float:
        with self._busy_lock:
            return 0.0 if self._busy else time.monotonic() - self.last_active


class UnixService(_State, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = socket.SOMAXCONN  # compose opens dozens of connections at once


class TcpService(_State, socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = socket.SOMAXCONN


Service = UnixService | TcpService


def _activated_socket() -> socket.socket | None:
    """The listening socket systemd passed (fd 3), if it passed one to us."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or int(os.environ.get("LISTEN_FDS") or 0) < 1:
        return None
    for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(key, None)  # not inherited by what we start
    sock = socket.socket(fileno=3)
    os.set_inheritable(3, False)
    return sock


def _unix_socket(path: str) -> socket.socket:
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if os.path.exists(path) or os.path.islink(path):
        import stat

        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise UsageError(f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # stale: nobody listens on it any more
        else:
            raise UsageError(f"another service is already listening on {path}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # 0600 from the start: no moment where others could connect
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return sock


def parse_uri(uri: str) -> tuple[str, str | tuple[str, int]]:
    """("unix", path) or ("tcp", (host, port))."""
    if uri.startswith("unix://"):
        path = uri[7:]
    elif uri.startswith("tcp://"):
        host, _, port = uri[6:].rstrip("/").rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        if not port.isdigit():
            raise UsageError(f"invalid service URI {uri!r}: tcp://HOST:PORT")
        import ipaddress

        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise UsageError(f"refusing to serve the API on {host}: only loopback addresses "
                             f"(anyone who reaches the API is root on this host)")
        return "tcp", (host, int(port))
    elif "://" not in uri:
        path = uri
    else:
        raise UsageError(f"invalid service URI {uri!r}: unix:///PATH or tcp://127.0.0.1:PORT")
    if not path.startswith("/"):
        raise UsageError(f"invalid service URI {uri!r}: the socket path must be absolute")
    return "unix", path


def make_service(config: Config, uri: str | None, launcher: Launcher, verbose: bool = False) -> Service:
    from pyctr.api.http import Request

    activated = _activated_socket()
    kind, address = parse_uri(uri or default_uri()) if activated is None else ("activated", "")
    if kind == "tcp":
        sys.stderr.write(f"WARNING: serving the API on tcp://{address[0]}:{address[1]}: "  # type: ignore[index]
                         f"every local user who can connect to it is root on this host\n")
        service: Service = TcpService(address, Request, bind_and_activate=True)  # type: ignore[arg-type]
    else:
        family = activated.family if activated is not None else socket.AF_UNIX
        cls = UnixService if family == socket.AF_UNIX else TcpService
        service = cls("" if cls is UnixService else ("", 0), Request, bind_and_activate=False)  # type: ignore[arg-type]
        service.socket.close()
        if activated is not None:
            service.socket = activated
            service.server_address = activated.getsockname()
            service.activated = True
        else:
            service.socket = _unix_socket(address)  # type: ignore[arg-type]
            service.server_address = address
            service.socket.listen(socket.SOMAXCONN)
    service.init_state(config, launcher, verbose)
    return service


def _start_at_boot(config: Config, verbose: bool) -> None:
    """As dockerd does when it starts: containers whose restart policy says so are started again."""
    from pyctr.core.engine import Engine
    from pyctr.runtime.detach import start_detached
    from pyctr.runtime.restarting import start_at_boot

    engine = Engine(config)
    try:
        for line in start_at_boot(engine, start_detached):
            if verbose:
                sys.stderr.write(f"pyctr service: {line}\n")
    except Exception as e:  # noqa: BLE001  (a store that cannot be read fails the first request, with its reason)
        sys.stderr.write(f"pyctr service: restart policies not applied: {e}\n")
    finally:
        if "db" in vars(engine):
            engine.db.close()


def serve(config: Config, uri: str | None = None, idle: float = DEFAULT_IDLE, verbose: bool = False) -> int:
    """Run the service until it is idle for ``idle`` seconds (0: never) or told to stop."""
    from pyctr.api import routes
    from pyctr.api.launcher import Launcher
    from pyctr.core.plugins import plugins

    routes.load()
    # loaded here, in the one thread there is: a load is not thread-safe, and the request threads
    # would race to be the first (compose's fifty creates at once saw hooks half set up)
    plugins.load()
    _start_at_boot(config, verbose)  # (forks: before any thread of ours exists)
    launcher = Launcher.start(config)
    try:
        service = make_service(config, uri, launcher, verbose)
    except BaseException:
        launcher.stop()
        raise
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # as dockerd: SIGUSR1 writes every thread's stack
    thread = threading.Thread(target=service.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True,
                              name="accept")
    thread.start()
    try:
        while not stop.wait(0.5):
            if idle > 0 and service.idle_for() >= idle:
                break
            if not launcher.alive():
                sys.stderr.write("pyctr service: the launcher process died; exiting\n")
                return 1
    finally:
        service.stopping.set()  # streams and hijacked connections see it within a second
        service.shutdown()
        deadline = time.monotonic() + 5
        while service.idle_for() == 0.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        service.server_close()
        if not getattr(service, "activated", False) and isinstance(service.server_address, str):
            with contextlib.suppress(OSError):
                os.unlink(service.server_address)
        launcher.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
