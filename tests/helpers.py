"""Small helpers the tests share; they read the kernel's view, not pyctr's."""

from __future__ import annotations

import os
import time


def find_container_process(marker: str, timeout: float = 10.0) -> int:
    """The host pid of the process whose command line contains ``marker``."""
    deadline = time.monotonic() + timeout
    me = os.getpid()
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and "pyctr" not in cmdline:
                return int(entry)
        time.sleep(0.05)
    raise AssertionError(f"no process with {marker!r} appeared")
