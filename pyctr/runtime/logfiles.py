"""Reading a container's json-file log across its rotated files (``logs``, ``logs -f``, the API).

(Under conmon, the ``conmon`` runtime driver, the same file holds CRI's k8s-file lines:
:func:`parse_line` reads both.)

The monitor (:mod:`pyctr.runtime.monitor`) writes ``<id>-json.log`` and, with
``max-size``, rotates it to ``.1`` .. ``.N-1`` (``.gz`` with ``compress``).
A reader opens every file first and then checks that the current file is
still the one it opened, so a rotation while it opens them is seen and the
set taken again; once open, a file's content cannot move under the reader.
Following watches the path: when it names another file than the one being
read (a rotation), the old one is read to its end and the new one opened.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import IO, Any

_ROTATED = re.compile(r"\.(\d+)(\.gz)?$")


def rotated_files(path: str) -> list[str]:
    """The rotated files beside ``path``, oldest first; ``.N`` preferred over ``.N.gz`` (being compressed)."""
    directory, base = os.path.split(path)
    found: dict[int, str] = {}
    try:
        names = os.listdir(directory or ".")
    except FileNotFoundError:
        return []
    for name in names:
        if not name.startswith(base + "."):
            continue
        m = _ROTATED.fullmatch(name[len(base):])
        if m is None:
            continue
        number = int(m.group(1))
        if number not in found or not m.group(2):
            found[number] = os.path.join(directory, name)
    return [found[n] for n in sorted(found, reverse=True)]


def _open(path: str) -> IO[bytes] | None:
    """Open one of the log's files; a rotated ``.N`` compressed meanwhile is opened as ``.N.gz``."""
    try:
        if path.endswith(".gz"):
            import gzip

            return gzip.open(path, "rb")  # type: ignore[return-value]
        return open(path, "rb")
    except FileNotFoundError:
        if _ROTATED.search(path) and not path.endswith(".gz"):
            return _open(path + ".gz")
        return None


def open_all(path: str) -> tuple[list[IO[bytes]], IO[bytes] | None]:
    """Open the rotated files and the current one, consistently: (rotated oldest first, current)."""
    for _ in range(50):
        current = _open(path)
        rotated = [f for f in (_open(p) for p in rotated_files(path)) if f is not None]
        try:
            same = current is not None and os.stat(path).st_ino == os.fstat(current.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same or current is None and not os.path.exists(path):
            return rotated, current
        for f in rotated + ([current] if current else []):
            f.close()
        time.sleep(0.01)  # rotated meanwhile: take the set again
    raise OSError(f"the log {path} keeps rotating while it is read")


def entries(f: IO[bytes]) -> Iterator[dict[str, Any]]:
    """The entries of one open file (a partial last line, being written, is left for later)."""
    for line in f:
        if not line.endswith(b"\n"):
            if f.seekable():
                f.seek(-len(line), os.SEEK_CUR)  # read again, whole, next time
            return
        entry = parse_line(line)
        if entry is not None:
            yield entry


def parse_line(line: bytes) -> dict[str, Any] | None:
    """One whole line of the log as a json-file entry (``log``, ``stream``, ``time``); None if it is not one.

    The Python monitor writes Docker's json-file lines; conmon (the ``conmon`` runtime
    driver) writes CRI's k8s-file lines into the same file: ``TIME STREAM F|P TEXT``, with the
    time in RFC 3339 with the local offset, ``F`` for a whole line and ``P`` for a part of a
    longer one (its newline added by conmon). A k8s-file line becomes the entry the json-file
    line would have been: the text with its newline (a part without), the time in UTC.
    """
    if line[:1] == b"{":
        try:
            entry = json.loads(line)
        except ValueError:
            return None
        return entry if isinstance(entry, dict) and isinstance(entry.get("log"), str) else None
    parts = line.split(b" ", 3)
    if len(parts) != 4 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
        return None
    text = parts[3]
    if parts[2] == b"P" and text.endswith(b"\n"):
        text = text[:-1]
    stamp = _utc(parts[0].decode(errors="replace"))
    if stamp is None:
        return None
    return {"log": text.decode("utf-8", "replace"), "stream": parts[1].decode(), "time": stamp}


def _utc(stamp: str) -> str | None:
    """An RFC 3339 time with an offset, as Docker writes its times: UTC, ``Z``, the fraction kept."""
    if stamp.endswith(("+00:00", "-00:00")):
        return stamp[:-6] + "Z"
    if stamp.endswith("Z"):
        return stamp
    m = _RFC3339.fullmatch(stamp)
    if m is None or m.group(3) is None:
        return None
    import calendar

    try:
        seconds = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    zone = m.group(3)
    seconds -= (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + (m.group(2) or "") + "Z"


def entry_time(entry: dict[str, Any]) -> float:
    """An entry's ``time`` (RFC 3339 with nanoseconds, UTC) as seconds."""
    return rfc3339(entry.get("time", "")) or 0.0


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def rfc3339(text: str) -> float | None:
    """RFC 3339 with any number of fraction digits (Docker's nanoseconds), as seconds; None if it is not.
    Both sides of a comparison go through here, so a time compares equal to itself."""
    import calendar

    m = _RFC3339.fullmatch(text.strip())
    if m is None:
        return None
    try:
        ts = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    zone = m.group(3) or "Z"
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        ts -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return ts + float("0" + m.group(2)) if m.group(2) else float(ts)


def read(path: str, tail: int | None = None) -> tuple[list[dict[str, Any]], IO[bytes] | None]:
    """Every entry in order across the rotated files (the last ``tail`` of them), and the current
    file, open at its end, for a follower to go on from."""
    rotated, current = open_all(path)
    out: list[dict[str, Any]] = []
    for f in rotated:
        with f:
            out.extend(entries(f))
            if tail is not None and len(out) > tail * 2 + 1000:
                del out[:-tail]
    if current is not None:
        out.extend(entries(current))
    if tail is not None:
        out = out[-tail:] if tail else []
    return out, current


def follow(path: str, current: IO[bytes] | None, running: Callable[[], bool],
           poll: float = 0.1) -> Iterator[dict[str, Any]]:
    """New entries from where ``current`` stands, across rotations, until ``running()`` is false
    and the file has nothing more.

    After a rotation the file that came after the one just finished is found by
    its first line (unique: it ends with a time in nanoseconds), so a follower
    that fell more than one rotation behind still reads every file that is kept.
    """
    while True:
        got = False
        if current is not None:
            for e in entries(current):
                got = True
                yield e
        if got:
            continue
        if _replaced(path, current):
            if current is not None:
                yield from entries(current)  # whatever the monitor wrote before it rotated
            current = _successor(path, current)
            continue
        if not running():
            if current is not None:
                yield from entries(current)
                current.close()
            return
        time.sleep(poll)


def _first_line(f: IO[bytes]) -> bytes:
    """The first line of an open file, without moving its position."""
    if type(f).__name__ == "GzipFile":
        import gzip

        # the same file through its descriptor: it may have been renamed (.1.gz -> .2.gz) since
        with gzip.open(f"/proc/self/fd/{f.fileno()}", "rb") as again:
            return again.readline().rstrip(b"\n")
    size = 4096
    while True:
        head = os.pread(f.fileno(), size, 0)
        if b"\n" in head or len(head) < size:
            return head.split(b"\n", 1)[0]
        size *= 4


def _replaced(path: str, current: IO[bytes] | None) -> bool:
    """Whether ``path`` now names another file than ``current`` (rotated, or made at last)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    return current is None or st.st_ino != os.fstat(current.fileno()).st_ino


def _successor(path: str, finished: IO[bytes] | None) -> IO[bytes] | None:
    """The file written after ``finished`` (closed here): a rotated one, or the current one."""
    first = _first_line(finished) if finished is not None else b""
    if finished is not None:
        finished.close()
    names = [*rotated_files(path), path]
    if first:
        for i, name in enumerate(names):
            f = _open(name)
            if f is None:
                continue
            with f:
                line = f.readline().rstrip(b"\n")
            if line == first:
                for later in names[i + 1:]:
                    nxt = _open(later)
                    if nxt is not None:
                        return nxt
                return None
    # the finished file is gone already (the reader fell further behind than max-file): the oldest kept
    for name in names:
        nxt = _open(name)
        if nxt is not None:
            return nxt
    return None


def bytes_on_disk(path: str) -> int:
    """The log's size with its rotated files (what ``system df`` and the soak test count)."""
    total = 0
    for p in [*rotated_files(path), path]:
        try:
            total += os.stat(p).st_size
        except FileNotFoundError:
            pass
    return total
