"""A terminal attached to a container's monitor: ``pyctr attach`` and ``pyctr run -it``.

(A container of the ``conmon`` runtime driver is watched by conmon instead: the same relay
speaks conmon's attach protocol through :class:`pyctr.runtime.conmon_link.ConmonLink`.)

The monitor's socket speaks in frames (see :mod:`pyctr.runtime.monitor`):
we send what is typed (``d``) and the window size (``w``, again on every
SIGWINCH); it sends the container's output (``o``, and ``e`` for its stderr)
and, when the init has exited, its exit code (``x``). The detach keys (Ctrl-P Ctrl-Q by default) are
held back while they are being typed, as Docker does, and end the relay with
the container still running.
"""

from __future__ import annotations

import os
import select
import signal
import struct

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

#: Docker's default --detach-keys, ctrl-p ctrl-q
DETACH_KEYS = b"\x10\x11"


class Relay:
    """How a relay ended: ``detached``, or the container's ``exit_code`` (None if the monitor did not say)."""

    def __init__(self) -> None:
        self.detached = False
        self.exit_code: int | None = None


def parse_detach_keys(text: str) -> bytes:
    """Docker's --detach-keys: "ctrl-p,ctrl-q", "ctrl-a,x"."""
    from pyctr.core.errors import UsageError

    out = bytearray()
    for key in text.split(","):
        key = key.strip().lower()
        if key.startswith("ctrl-") and len(key) == 6 and key[5].isalpha():
            out.append(ord(key[5]) - ord("a") + 1)
        elif len(key) == 1:
            out.append(ord(key))
        else:
            raise UsageError(f"invalid detach key {key!r}: use ctrl-<letter> or a single character")
    return bytes(out)


def _frame(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack(">I", len(payload)) + payload


def _window_size() -> bytes | None:
    import fcntl
    import termios

    for fd in (0, 1):
        try:
            size = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
        except OSError:
            continue
        if struct.unpack("HHHH", size)[:2] != (0, 0):
            return size
    return None


class MonitorLink:
    """An attached client's side of pyctr's monitor: frames both ways (pyctr.runtime.monitor)."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.received = b""

    def fileno(self) -> int:
        return self.sock.fileno()

    def send_input(self, data: bytes) -> None:
        self.sock.sendall(_frame(b"d", data))

    def send_size(self, size: bytes) -> None:
        self.sock.sendall(_frame(b"w", size))

    def receive(self) -> list[tuple[bytes, bytes]] | None:
        """The frames that arrived ((kind, payload)); None once the monitor is gone."""
        data = self.sock.recv(65536)
        if not data:
            return None
        self.received += data
        out = []
        while len(self.received) >= 5:
            kind, size = self.received[:1], struct.unpack(">I", self.received[1:5])[0]
            if len(self.received) < 5 + size:
                break
            out.append((kind, self.received[5:5 + size]))
            self.received = self.received[5 + size:]
        return out

    def close(self) -> None:
        self.sock.close()


def link_to(container: Any) -> Any:
    """A connection to whatever watches the detached ``container``: conmon or pyctr's monitor."""
    from pyctr.runtime import conmon_files

    if conmon_files.watched(container):
        from pyctr.runtime.conmon_link import ConmonLink

        return ConmonLink.connect(conmon_files.userdata(container.dir))
    from pyctr.runtime.watching import attach_socket

    return MonitorLink(attach_socket(container, connect=True))


def relay(container: Any, keys: bytes = DETACH_KEYS, use_stdin: bool = True, sock: Any = None) -> Relay:
    """Copy this terminal to and from ``container``'s monitor (or conmon) until it exits or the
    keys are typed; through ``sock`` if given (a socket to pyctr's monitor, see
    ``start_detached``, or a link made already), else a new connection (:func:`link_to`)."""
    from pyctr.runtime.tty import RawMode

    tty = bool(container.spec.tty)
    if sock is None:
        link = link_to(container)
    elif hasattr(sock, "send_input"):  # a link already (MonitorLink, or conmon's ConmonLink)
        link = sock
    else:
        link = MonitorLink(sock)
    result = Relay()
    winch_r, winch_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    previous = signal.signal(signal.SIGWINCH, lambda *_: os.write(winch_w, b"w")) if tty else None
    try:
        if tty and (size := _window_size()) is not None:
            link.send_size(size)
        with RawMode(0, enabled=use_stdin and tty):
            _copy(link, result, keys, use_stdin, winch_r)
        if not result.detached and result.exit_code is None and hasattr(link, "exit_code"):
            result.exit_code = link.exit_code()  # (conmon says it in a file, not on the socket)
    finally:
        if previous is not None:
            signal.signal(signal.SIGWINCH, previous)
        os.close(winch_r)
        os.close(winch_w)
        link.close()
    return result


def _copy(link: Any, result: Relay, keys: bytes, use_stdin: bool, winch_r: int) -> None:
    from pyctr.runtime.tty import write_all

    held = b""  # a beginning of the detach keys, not sent (yet)
    readers = [link.fileno(), winch_r] + ([0] if use_stdin else [])
    while True:
        try:
            ready, _, _ = select.select(readers, [], [])
        except InterruptedError:
            continue
        if link.fileno() in ready:
            frames = link.receive()
            if frames is None:
                return  # the monitor is gone (the exit code, if any, came before)
            for kind, payload in frames:
                if kind == b"o":
                    write_all(1, payload)
                elif kind == b"e":
                    write_all(2, payload)
                elif kind == b"x" and len(payload) == 4:
                    result.exit_code = struct.unpack(">i", payload)[0]
        if winch_r in ready:
            try:
                os.read(winch_r, 64)
            except BlockingIOError:
                pass
            if (size := _window_size()) is not None:
                link.send_size(size)
        if 0 in ready:
            data = os.read(0, 65536)
            if not data:
                readers.remove(0)  # end of our input: the container's stdin stays open, as Docker's attach
                continue
            out, held, detach = split_keys(held, data, keys)
            if out:
                link.send_input(out)
            if detach:
                result.detached = True
                return


def split_keys(held: bytes, data: bytes, keys: bytes) -> tuple[bytes, bytes, bool]:
    """Typed ``data`` after ``held`` (a beginning of ``keys`` typed before): (bytes to
    send now, bytes held back, whether the whole of ``keys`` was typed)."""
    out = bytearray()
    for byte in data:
        typed = bytes([byte])
        if keys.startswith(held + typed):
            held += typed
            if held == keys:
                return bytes(out), b"", True
            continue
        out += held  # it was text after all
        held = b""
        if keys.startswith(typed):
            held = typed
        else:
            out += typed
    return bytes(out), held, False

