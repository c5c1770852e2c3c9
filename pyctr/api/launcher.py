"""The launcher: a single-threaded process that forks the service's process work.

The service answers requests in threads, and forking a threaded process is
unsafe: a lock another thread held at that moment (SQLite's, the allocator's,
a logging handler's) stays locked forever in the child. Starting a container
forks (its monitor, its init), and so do exec and a pull's unpacking workers.
So the service starts this process once, as a fresh interpreter (fork and exec
are safe from threads), with pyctr's start path already imported; for each job
the service sends a request and the file descriptors that go with it over a
SOCK_SEQPACKET socket pair, and the launcher forks a worker for it. The worker
talks to the requesting thread over a socket of the job's own: JSON messages,
each one packet, file descriptors alongside where needed (a terminal's master).

A worker that starts a container stays on as its monitor (see
pyctr.runtime.detach.run_monitored): a process of its own session, which
outlives the service and the launcher.

Run as ``python -m pyctr.api.launcher FD`` with the settings as JSON in
``PYCTR_LAUNCHER_CONFIG``.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.core.config import Config
    from pyctr.core.engine import Engine

#: the largest message either side sends (JSON; progress lines are small)
MAX_MESSAGE = 1 << 16
MAX_FDS = 64


class JobFailed(Exception):
    """A job's worker reported an error: ``status`` (HTTP), ``kind`` (the pyctr error's class name)."""

    def __init__(self, message: str, status: int = 500, kind: str = "", exit_code: int = 125) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.exit_code = exit_code


class Job:
    """The service's end of one job."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def receive(self, timeout: float | None = None) -> tuple[dict[str, Any] | None, list[int]]:
        """The next message and the fds that came with it; (None, []) when the worker is gone.
        An ``error`` message raises :class:`JobFailed`."""
        if timeout is not None:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                raise TimeoutError
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.sock, MAX_MESSAGE, MAX_FDS)
        except OSError:
            return None, []
        if not data:
            return None, list(fds)
        message = json.loads(data)
        if "error" in message:
            for fd in fds:
                os.close(fd)
            raise JobFailed(message["error"], message.get("status", 500), message.get("kind", ""),
                            message.get("exit_code", 125))
        return message, list(fds)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


class Launcher:
    """The service's handle on its launcher process."""

    def __init__(self, proc: subprocess.Popen[bytes], control: socket.socket) -> None:
        self.proc = proc
        self.control = control
        self.lock = threading.Lock()

    @classmethod
    def start(cls, config: Config) -> Launcher:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ, PYCTR_LAUNCHER_CONFIG=json.dumps(config.as_dict()))
        proc = subprocess.Popen([sys.executable, "-m", "pyctr.api.launcher", str(theirs.fileno())],
                                pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        ours.setblocking(True)
        launcher = cls(proc, ours)
        job = launcher.submit("ready", {})  # wait until it has loaded what it preloads
        try:
            job.receive(timeout=60)
        finally:
            job.close()
        return launcher

    def submit(self, op: str, args: dict[str, Any], fds: list[int] = ()) -> Job:  # type: ignore[assignment]
        """Start a job in a worker of its own; ``fds`` are duplicated into it (the caller keeps its own)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with self.lock:
                socket.send_fds(self.control, [json.dumps({"op": op, "args": args}).encode()],
                                [theirs.fileno(), *fds])
        except OSError:
            ours.close()
            raise JobFailed("the service's launcher is gone") from None
        finally:
            theirs.close()
        return Job(ours)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.control.close()  # end of file: it exits; its workers (monitors) go on
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the launcher process ---------------------------------------------------------------

def config_from_env(variable: str = "PYCTR_LAUNCHER_CONFIG") -> Config:
    """The settings a parent resolved, passed as JSON (Config.as_dict) in ``variable``."""
    from pathlib import Path

    from pyctr.core.config import Config

    data = json.loads(os.environ.pop(variable))
    data["root"], data["runroot"] = Path(data["root"]), Path(data["runroot"])
    for key, value in data.items():  # JSON has lists where the settings hold tuples
        if isinstance(value, list):
            data[key] = tuple(value)
        elif isinstance(value, dict) and key != "origin":
            data[key] = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
    return Config(**data)


def _preload(config: Config) -> None:
    """Import what a container start needs, and pick the drivers once, so that each worker
    forked from here starts with them loaded (the start path's imports are ~20 ms)."""
    from pyctr.api import jobs  # noqa: F401  (the ops)
    from pyctr.core.engine import Engine
    from pyctr.core.plugins import plugins

    plugins.configure(config.as_dict())
    engine = Engine(config)
    try:
        engine.storage  # noqa: B018
        engine.driver("cgroup", config.cgroup_manager)
        engine.driver("network", config.network)
        plugins.load()  # (the hook plugins, loaded)
    except Exception:  # noqa: BLE001, S110  (a driver that cannot load fails in the job, with its reason)
        pass
    finally:
        if "db" in vars(engine):
            engine.db.close()  # no SQLite handle may cross a fork


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


class _Reply:
    """A worker's way back to the request: ``reply(message, fds)``; ``reply.close()`` when done early."""

    def __init__(self, channel: socket.socket) -> None:
        self.channel = channel

    def __call__(self, message: dict[str, Any], send: list[int] = ()) -> None:  # type: ignore[assignment]
        socket.send_fds(self.channel, [json.dumps(message).encode()], list(send))

    def close(self) -> None:
        self.channel.close()


def _run_job(config: Config, request: dict[str, Any], channel: socket.socket, fds: list[int]) -> None:
    from pyctr.core.engine import Engine
    from pyctr.core.errors import PyctrError

    reply = _Reply(channel)
    engine: Engine = Engine(config)
    try:
        from pyctr.api.jobs import OPS  # (this file runs as __main__: the registry is jobs')

        fn = OPS.get(request.get("op", ""))
        if fn is None:
            raise PyctrError(f"unknown launcher job {request.get('op')!r}")
        fn(engine, reply, fds, request.get("args") or {})
    except BaseException as e:  # noqa: BLE001  (every failure goes back to the waiting request)
        from pyctr.api.errors import message_of, status_of

        try:
            reply({"error": message_of(e) if isinstance(e, PyctrError | OSError) else
                   f"internal error: {type(e).__name__}: {e}",
                   "status": status_of(e), "kind": type(e).__name__, "exit_code": getattr(e, "exit_code", 125)})
        except OSError:
            pass


def main(argv: list[str]) -> None:
    import signal

    control = socket.socket(fileno=int(argv[0]))
    config = config_from_env()
    _preload(config)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the service decides when we stop (end of file)
    while True:
        ready, _, _ = select.select([control], [], [], 1.0)
        _reap()
        if not ready:
            continue
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, MAX_MESSAGE, MAX_FDS)
        except OSError:
            break
        if not data:
            break
        if not fds:
            continue
        request = json.loads(data)
        if request.get("op") == "ready":
            channel = socket.socket(fileno=fds[0])
            socket.send_fds(channel, [b"{}"], [])
            channel.close()
            for fd in fds[1:]:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                control.close()
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.setsid()  # a session of its own: the service's terminal and signals are not its own
                channel = socket.socket(fileno=fds[0])
                _run_job(config, request, channel, fds[1:])
            except BaseException:  # noqa: BLE001
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        for fd in fds:
            os.close(fd)
    _reap()


if __name__ == "__main__":
    main(sys.argv[1:])
