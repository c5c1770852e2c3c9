"""``GET /containers/{id}/logs``: the json-file log the container's monitor writes, as Docker streams it."""

from __future__ import annotations

import time

from pyctr.api.errors import ApiError
from pyctr.api.routes import route

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.api.http import Request
    from pyctr.core.container import Container


def _time_arg(req: Request, name: str) -> float | None:
    value = req.arg(name)
    if not value or value == "0":
        return None
    try:
        return float(value)
    except ValueError:
        raise ApiError(400, f"invalid value for {name}: {value!r} (want a unix time)") from None


@route("GET", "/containers/{id}/logs")
def logs(req: Request, id: str) -> None:  # noqa: A002
    from pyctr.api.objects import is_running, lookup
    from pyctr.api.streams import STDERR, STDOUT, content_type, parse_entry, stdcopy, wanted

    engine = req.engine
    c = lookup(engine, id)
    stdout, stderr = req.flag("stdout"), req.flag("stderr")
    if not (stdout or stderr):
        raise ApiError(400, "Bad parameters: you must choose at least one stream")
    if c.spec.log_driver == "none":
        raise ApiError(501, 'configured logging driver does not support reading')
    tail_text = req.arg("tail") or "all"
    if tail_text != "all" and not tail_text.lstrip("-").isdigit():
        raise ApiError(400, f"invalid value for tail: {tail_text!r}")
    tail = None if tail_text == "all" or int(tail_text) < 0 else int(tail_text)
    since, until = _time_arg(req, "since"), _time_arg(req, "until")
    follow, timestamps = req.flag("follow"), req.flag("timestamps")
    tty = c.spec.tty
    stream = req.stream(content_type(req, tty))

    def send(entry: dict[str, Any]) -> None:
        data = entry["log"].encode()
        if timestamps:
            data = entry.get("time", "").encode() + b" " + data
        stream.write(data if tty else stdcopy(STDERR if entry.get("stream") == "stderr" else STDOUT, data))

    path = c.dir / f"{c.id}-json.log"
    offset = 0
    try:
        with open(path, "rb") as f:
            lines = f.readlines()
            offset = f.tell()
    except OSError:
        lines = []
    if lines and not lines[-1].endswith(b"\n"):
        offset -= len(lines.pop())  # a line being written: read it whole when following
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    for line in lines:
        entry = parse_entry(line)
        if entry is not None and wanted(entry, stdout, stderr, since, until):
            send(entry)
    if follow and (until is None or until > time.time()):
        _follow(req, c, path, offset, stream, lambda e: wanted(e, stdout, stderr, since, until) and send(e),
                is_running)
    stream.close()


def _follow(req: Request, c: Container, path: Any, offset: int, stream: Any, handle: Any, is_running: Any) -> None:
    """New lines until the container stops (and its log is read out) or the client goes."""
    from pyctr.api.streams import parse_entry
    from pyctr.core.container import lookup as find
    from pyctr.core.errors import NotFound

    partial = b""
    last_check = 0.0
    ending = False
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
                offset = f.tell()
        except OSError:
            data = b""
        if data:
            lines = (partial + data).split(b"\n")
            partial = lines.pop()
            for line in lines:
                entry = parse_entry(line)
                if entry is not None:
                    handle(entry)
            continue
        now = time.monotonic()
        if now - last_check > 0.25:
            last_check = now
            try:
                current = find(req.engine.db, req.engine.config.root, c.id)
            except NotFound:
                return
            if not is_running(current):
                if ending:
                    return
                ending = True  # one more read: what its monitor wrote before it recorded the exit
                continue
        if stream.gone(0.1):
            return
