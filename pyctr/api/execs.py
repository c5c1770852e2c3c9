"""``/containers/{id}/exec``, ``/exec/{id}/start`` (hijacked, or detached), ``/exec/{id}/resize``,
``/exec/{id}/json``.

An exec is kept in this process's memory, as dockerd keeps it. Its process is
started by a launcher worker (a fork: pyctr.api.launcher) with pipes made
here (or a terminal whose master comes back here), which waits for it and
reports the exit code; the code is recorded before the hijacked connection
closes, so a client's ``exec_inspect`` right after the stream ends sees it.
"""

from __future__ import annotations

import fcntl
import os
import select
import socket
import struct
import termios
import threading

from pyctr.api.errors import ApiError
from pyctr.api.objects import is_running, lookup
from pyctr.api.routes import route

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.api.http import Request


class Exec:
    def __init__(self, ident: str, container_id: str, config: dict[str, Any]) -> None:
        self.id = ident
        self.container_id = container_id
        self.config = config
        self.running = False
        self.started = False
        self.exit_code: int | None = None
        self.pid = 0
        self.master: int | None = None
        self.lock = threading.Lock()

    def json(self) -> dict[str, Any]:
        cmd = self.config["Cmd"]
        return {
            "ID": self.id, "Running": self.running, "ExitCode": self.exit_code, "CanRemove": not self.running,
            "ContainerID": self.container_id, "DetachKeys": self.config.get("DetachKeys") or "",
            "OpenStdin": self.config["AttachStdin"], "OpenStdout": self.config["AttachStdout"],
            "OpenStderr": self.config["AttachStderr"], "Pid": self.pid,
            "ProcessConfig": {"tty": self.config["Tty"], "entrypoint": cmd[0], "arguments": cmd[1:],
                              "privileged": self.config["Privileged"], "user": self.config["User"]},
        }


_execs: dict[str, Exec] = {}
_execs_lock = threading.Lock()
#: execs kept after they end, per container (dockerd keeps them until the container goes)
MAX_KEPT = 256


def _get(ident: str) -> Exec:
    with _execs_lock:
        found = _execs.get(ident)
        if found is None and len(ident) >= 4:
            matches = [e for k, e in _execs.items() if k.startswith(ident)]
            found = matches[0] if len(matches) == 1 else None
    if found is None:
        raise ApiError(404, f"No such exec instance: {ident}")
    return found


def _strings(body: dict[str, Any], key: str, default: list[str] | None = None) -> list[str]:
    value = body.get(key)
    if value is None:
        return list(default or [])
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"invalid value for {key}: want a list of strings")
    return value


_EXEC_FIELDS = ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "Privileged", "User", "WorkingDir",
                "DetachKeys", "Cmd", "Env", "ConsoleSize")


def _go_case(body: Any, fields: tuple[str, ...]) -> Any:
    """Field names as Go's JSON decoder matches them: in any case (docker-py sends ``detachKeys``)."""
    if not isinstance(body, dict):
        return body
    canonical = {f.lower(): f for f in fields}
    return {canonical.get(k.lower(), k) if isinstance(k, str) else k: v for k, v in body.items()}


@route("POST", "/containers/{id}/exec")
def create(req: Request, id: str) -> None:  # noqa: A002
    from pyctr.core import events

    engine = req.engine
    c = lookup(engine, id)
    body = _go_case(req.body_json(required=True), _EXEC_FIELDS)
    cmd = _strings(body, "Cmd")
    if not cmd:
        raise ApiError(400, "No exec command specified")
    config: dict[str, Any] = {"Cmd": cmd, "Env": _strings(body, "Env")}
    for key in ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "Privileged"):
        value = body.get(key, False)
        if not isinstance(value, bool):
            raise ApiError(400, f"invalid value for {key}: want a boolean")
        config[key] = value
    for key in ("User", "WorkingDir", "DetachKeys"):
        value = body.get(key) or ""
        if not isinstance(value, str):
            raise ApiError(400, f"invalid value for {key}: want a string")
        config[key] = value
    if not is_running(c):
        raise ApiError(409, f"Container {c.id} is not running")
    if c.status == "paused":
        raise ApiError(409, f"Container {c.id} is paused, unpause the container before exec")
    ident = os.urandom(32).hex()
    with _execs_lock:
        if len(_execs) >= MAX_KEPT:
            for key in [k for k, e in _execs.items() if e.exit_code is not None][: len(_execs) // 2]:
                _execs.pop(key, None)
        _execs[ident] = Exec(ident, c.id, config)
    events.record(engine, "container", f"exec_create: {' '.join(cmd)}", c.id,
                  events.container_attributes(c, execID=ident))
    req.json({"Id": ident}, status=201)


@route("GET", "/exec/{id}/json")
def inspect(req: Request, id: str) -> None:  # noqa: A002
    req.json(_get(id).json())


@route("POST", "/exec/{id}/resize")
def resize(req: Request, id: str) -> None:  # noqa: A002
    ex = _get(id)
    height, width = req.int_arg("h", 0), req.int_arg("w", 0)
    if height is None or width is None or not (0 <= height <= 65535 and 0 <= width <= 65535):
        raise ApiError(400, "invalid terminal size")
    if not ex.running:
        raise ApiError(409, f"Exec {ex.id} is not running")
    if ex.master is not None and height and width:
        try:
            fcntl.ioctl(ex.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        except OSError:
            pass
    req.empty(200)


@route("POST", "/exec/{id}/start")
def start(req: Request, id: str) -> None:  # noqa: A002
    from pyctr.api.launcher import JobFailed
    from pyctr.api.streams import STDERR, content_type, stdcopy
    from pyctr.core import events

    ex = _get(id)
    body = req.body_json()
    detach = bool(body.get("Detach"))
    # dockerd frames the stream by the *start* request's Tty (raw) or not (stdcopy), whatever the exec's own
    raw = bool(body.get("Tty"))
    engine = req.engine
    c = lookup(engine, ex.container_id)
    with ex.lock:
        if ex.started:
            raise ApiError(409, f"Exec {ex.id} has already been started")
        if not is_running(c):
            raise ApiError(409, f"Container {c.id} is not running")
        ex.started = True
    cfg = ex.config
    tty = cfg["Tty"]
    ours: list[int] = []  # our ends: stdin (write), stdout (read), stderr (read)
    theirs: list[int] = []
    if not tty and not detach:
        if cfg["AttachStdin"]:
            r, w = os.pipe2(os.O_CLOEXEC)
            theirs.append(r)
            ours.append(w)
        else:
            theirs.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
            ours.append(-1)
        for wanted in (cfg["AttachStdout"], cfg["AttachStderr"]):
            if wanted:
                r, w = os.pipe2(os.O_CLOEXEC)
                theirs.append(w)
                ours.append(r)
            else:
                theirs.append(os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC))
                ours.append(-1)
    args = {"container": c.id, "cmd": cfg["Cmd"], "env": cfg["Env"], "user": cfg["User"],
            "workdir": cfg["WorkingDir"], "privileged": cfg["Privileged"], "tty": tty, "piped": bool(theirs)}
    sock = None
    if not detach:  # the upgrade first: a command that cannot start is reported on the stream, as dockerd does
        sock, early = req.hijack(content_type(req, raw))
    try:
        job = req.server.launcher.submit("exec", args, theirs)
    finally:
        for fd in theirs:
            os.close(fd)
    try:
        message, fds = job.receive()
        if message is None:
            raise JobFailed("the exec's process did not start")
    except JobFailed as e:
        for fd in ours:
            if fd >= 0:
                os.close(fd)
        job.close()
        ex.exit_code = 126  # dockerd's code for every exec that cannot start ("OCI runtime exec failed")
        if sock is None:
            raise ApiError(e.status if e.status != 404 else 500, str(e)) from None
        text = f"OCI runtime exec failed: exec failed: {e}: unknown\r\n".encode()
        try:
            sock.sendall(text if raw else stdcopy(STDERR, text))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return
    ex.pid, ex.running = message.get("pid", 0), True
    if fds:
        ex.master = fds[0]
    events.record(engine, "container", f"exec_start: {' '.join(cfg['Cmd'])}", c.id,
                  events.container_attributes(c, execID=ex.id))
    if sock is None:
        threading.Thread(target=_reap, args=(ex, job, engine, c), daemon=True, name="exec").start()
        req.empty(200)
        return
    detached = False
    try:
        if tty:
            detached = _relay_tty(req, ex, sock, early, job, raw)
        else:
            _relay_pipes(req, ex, sock, early, ours, job)
    finally:
        if detached:  # the client typed the detach keys: the command goes on, its exit is recorded later
            threading.Thread(target=_reap, args=(ex, job, engine, c), daemon=True, name="exec").start()
        else:
            _finish(ex, job, engine, c)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _finish(ex: Exec, job: Any, engine: Any, c: Any) -> None:
    """Wait for the exit code (the worker reports it after its wait), record it, close what is left."""
    from pyctr.core import events

    if ex.exit_code is None:
        try:
            message, _ = job.receive(timeout=None)
            if message is not None and "exit" in message:
                ex.exit_code = int(message["exit"])
        except Exception:  # noqa: BLE001, S110  (a worker that died: the exit code stays unknown)
            pass
    ex.running = False
    job.close()
    if ex.master is not None:
        try:
            os.close(ex.master)
        except OSError:
            pass
        ex.master = None
    events.record(engine, "container", "exec_die", c.id,
                  events.container_attributes(c, execID=ex.id, exitCode=ex.exit_code if ex.exit_code is not None else -1))


def _reap(ex: Exec, job: Any, engine: Any, c: Any) -> None:
    from pyctr.core.engine import Engine

    own = Engine(engine.config)  # (an SQLite connection is one thread's)
    try:
        _finish(ex, job, own, c)
    finally:
        if "db" in vars(own):
            own.db.close()


def _relay_pipes(req: Request, ex: Exec, sock: socket.socket, early: bytes, ours: list[int], job: Any) -> None:
    from pyctr.api.attach import STDERR, STDOUT, hung_up, stdcopy

    stdin_w, out_r, err_r = ours
    if early and stdin_w >= 0:
        _write_all(stdin_w, early)
    readers = {fd: stream for fd, stream in ((out_r, STDOUT), (err_r, STDERR)) if fd >= 0}
    client_open = stdin_w >= 0
    sock.setblocking(True)
    try:
        while readers:
            watch = list(readers) + ([sock] if client_open else [])
            ready, _, _ = select.select(watch, [], [], 1.0)
            if req.server.stopping.is_set() or (not client_open and hung_up(sock)):
                break
            for fd in ready:
                if fd is sock:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        client_open = False
                        os.close(stdin_w)  # end of the client's input: the command reads end-of-file
                        stdin_w = -1
                    else:
                        _write_all(stdin_w, data)
                    continue
                data = os.read(fd, 65536)
                if not data:
                    os.close(fd)
                    del readers[fd]
                    continue
                sock.sendall(stdcopy(readers[fd], data))
    except OSError:
        pass
    finally:
        for fd in list(readers) + ([stdin_w] if stdin_w >= 0 else []):
            try:
                os.close(fd)
            except OSError:
                pass
    _wait_exit(ex, job)


def _relay_tty(req: Request, ex: Exec, sock: socket.socket, early: bytes, job: Any, raw: bool) -> bool:
    """Returns whether the client detached (its detach keys)."""
    from pyctr.api.attach import hung_up, parse_detach_keys
    from pyctr.api.streams import STDOUT, stdcopy
    from pyctr.runtime.attaching import split_keys

    keys = parse_detach_keys(ex.config.get("DetachKeys") or None)
    held = b""
    master = ex.master
    assert master is not None
    if early and ex.config["AttachStdin"]:
        early, held, detach = split_keys(held, early, keys)  # (the detach keys may come with the request)
        if early:
            _write_all(master, early)
        if detach:
            return True
    client_open = True
    sock.setblocking(True)
    try:
        while True:
            watch: list[Any] = [master] + ([sock] if client_open else [])
            ready, _, _ = select.select(watch, [], [], 1.0)
            if req.server.stopping.is_set() or (not client_open and hung_up(sock)):
                break
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the terminal's last process is gone
                    data = b""
                if not data:
                    break
                sock.sendall(data if raw else stdcopy(STDOUT, data))
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    client_open = False
                elif ex.config["AttachStdin"]:
                    data, held, detach = split_keys(held, data, keys)
                    if data:
                        _write_all(master, data)
                    if detach:
                        return True

    except OSError:
        pass
    _wait_exit(ex, job)
    return False


def _wait_exit(ex: Exec, job: Any) -> None:
    """The exit code, before the stream closes (docker-py's exec_inspect follows at once)."""
    try:
        message, _ = job.receive(timeout=30)
        if message is not None and "exit" in message:
            ex.exit_code = int(message["exit"])
    except Exception:  # noqa: BLE001, S110
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except OSError:
            return
        view = view[n:]
