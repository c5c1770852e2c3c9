"""Is a recorded process still the one pyctr started? (``/proc``, no other import)

The read commands (``ps``, ``inspect``) ask this of every running container,
so it lives apart from :mod:`pyctr.core.lifecycle`, whose import is several
milliseconds they do not need.
"""

from __future__ import annotations


def starttime(pid: int) -> int:
    """The process's start time in clock ticks; 0 when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return 0 if fields[0] in ("Z", "X") else int(fields[19])
    except (OSError, IndexError, ValueError):
        return 0


def is_alive(pid: int, started: int | None = None) -> bool:
    """Whether ``pid`` is still the same process (pid reuse is checked by start time)."""
    if pid <= 0:
        return False
    current = starttime(pid)
    if current == 0:
        return False
    return started is None or started == 0 or current == started
