"""What the launcher's workers do (see pyctr.api.launcher): each op runs in a process
forked for it, single-threaded, with pyctr's start path already imported."""

from __future__ import annotations

import os
from collections.abc import Callable

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.core.engine import Engine

Reply = Callable[..., None]

#: op name -> function(engine, reply, fds, args); ``reply(message, fds=())``, ``reply.close()``
OPS: dict[str, Callable[..., None]] = {}


def op(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def add(fn: Callable[..., None]) -> Callable[..., None]:
        OPS[name] = fn
        return fn

    return add


def _quiet_stdio() -> None:
    """A worker may outlive the service (a monitor for days): its stdio is not the service's."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


@op("start")
def start(engine: Engine, reply: Reply, fds: list[int], args: dict[str, Any]) -> None:
    """Start a container and stay on as its monitor; ``fds``: clients attached before the start."""
    from pyctr.runtime.handover import run_monitored

    _quiet_stdio()

    def report(pid: int) -> None:
        reply({"pid": pid})
        reply.close()  # the service is answered; the monitor keeps nothing of the request

    run_monitored(engine, args["id"], fds, report)


class JsonProgress:
    """A pull's progress as Docker's JSON messages, sent back to the request
    (thread-safe: layers report from their own threads; byte counts at most ten a second)."""

    def __init__(self, reply: Reply) -> None:
        import threading

        self.reply = reply
        self.lock = threading.Lock()
        self.last: dict[str, float] = {}

    def message(self, text: str) -> None:
        ident, sep, status = text.partition(": ")
        if sep and status.startswith("Pulling from "):  # "latest: Pulling from library/busybox"
            self._send({"status": status, "id": ident})
        else:
            self._send({"status": text})

    def layer(self, layer: str, status: str, current: int | None = None, total: int | None = None) -> None:
        import time

        message: dict[str, Any] = {"status": status, "progressDetail": {}, "id": layer}
        if current is not None:
            now = time.monotonic()
            if total and current < total and now - self.last.get(layer, 0.0) < 0.1:
                return
            self.last[layer] = now
            from pyctr.images.progress import bar

            message["progressDetail"] = {"current": current, "total": total or 0}
            message["progress"] = bar(current, total or 0)
        self._send(message)

    def close(self) -> None:
        pass

    def _send(self, message: dict[str, Any]) -> None:
        with self.lock:
            try:
                self.reply(message)
            except OSError:
                pass  # the client went; the pull still finishes


@op("pull")
def pull(engine: Engine, reply: Reply, fds: list[int], args: dict[str, Any]) -> None:
    """Pull ``args["ref"]``; progress as Docker's JSON messages, then Digest and Status lines."""
    from pyctr.images.pull import pull as pull_image

    progress = JsonProgress(reply)
    result = pull_image(engine, args["ref"], progress=progress)  # type: ignore[arg-type]
    progress.message(f"Digest: {result.digest}")
    word = "Downloaded newer image" if result.fresh else "Image is up to date"
    progress.message(f"Status: {word} for {result.familiar}")
    reply({"done": {"id": result.image.id}})


@op("build")
def build(engine: Engine, reply: Reply, fds: list[int], args: dict[str, Any]) -> None:
    """``POST /build``: the context tar the service saved at ``args["context"]``; step lines and
    the result as Docker's JSON stream messages; RUN output goes to ``fds[0]`` (the service
    reads the other end into the same stream)."""
    from pyctr.build.remote import build_from_tar
    from pyctr.core import events

    _quiet_stdio()
    run_fd = fds[0] if fds else None
    try:
        with open(args["context"], "rb") as body:
            image_id = build_from_tar(engine, body, args.get("query") or {}, reply, tags=args.get("tags") or [],
                                      run_fd=run_fd)
    finally:
        if run_fd is not None:
            os.close(run_fd)
    if image_id:
        for tag in args.get("tags") or []:
            events.record(engine, "image", "tag", image_id, {"name": tag})
    reply({"done": {"id": image_id}})


@op("exec")
def execute(engine: Engine, reply: Reply, fds: list[int], args: dict[str, Any]) -> None:
    """Run a command in a container: ``fds`` its stdin, stdout, stderr (none with a terminal: its
    master goes back with the pid); then wait, and report the exit code."""
    from pyctr.core.container import lookup
    from pyctr.runtime.driver import waitpid_status
    from pyctr.runtime.execution import spawn

    _quiet_stdio()
    c = lookup(engine.db, engine.config.root, args["container"])
    stdio = (fds[0], fds[1], fds[2]) if args.get("piped") and len(fds) == 3 else None
    pid, master = spawn(engine, c, list(args["cmd"]), env=args.get("env") or (), user=args.get("user") or None,
                        workdir=args.get("workdir") or None, privileged=bool(args.get("privileged")),
                        tty=bool(args.get("tty")), stdio=stdio)
    for fd in fds:
        os.close(fd)  # the process has them; our copies would keep its pipes open
    engine.db.close()
    reply({"pid": pid}, [master] if master is not None else [])
    if master is not None:
        os.close(master)
    status = waitpid_status(pid)
    code = os.waitstatus_to_exitcode(status)
    try:
        reply({"exit": 128 - code if code < 0 else code})
    except OSError:
        pass


@op("push")
def push(engine: Engine, reply: Reply, fds: list[int], args: dict[str, Any]) -> None:
    """Push ``args["ref"]``; progress as Docker's JSON messages, then the digest line."""
    from pyctr.images.push import push as push_image
    from pyctr.images.reference import parse

    progress = JsonProgress(reply)
    digest, size = push_image(engine, args["ref"], progress=progress)  # type: ignore[arg-type]
    tag = parse(args["ref"]).tag or "latest"
    progress.message(f"{tag}: digest: {digest} size: {size}")
    reply({"aux": {"Tag": tag, "Digest": digest, "Size": size}})
    reply({"done": {}})
