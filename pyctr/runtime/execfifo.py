"""``start``'s end of the exec fifo, where a created container's init waits.

The init opens the fifo for writing and blocks (:func:`pyctr.runtime.steps.wait_for_start`);
``start`` opens it for reading, so the init writes its byte and goes on to execve. Both
pyctr-runtime's ``start`` and the conmon runtime driver (which starts what conmon had
pyctr-runtime create) release it through here.
"""

from __future__ import annotations

import os
import select
from collections.abc import Callable


class StartFailure(Exception):
    """The init waiting on the exec fifo is gone."""


def release(path: str, alive: Callable[[], bool]) -> None:
    """Let the init blocked on ``path`` go on, then remove the fifo (a created container is one
    whose fifo exists). If the init dies meanwhile (``alive()`` turns false), say so instead of
    waiting for ever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready and os.read(fd, 1):
                break
            if not alive():
                raise StartFailure("cannot start a container that has stopped")
    finally:
        os.close(fd)
    os.unlink(path)
