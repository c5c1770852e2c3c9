"""An attached client's side of conmon: its attach socket and its control fifo.

(A container of the ``conmon`` runtime driver; :func:`pyctr.runtime.attaching.relay`
speaks through this as through a connection to pyctr's own monitor.)
"""

from __future__ import annotations

import os
import struct

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


class ConmonLink:
    """An attached client's side of conmon (a container of the ``conmon`` runtime driver): its
    attach socket (SOCK_SEQPACKET; each packet from conmon is a pipe number, 2 stdout or 3
    stderr, then the data; what we send goes to the container's stdin as it is) and, for the
    window size, its control fifo (``1 ROWS COLUMNS``)."""

    #: conmon reads at most this much of a packet (CONN_SOCK_BUF_SIZE - 1)
    CHUNK = 32767

    def __init__(self, sock: Any, home: str) -> None:
        self.sock = sock
        self.home = home

    @classmethod
    def connect(cls, home: str) -> ConmonLink:
        """Connect to the attach socket in conmon's directory ``home`` (named through
        /proc/self/fd: a socket's path is limited to 108 bytes)."""
        import socket

        from pyctr.core.errors import RuntimeFailure

        dfd = os.open(home, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.connect(f"/proc/self/fd/{dfd}/attach")
        except OSError:
            sock.close()
            raise RuntimeFailure("the container's conmon has no attach socket (is it running?)") from None
        finally:
            os.close(dfd)
        return cls(sock, home)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send_input(self, data: bytes) -> None:
        for i in range(0, len(data), self.CHUNK):
            self.sock.send(data[i:i + self.CHUNK])

    def send_size(self, size: bytes) -> None:
        rows, columns = struct.unpack("HHHH", size)[:2]
        try:
            fd = os.open(os.path.join(self.home, "ctl"), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return
        try:
            os.write(fd, f"1 {rows} {columns}\n".encode())
        except OSError:
            pass
        finally:
            os.close(fd)

    def receive(self) -> list[tuple[bytes, bytes]] | None:
        data = self.sock.recv(self.CHUNK + 2)
        if not data:
            return None
        return [(b"e" if data[0] == 3 else b"o", data[1:])]

    def exit_code(self, timeout: float = 5.0) -> int | None:
        """After the socket's end: the init's exit code, once conmon has written it (it closes its
        clients first; with ``--rm`` its exit command removes the file soon after, so read it now)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(os.path.join(self.home, "exit")) as f:
                    text = f.read().strip()
                if text.lstrip("-").isdigit():
                    return int(text)
            except FileNotFoundError:
                if not os.path.isdir(self.home):
                    return None
            time.sleep(0.005)
        return None

    def close(self) -> None:
        self.sock.close()
