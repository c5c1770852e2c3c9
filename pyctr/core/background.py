"""One call in a thread, joined later.

The start path uses it to let a kernel wait run alongside other work: the
first cgroup migration after a quiet spell waits for an RCU grace period
(10-20 ms here), while the parent could be wiring the network. The thread
only blocks in a system call, so the GIL is free meanwhile. ``_thread``, not
``threading``: one join needs no more, and threading's import would be paid on
every start.
"""

from __future__ import annotations

import _thread
from collections.abc import Callable

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


class Background:
    """``fn(*args)`` running in a thread; :meth:`join` waits and re-raises its error."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._done = _thread.allocate_lock()
        self._done.acquire()
        self._error: BaseException | None = None
        self._result: Any = None
        self._joined = False

        def body() -> None:
            try:
                self._result = fn(*args)
            except BaseException as e:  # noqa: BLE001  (handed to join)
                self._error = e
            finally:
                self._done.release()

        _thread.start_new_thread(body, ())

    def join(self) -> None:
        if not self._joined:
            self._done.acquire()
            self._joined = True
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def join_result(self) -> Any:
        """:meth:`join`, then what the call returned."""
        self.join()
        return self._result
