"""What watches a detached container, whichever watcher it is: its attach socket, its health schedule.

(Below :mod:`pyctr.runtime.detach`, which starts pyctr's own monitor, so that the attach
client and the health prober need not import the starting side.)
"""

from __future__ import annotations

import os
import socket

from pyctr.core.errors import RuntimeFailure

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.core.container import Container


def health_schedule(container: Container) -> str:
    """The monitor's health argument: INTERVAL,START_PERIOD,START_INTERVAL,STARTED (pyctr.runtime.prober), or -."""
    from pyctr.core import health

    check = container.spec.healthcheck
    if not health.active(check):
        return "-"
    interval, _, start_period, start_interval, _ = health.timings(check)  # type: ignore[arg-type]
    return f"{interval},{start_period},{start_interval},{container.started}"


def attach_socket(container: Container, connect: bool) -> socket.socket:
    """The unix socket in the container's directory where its monitor serves ``pyctr attach``.

    Named through ``/proc/self/fd/N`` of the directory: socket paths are limited
    to 108 bytes, and a storage root can be deeper than that.
    """
    dfd = os.open(container.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        path = f"/proc/self/fd/{dfd}/attach.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if connect:
            try:
                sock.connect(path)
            except OSError:
                sock.close()
                raise RuntimeFailure(f"container {container.name} has no monitor to attach to (started in the foreground?)") from None
            return sock
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        sock.bind(path)
        os.chmod(path, 0o600)
        sock.listen(8)
        return sock
    finally:
        os.close(dfd)


def attach_listener(container: Container) -> socket.socket:
    return attach_socket(container, connect=False)
