"""Docker's pull/push progress: one line per layer, redrawn in place on a terminal.

``<id12>: Downloading [=====>     ]  1.2MB/3.4MB`` on a terminal; the same
statuses as plain lines (no bars) when output is a pipe or file; nothing at
all in quiet mode. Thread-safe: layer workers report from their own threads.
"""

from __future__ import annotations

import sys
import threading
import time

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import IO


def _human(n: float) -> str:
    """go-units' HumanSize (decimal units, 4 significant digits), as Docker's progress prints sizes."""
    units = ("B", "kB", "MB", "GB", "TB", "PB")
    i = 0
    n = float(n)
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.4g}{units[i]}"


def go_duration(seconds: int) -> str:
    """Go's time.Duration.String() for whole seconds: ``0s``, ``42s``, ``1m3s``, ``2h0m5s``."""
    h, rest = divmod(max(0, int(seconds)), 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{sec}s"
    if m:
        return f"{m}m{sec}s"
    return f"{sec}s"


def bar(current: int, total: int, width: int = 120, elapsed: float | None = None) -> str:
    """Docker's JSONProgress.String(): ``[====>    ]  1.2MB/3.4MB 2s`` on a terminal wider than 110
    columns; narrower, the bar is left out (``  1.2MB/3.4MB 2s``) so the line never wraps, and the
    time left only above 50 columns."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{_human(current):>8}"
    percentage = min(int(current / total * 100) // 2, 50)
    box = f"[{'=' * percentage}>{' ' * (50 - percentage)}] " if width > 110 else ""
    numbers = f"{_human(current):>8}/{_human(total)}" if current <= total else f"{_human(current):>8}"
    left = ""
    if current > 0 and elapsed is not None and percentage < 50 and width > 50:
        left = " " + go_duration(int((total - current) * (elapsed / current)))
    return box + numbers + left


def terminal_width(out: IO[str]) -> int:
    import os

    try:
        return os.get_terminal_size(out.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return 80


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

    def __init__(self, out: IO[str] | None = None, interval: float = 0.1, width: int | None = None) -> None:
        self.out = out or sys.stdout
        self.interval = interval
        #: columns; asked again on every redraw unless given (a resized window)
        self.width = width
        self._started: dict[str, float] = {}
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
            width = self.width or terminal_width(self.out)
            text = f"{layer}: {status}"
            if current is not None and total is not None:
                start = self._started.setdefault(f"{layer}:{status}", time.monotonic())
                shown = bar(current, total, width, time.monotonic() - start)
                if shown:
                    text += " " + shown
            # never wider than the terminal: a wrapped line breaks the cursor arithmetic
            text = text[: max(width - 1, 20)]
            changed_status = not self._lines.get(layer, "").startswith(f"{layer}: {status}")
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
