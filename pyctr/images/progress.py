"""Docker's pull/push progress: one line per layer, redrawn in place on a terminal.

``<id12>: Downloading [=====>     ]  1.2MB/3.4MB`` on a terminal; the same
statuses as plain lines (no bars) when output is a pipe or file; nothing at
all in quiet mode. Thread-safe: layer workers report from their own threads.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO


def _human(n: float) -> str:
    from pyctr.cli.common import human_size

    return human_size(n)


def bar(current: int, total: int, width: int = 50) -> str:
    """Docker's ``[====>    ]  1.2MB/3.4MB``."""
    if total <= 0:
        return f"{_human(current)}"
    filled = int(width * min(current, total) / total)
    arrow = "=" * max(filled - 1, 0) + (">" if filled else "")
    if filled >= width:
        arrow = "=" * (width - 1) + ">"
    return f"[{arrow.ljust(width)}]  {_human(current)}/{_human(total)}"


class Progress:
    """Quiet: says nothing. The base of the other two."""

    def message(self, text: str) -> None:
        pass

    def layer(self, layer: str, status: str, current: int | None = None, total: int | None = None) -> None:
        pass

    def close(self) -> None:
        pass


class PlainProgress(Progress):
    """Status changes as lines, no bars (output that is not a terminal)."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self._lock = threading.Lock()
        self._last: dict[str, str] = {}

    def message(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def layer(self, layer: str, status: str, current: int | None = None, total: int | None = None) -> None:
        with self._lock:
            if self._last.get(layer) == status:
                return
            self._last[layer] = status
            self.out.write(f"{layer}: {status}\n")
            self.out.flush()


class TerminalProgress(Progress):
    """Docker's live display: each layer's line rewritten with cursor movement."""

    def __init__(self, out: IO[str] | None = None, interval: float = 0.1) -> None:
        self.out = out or sys.stdout
        self.interval = interval
        self._lock = threading.Lock()
        self._order: list[str] = []
        self._lines: dict[str, str] = {}
        self._drawn = 0  # layer lines currently on screen below the messages
        self._last_draw = 0.0

    def message(self, text: str) -> None:
        with self._lock:
            self._redraw(force=True)
            self.out.write(text + "\n")
            self.out.flush()
            # messages go below the layer lines, which are then frozen
            self._order.clear()
            self._lines.clear()
            self._drawn = 0

    def layer(self, layer: str, status: str, current: int | None = None, total: int | None = None) -> None:
        with self._lock:
            if layer not in self._lines:
                self._order.append(layer)
            text = f"{layer}: {status}"
            if current is not None and total is not None:
                text += " " + bar(current, total)
            changed_status = self._lines.get(layer, "").split(" [", 1)[0] != text.split(" [", 1)[0]
            self._lines[layer] = text
            self._redraw(force=changed_status)

    def _redraw(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        parts = []
        if self._drawn:
            parts.append(f"\x1b[{self._drawn}A")
        for name in self._order:
            parts.append("\x1b[2K\r" + self._lines[name] + "\n")
        self._drawn = len(self._order)
        self.out.write("".join(parts))
        self.out.flush()

    def close(self) -> None:
        with self._lock:
            self._redraw(force=True)


def for_output(quiet: bool, out: IO[str] | None = None) -> Progress:
    out = out or sys.stdout
    if quiet:
        return Progress()
    return TerminalProgress(out) if out.isatty() else PlainProgress(out)


class CountingReader:
    """Reports bytes read through it (the "Extracting" bar counts compressed bytes, as Docker's does)."""

    def __init__(self, f: IO[bytes], report) -> None:  # noqa: ANN001
        self._f = f
        self._report = report
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.count += len(data)
        self._report(self.count)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> CountingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
