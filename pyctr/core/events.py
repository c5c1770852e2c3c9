"""The event journal: every state change, from any front end, as Docker's events.

Each change appends one JSON line (Docker's event shape: ``Type``, ``Action``,
``Actor{ID, Attributes}``, ``time``, ``timeNano``, and for containers and
images the older ``status``/``id``/``from``) to ``RUNROOT/events/events.jsonl``.
Writers are separate processes (a ``pyctr run``, a container's monitor, the
service): each write is one ``write`` on an ``O_APPEND`` descriptor under an
exclusive ``flock``, so lines never interleave, and the writer that finds the
file over :data:`MAX_BYTES` renames it to ``events.jsonl.1`` first (one older
generation is kept). The journal lives in the runroot, like Docker's in-memory
log: it does not survive a reboot. ``pyctr events`` and the service's
``GET /events`` replay it (``since``) and follow it.

    from pyctr.core import events
    events.record(engine, "container", "health_status: healthy", container.id, {"name": container.name})

Recording never fails the change it records: an unwritable journal is skipped.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.core.container import Container
    from pyctr.core.engine import Engine

FILE_NAME = "events.jsonl"
#: the size at which the journal is rotated (one generation, events.jsonl.1, is kept)
MAX_BYTES = 4 << 20


def journal_path(runroot: Path | str) -> Path:
    return Path(runroot) / "events" / FILE_NAME


def make_event(kind: str, action: str, actor_id: str, attributes: dict[str, str] | None = None,
               now: float | None = None) -> dict[str, Any]:
    """One event in Docker's shape."""
    ns = time.time_ns() if now is None else int(now * 1e9)
    attributes = {k: str(v) for k, v in (attributes or {}).items()}
    event: dict[str, Any] = {}
    if kind in ("container", "image"):
        event.update({"status": action, "id": actor_id, "from": attributes.get("image", "")})
        if kind == "image":
            event.pop("from")
    event.update({"Type": kind, "Action": action, "Actor": {"ID": actor_id, "Attributes": attributes},
                  "scope": "local", "time": ns // 1_000_000_000, "timeNano": ns})
    return event


def record(engine: Engine, kind: str, action: str, actor_id: str, attributes: dict[str, str] | None = None) -> None:
    """Append one event (``kind``: container, image, network, volume; ``action``: Docker's verb)."""
    append(engine.config.runroot, make_event(kind, action, actor_id, attributes))


def container_attributes(container: Container, **extra: Any) -> dict[str, str]:
    """Docker's attributes of a container event: its labels, ``name`` and ``image``."""
    attrs = {k: str(v) for k, v in (container.spec.labels or {}).items()}
    attrs["name"] = container.name
    attrs["image"] = container.spec.image or container.image_id
    attrs.update({k: str(v) for k, v in extra.items()})
    return attrs


def container_event(engine: Engine, container: Container, action: str, **extra: Any) -> None:
    """Record ``action`` on ``container`` (``extra``: more attributes, e.g. ``exitCode`` for die)."""
    record(engine, "container", action, container.id, container_attributes(container, **extra))


def append(runroot: Path | str, event: dict[str, Any]) -> None:
    path = journal_path(runroot)
    line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
    try:
        _append(path, line)
    except OSError:
        pass  # the journal is a report of changes; it never fails the change itself


def _append(path: Path, line: bytes) -> None:
    import fcntl

    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        st = os.fstat(fd)
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is None or (current.st_ino, current.st_dev) != (st.st_ino, st.st_dev):
            # rotated by another writer between our open and our lock: write to the new file
            os.close(fd)
            _append(path, line)
            return
        if st.st_size + len(line) > MAX_BYTES:
            os.replace(path, path.with_name(FILE_NAME + ".1"))
            os.close(fd)
            fd = -1
            _append(path, line)
            return
        os.write(fd, line)
    finally:
        if fd >= 0:
            os.close(fd)


def read(runroot: Path | str, since: float | None = None, until: float | None = None) -> Iterator[dict[str, Any]]:
    """The events in the journal (the rotated generation first), oldest first, within [since, until]."""
    path = journal_path(runroot)
    for p in (path.with_name(FILE_NAME + ".1"), path):
        try:
            f = open(p, "rb")
        except OSError:
            continue
        with f:
            for raw in f:
                event = _parse(raw)
                if event is not None and _within(event, since, until):
                    yield event


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(raw)
    except ValueError:
        return None  # a line cut short by a crash
    return event if isinstance(event, dict) else None


def _within(event: dict[str, Any], since: float | None, until: float | None) -> bool:
    t = event.get("timeNano", 0) / 1e9
    return (since is None or t >= since) and (until is None or t <= until)


class Follower:
    """New events as they are appended (rotation included); ``poll()`` returns what arrived."""

    def __init__(self, runroot: Path | str, from_start: bool = False) -> None:
        self.path = journal_path(runroot)
        self.f: Any = None
        self.ino: tuple[int, int] | None = None
        self.partial = b""
        self._open(at_end=not from_start)

    def _open(self, at_end: bool) -> None:
        try:
            f = open(self.path, "rb")
        except OSError:
            self.f, self.ino = None, None
            return
        st = os.fstat(f.fileno())
        self.f, self.ino = f, (st.st_ino, st.st_dev)
        if at_end:
            f.seek(0, os.SEEK_END)

    def poll(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.f is None:
            self._open(at_end=False)
            if self.f is None:
                return out
        out += self._drain()
        try:
            st = os.stat(self.path)
            rotated = (st.st_ino, st.st_dev) != self.ino
        except FileNotFoundError:
            rotated = False
        if rotated:  # the old file is complete (writers lock, then check the name): read it out, then switch
            out += self._drain()
            self.f.close()
            self.partial = b""
            self._open(at_end=False)
            out += self._drain()
        return out

    def _drain(self) -> list[dict[str, Any]]:
        data = self.partial + self.f.read()
        lines = data.split(b"\n")
        self.partial = lines.pop()
        return [e for e in (_parse(line) for line in lines if line) if e is not None]

    def close(self) -> None:
        if self.f is not None:
            self.f.close()


#: filter keys ``events`` accepts (Docker's)
FILTER_KEYS = ("type", "event", "container", "image", "label", "network", "volume", "scope", "daemon", "plugin",
               "node", "service", "secret", "config")


def matches(event: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    """Docker's event filters: the values of one key are alternatives, every key must hold,
    every ``label`` must hold."""
    kind = event.get("Type", "")
    actor = event.get("Actor") or {}
    ident = actor.get("ID", "")
    attrs = actor.get("Attributes") or {}
    for key, values in filters.items():
        if not values:
            continue
        if key == "type":
            ok = kind in values
        elif key == "event":
            action = event.get("Action", "")
            ok = any(action == v or action.split(":", 1)[0] == v for v in values)
        elif key == "label":
            ok = all((v.partition("=")[0] in attrs) and (not v.partition("=")[1] or
                     attrs[v.partition("=")[0]] == v.partition("=")[2]) for v in values)
        elif key == "scope":
            ok = event.get("scope", "local") in values
        elif key in ("container", "network", "volume", "image"):
            if kind != key and not (key == "image" and kind == "container"):
                ok = False
            elif key == "image" and kind == "container":
                ok = attrs.get("image", "") in values
            else:
                ok = any(ident == v or ident.startswith(v) and len(v) >= 1 or attrs.get("name") == v.lstrip("/")
                         for v in values)
        else:
            ok = False  # daemon, plugin, swarm kinds: pyctr records none
        if not ok:
            return False
    return True
