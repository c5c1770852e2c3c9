"""``GET /containers/{id}/logs``: the json-file log the container's monitor writes, as Docker streams it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pyctr.api.http import ApiError
from pyctr.api.routes import route

if TYPE_CHECKING:
    from pyctr.api.http import Request
    from pyctr.core.container import Container


def entry_time(text: str) -> float:
    import calendar

    base, _, frac = text.rstrip("Z").partition(".")
    try:
        ts = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0.0
    return ts + float("0." + frac) if frac.isdigit() else ts


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None  # a line cut short
    return entry if isinstance(entry, dict) and isinstance(entry.get("log"), str) else None


def entries(c: Container, stdout: bool = True, stderr: bool = True, since: float | None = None,
            until: float | None = None, tail: int | None = None) -> Iterator[dict[str, Any]]:
    """The log's entries so far, filtered; ``tail``: only the last so many."""
    path = c.dir / f"{c.id}-json.log"
    try:
        with open(path, "rb") as f:
            lines = f.readlines()
    except OSError:
        return
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    for line in lines:
        entry = _parse(line)
        if entry is not None and _wanted(entry, stdout, stderr, since, until):
            yield entry


def _wanted(entry: dict[str, Any], stdout: bool, stderr: bool, since: float | None, until: float | None) -> bool:
    if not (stderr if entry.get("stream") == "stderr" else stdout):
        return False
    if since is None and until is None:
        return True
    t = entry_time(entry.get("time", ""))
    return (since is None or t >= since) and (until is None or t <= until)


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
    from pyctr.api.attach import STDERR, STDOUT, content_type, stdcopy
    from pyctr.api.containers import is_running, lookup

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
        entry = _parse(line)
        if entry is not None and _wanted(entry, stdout, stderr, since, until):
            send(entry)
    if follow and (until is None or until > time.time()):
        _follow(req, c, path, offset, stream, lambda e: _wanted(e, stdout, stderr, since, until) and send(e),
                is_running)
    stream.close()


def _follow(req: Request, c: Container, path: Any, offset: int, stream: Any, handle: Any, is_running: Any) -> None:
    """New lines until the container stops (and its log is read out) or the client goes."""
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
                entry = _parse(line)
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
