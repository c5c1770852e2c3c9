"""The built-in runtime driver, ``pyctr``: the init forked from this process.

:func:`pyctr.runtime.launch.spawn` forks the init into its namespaces (see
that module for the stages), and this process, or the detached monitor it
becomes (:mod:`pyctr.runtime.detach`), is the init's parent and waits for it.
"""

from __future__ import annotations

import _signal as signal  # the C module: signal.py's enums cost ~1 ms of import per start
import os
from collections.abc import Callable

from pyctr.core.drivers import Launch, RuntimeDriver

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

#: what a foreground run passes on to its container, as ``docker run`` does (--sig-proxy)
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


class PyctrRuntimeDriver(RuntimeDriver):
    priority = 0

    def spawn(self, launch: Launch, create_runtime: Callable[[int, Callable[[], None]], None],
              place_early: Callable[[int], None] | None = None) -> int:
        from pyctr.runtime.launch import spawn

        return spawn(launch, create_runtime, place_early)

    def wait(self, pid: int, master: int | None = None, interactive: bool = False) -> int:
        def forward(signum: int, _frame: Any) -> None:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

        previous = {s: signal.signal(s, forward) for s in FORWARDED}
        try:
            if master is not None:
                from pyctr.runtime.tty import RawMode, proxy

                with RawMode(0, enabled=interactive):
                    return proxy(master, pid, forward_stdin=interactive)
            return waitpid_status(pid)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def waitpid_status(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue
        except ChildProcessError:
            return 255 << 8
