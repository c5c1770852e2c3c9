"""Terminals: a pty for ``-t``, raw mode on the caller's terminal, the copy loop.

The container gets the pty's slave as stdin, stdout and stderr and as its
controlling terminal; pyctr keeps the master and copies bytes between it and
the caller's terminal until the container's init exits. The window size
follows the caller's (SIGWINCH), as with ``docker run -it``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import socket
import struct
import termios
import tty
from collections.abc import Callable


def console_socket() -> tuple[socket.socket, socket.socket]:
    """(ours, the init's): the init sends its pty master over it."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


def receive_master(sock: socket.socket) -> int:
    """The pty master the container's init made; sized like the caller's terminal."""
    _, fds, _, _ = socket.recv_fds(sock, 1, 1)
    if not fds:
        raise OSError(errno.EPROTO, "the container sent no terminal")
    master = fds[0]
    os.set_inheritable(master, False)
    copy_window_size(0 if os.isatty(0) else 1, master)
    return master


def copy_window_size(src: int, dst: int) -> None:
    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return
    rows, cols = struct.unpack("HHHH", size)[:2]
    if rows and cols:
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)


def start_with_console(start: Callable[[int], int]) -> tuple[int, int]:
    """Call ``start(console_fd)`` (which starts a process that makes its own pty and
    sends the master back over that socket); return (pid, master)."""
    ours, theirs = console_socket()
    try:
        pid = start(theirs.fileno())
        theirs.close()
        return pid, receive_master(ours)
    finally:
        theirs.close()
        ours.close()


class RawMode:
    """The caller's terminal in raw mode for the duration of a ``with`` block (when enabled and a tty)."""

    def __init__(self, fd: int = 0, enabled: bool = True) -> None:
        self.fd = fd
        self.enabled = enabled
        self.saved: list | None = None

    def __enter__(self) -> RawMode:
        if self.enabled and os.isatty(self.fd):
            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def proxy(master: int, pid: int, forward_stdin: bool, on_exit: Callable[[int], None] | None = None) -> int:
    """Copy between the caller's stdin/stdout and ``master`` until ``pid`` exits; return its wait status."""
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wakeup = signal.set_wakeup_fd(wake_w)
    old_chld = signal.signal(signal.SIGCHLD, lambda *_: None)
    old_winch = signal.signal(signal.SIGWINCH, lambda *_: copy_window_size(0, master))
    status: int | None = None
    stdin_open = forward_stdin
    try:
        while True:
            if status is None:
                try:
                    done, st = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done, st = pid, 0
                if done:
                    status = st
            readers = [master, wake_r] + ([0] if stdin_open else [])
            try:
                ready, _, _ = select.select(readers, [], [], 0 if status is not None else None)
            except InterruptedError:
                continue
            if wake_r in ready:
                try:
                    os.read(wake_r, 512)
                except BlockingIOError:
                    pass
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError as e:
                    if e.errno != errno.EIO:
                        raise
                    data = b""
                if data:
                    write_all(1, data)
                elif status is not None:
                    break
            elif status is not None:
                break  # init gone and nothing left to read
            if stdin_open and 0 in ready:
                data = os.read(0, 65536)
                if data:
                    write_all(master, data)
                else:
                    stdin_open = False
                    write_all(master, b"\x04")  # EOF on a terminal is ^D
        return status if status is not None else 0
    finally:
        signal.set_wakeup_fd(old_wakeup)
        signal.signal(signal.SIGCHLD, old_chld)
        signal.signal(signal.SIGWINCH, old_winch)
        os.close(wake_r)
        os.close(wake_w)


def write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            n = os.write(fd, data)
        except InterruptedError:
            continue
        data = data[n:]
