"""What the stream endpoints share: Docker's stream framing, attaches waiting for a start,
and reading the json-file log."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.api.http import Request
    from pyctr.core.container import Container

#: container id -> monitor ends of socket pairs attached before the start
_pending: dict[str, list[socket.socket]] = {}
_pending_lock = threading.Lock()

RAW = "application/vnd.docker.raw-stream"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
STDOUT, STDERR = 1, 2


def take_pending(container_id: str) -> list[socket.socket]:
    """The sockets attached to ``container_id`` before its start (the start hands them to the monitor)."""
    with _pending_lock:
        return _pending.pop(container_id, [])


def _add_pending(container_id: str, sock: socket.socket) -> None:
    with _pending_lock:
        _pending.setdefault(container_id, []).append(sock)


def _drop_pending(container_id: str, sock: socket.socket) -> None:
    with _pending_lock:
        socks = _pending.get(container_id, [])
        if sock in socks:
            socks.remove(sock)
            sock.close()
        if not socks:
            _pending.pop(container_id, None)


def frame(kind: bytes, payload: bytes) -> bytes:
    """A frame of the monitor's protocol."""
    return kind + struct.pack(">I", len(payload)) + payload


def stdcopy(stream: int, payload: bytes) -> bytes:
    """Docker's multiplexed stream frame (pkg/stdcopy)."""
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def content_type(req: Request, tty: bool) -> str:
    return MULTIPLEXED if not tty and req.version >= (1, 42) else RAW


def entry_time(text: str) -> float:
    import calendar

    base, _, frac = text.rstrip("Z").partition(".")
    try:
        ts = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0.0
    return ts + float("0." + frac) if frac.isdigit() else ts


def parse_entry(line: bytes) -> dict[str, Any] | None:
    """A json-file line, or conmon's k8s-file line, as an entry; None for a line cut short."""
    from pyctr.runtime.logfiles import parse_line

    return parse_line(line)


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
        entry = parse_entry(line)
        if entry is not None and wanted(entry, stdout, stderr, since, until):
            yield entry


def wanted(entry: dict[str, Any], stdout: bool, stderr: bool, since: float | None, until: float | None) -> bool:
    if not (stderr if entry.get("stream") == "stderr" else stdout):
        return False
    if since is None and until is None:
        return True
    t = entry_time(entry.get("time", ""))
    return (since is None or t >= since) and (until is None or t <= until)
