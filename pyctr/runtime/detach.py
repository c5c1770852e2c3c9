"""Starting a container that outlives the command: ``run -d``, ``start``, restarts.

The command forks a daemon (double fork, new session) that starts the
container and reports back over a pipe; the daemon then becomes the small
monitor (:mod:`pyctr.runtime.monitor`), which stays the container's
parent, logs its output and hands over to ``pyctr internal-finish`` when it
exits.
"""

from __future__ import annotations

import os
import socket
import sys

from pyctr.core.errors import RuntimeFailure
from pyctr.runtime.watching import attach_listener, attach_socket, health_schedule  # noqa: F401  (re-exported)

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.core.container import Container
    from pyctr.core.engine import Engine


def start_detached(engine: Engine, container: Container, client: socket.socket | None = None) -> int:
    """Start ``container`` under a monitor; return the init's host pid.

    ``client``: one end of a socket pair that the monitor serves as an attached
    client from before the container starts, so that none of its output is
    missed (``run -it``: the other end is this terminal's).

    A container of the ``conmon`` runtime driver is started under conmon instead
    (:mod:`pyctr.runtime.conmon_start`); ``client`` is for pyctr's monitor only (see
    :func:`start_attached`).
    """
    if client is None and _under_conmon(engine, container):
        from pyctr.runtime import conmon_start

        conmon_start.start_detached(engine, container)
        return container.pid
    r, w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        os.close(r)
        code = 125
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            _become_monitor(engine, container.id, w, client.fileno() if client is not None else -1)
        except BaseException as e:  # noqa: BLE001  (report everything to the waiting command)
            code = getattr(e, "exit_code", 125)
            try:
                os.write(w, f"err {code}:{e}".encode())
            except OSError:
                pass
        os._exit(code)
    os.close(w)
    os.waitpid(child, 0)
    chunks = []
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(r)
    message = b"".join(chunks).decode(errors="replace")
    if message.startswith("ok "):
        return int(message.split()[1])
    from pyctr.runtime.launch import ExecError

    if message.startswith("err "):
        code, _, text = message[4:].partition(":")
        raise ExecError(int(code) if code.isdigit() else 125, text)
    raise RuntimeFailure("the container's monitor died before the container started")


def start_attached(engine: Engine, container: Container) -> object:
    """Start ``container`` detached, attached from before its start (``run -it`` at a terminal):
    the connection to its watcher, for :func:`pyctr.runtime.attaching.relay`."""
    if _under_conmon(engine, container):
        from pyctr.runtime import conmon_start

        return conmon_start.start_detached(engine, container, attach=True).link
    ours, theirs = socket.socketpair()
    try:
        start_detached(engine, container, client=theirs)
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return ours


def _under_conmon(engine: Engine, container: Container) -> bool:
    """Whether the container's runtime driver watches detached containers with conmon."""
    if container.drivers.get("runtime", "pyctr") == "pyctr":
        return False  # (the built-in driver: its module is imported already, nothing to look up)
    from pyctr.runtime.conmon import ConmonRuntimeDriver

    return isinstance(engine.runtime_for(container), ConmonRuntimeDriver)


def _become_monitor(old_engine: Engine, container_id: str, report: int, client: int = -1) -> None:
    from pyctr.core.engine import Engine

    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    # A fresh connection: an SQLite handle must not cross fork.
    engine = Engine(old_engine.config)
    started = _start_piped(engine, container_id)
    engine.db.close()
    os.write(report, f"ok {started.pid}".encode())
    os.close(report)
    for fd in started.fds() + [client]:
        if fd >= 0:
            os.set_inheritable(fd, True)
    monitor = os.path.join(os.path.dirname(__file__), "monitor.py")
    cfg = engine.config
    container = started.container
    finish_argv = [sys.executable, "-m", "pyctr", "--root", str(cfg.root), "--runroot", str(cfg.runroot),
                   "internal-finish", container.id]
    args = [str(started.pid), started.log_path, *_log_arguments(container), health_schedule(container)] + [
        str(fd) if fd >= 0 else "-" for fd in started.fds() + [client]]
    os.execv(sys.executable, [sys.executable, "-S", "-I", monitor] + args + finish_argv)


class _Started:
    """A container started with its output on pipes (or its terminal), for a monitor to serve."""

    def __init__(self, container: Container, pid: int, log_path: str, out_r: int, err_r: int, in_w: int,
                 listener: socket.socket) -> None:
        self.container, self.pid, self.log_path = container, pid, log_path
        self.out_r, self.err_r, self.in_w, self.listener = out_r, err_r, in_w, listener

    def fds(self) -> list[int]:
        """The monitor's fds, in its argument order: stdout, stderr, stdin, attach listener."""
        return [self.out_r, self.err_r, self.in_w, self.listener.fileno()]


def _start_piped(engine: Engine, container_id: str) -> _Started:
    """Start the container with its stdio on pipes (or a terminal), its attach socket
    listening, and this process recorded as its monitor."""
    from pyctr.core import lifecycle
    from pyctr.core.container import lookup

    container = lookup(engine.db, engine.config.root, container_id)
    spec = container.spec
    log_path = str(container.dir / f"{container.id}-json.log") if spec.log_driver == "json-file" else "-"
    in_w = -1
    if spec.tty:
        from pyctr.runtime.tty import start_with_console

        pid, out_r = start_with_console(lambda console: lifecycle.start(engine, container, console=console))
        err_r = -1
        in_w = out_r if spec.interactive else -1
    else:
        if spec.interactive:
            stdin, in_w = os.pipe2(os.O_CLOEXEC)
        else:
            stdin = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        pid = lifecycle.start(engine, container, stdio=(stdin, out_w, err_w))
        for fd in (stdin, out_w, err_w):
            os.close(fd)
    listener = attach_listener(container)
    container.runtime["monitor"] = os.getpid()
    container.runtime.pop("conmon", None)  # (watched by this monitor, whatever watched its last start)
    container.save(engine.db)
    if spec.healthcheck:
        from pyctr.core import health

        if health.active(spec.healthcheck):
            health.reset(engine.db, container.id)  # starting again, as after every start
    return _Started(container, pid, log_path, out_r, err_r, in_w, listener)


def _log_arguments(container: Container) -> list[str]:
    """The monitor's rotation (MAX_SIZE,MAX_FILE,COMPRESS) and extra attributes (JSON, or -) arguments."""
    spec = container.spec
    if spec.log_driver != "json-file" or not spec.log_options:
        return ["-1,1,0", "-"]
    import json

    from pyctr.core import logconfig

    size, files, compress = logconfig.rotation(spec.log_options)
    attrs = logconfig.extra_attributes(spec.log_options, container.id, container.name, spec.image,
                                       container.image_id, spec.labels, spec.env)
    return [f"{size},{files},{int(compress)}", json.dumps(attrs, sort_keys=True) if attrs else "-"]
