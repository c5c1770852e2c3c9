"""``POST /containers/{id}/attach`` (hijacked) and ``/resize``.

The container's monitor (pyctr.runtime.monitor) serves attached clients on a
unix socket in frames; this module relays between such a socket and the
hijacked HTTP connection, in Docker's stream format: stdcopy frames
(``[stream, 0, 0, 0, length]`` + payload) without a TTY, raw bytes with one.

The docker CLI attaches *before* it starts the container (so that no output
is lost), and a created container has no monitor yet: the attach then gets
one end of a socket pair and leaves the other here (:func:`take_pending`),
which ``start`` hands to the monitor as a client attached from the first byte.
"""

from __future__ import annotations

import select
import socket
import struct
import time

from pyctr.api.errors import ApiError
from pyctr.api.routes import route
from pyctr.api.streams import STDERR, STDOUT, _add_pending, _drop_pending, content_type, frame, stdcopy

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.api.http import Request

def parse_detach_keys(text: str | None) -> bytes:
    from pyctr.core.errors import UsageError
    from pyctr.runtime.attaching import DETACH_KEYS
    from pyctr.runtime.attaching import parse_detach_keys as parse

    if not text:
        return DETACH_KEYS
    try:
        return parse(text)
    except UsageError as e:
        raise ApiError(400, str(e)) from None


@route("POST", "/containers/{id}/attach")
def attach(req: Request, id: str) -> None:  # noqa: A002
    from pyctr.api.objects import is_running, lookup
    from pyctr.core import events
    from pyctr.runtime.detach import attach_socket

    engine = req.engine
    c = lookup(engine, id)
    keys = parse_detach_keys(req.arg("detachKeys"))
    want_stdin, want_out, want_err = req.flag("stdin"), req.flag("stdout"), req.flag("stderr")
    streaming, logs = req.flag("stream"), req.flag("logs")
    if not (want_out or want_err or want_stdin):
        raise ApiError(400, "you must choose at least one stream")
    tty = c.spec.tty
    monitor: socket.socket | None = None
    pending: socket.socket | None = None
    if streaming:
        if is_running(c):
            try:
                monitor = attach_socket(c, connect=True)
            except Exception as e:  # noqa: BLE001
                raise ApiError(409, f"cannot attach to container {c.name}: {e}") from None
        else:
            monitor, pending = socket.socketpair()
            _add_pending(c.id, pending)
    sock, early = req.hijack(content_type(req, tty))
    events.container_event(engine, c, "attach")
    try:
        if logs:
            from pyctr.api.streams import entries

            for entry in entries(c, stdout=want_out, stderr=want_err):
                data = entry["log"].encode()
                stream = STDERR if entry.get("stream") == "stderr" else STDOUT
                _send_all(sock, data if tty else stdcopy(stream, data))
        if monitor is not None:
            Relay(req, sock, monitor, tty=tty, stdin=want_stdin, stdout=want_out, stderr=want_err,
                  keys=keys).run(early)
    finally:
        if pending is not None:
            _drop_pending(c.id, pending)
        if monitor is not None:
            monitor.close()
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _send_all(sock: socket.socket, data: bytes) -> None:
    sock.setblocking(True)
    sock.sendall(data)


class Relay:
    """Copies between a hijacked client and a monitor's socket until the container exits,
    the client detaches (its detach keys) or goes, or the service stops."""

    def __init__(self, req: Request, client: socket.socket, monitor: socket.socket, *, tty: bool, stdin: bool,
                 stdout: bool, stderr: bool, keys: bytes = b"") -> None:
        self.req, self.client, self.monitor = req, client, monitor
        self.tty, self.stdin, self.stdout, self.stderr, self.keys = tty, stdin, stdout, stderr, keys
        self.exit_code: int | None = None

    def run(self, early: bytes = b"") -> None:
        from pyctr.runtime.attaching import split_keys

        client, monitor = self.client, self.monitor
        client.setblocking(False)
        out = bytearray()  # to the client, not yet sent
        received = b""  # from the monitor, an incomplete frame
        held = b""  # a beginning of the detach keys
        reading_client = True
        monitor_open = True
        if early and self.stdin:
            # the client may type at once: its first keys can come with the request (the detach keys too)
            data, held, detach = split_keys(held, early, self.keys)
            if data:
                self._to_monitor(frame(b"d", data))
            if detach:
                return
        while True:
            if not reading_client and hung_up(client):
                break  # the client went altogether (not just the end of its input)
            readers = [monitor] if monitor_open else []
            if reading_client:
                readers.append(client)
            writers = [client] if out else []
            if not readers and not writers:
                break
            try:
                ready, writable, _ = select.select(readers, writers, [], 1.0)
            except (OSError, ValueError):
                break
            if self.req.server.stopping.is_set():
                break
            if client in writable and out:
                try:
                    sent = client.send(out)
                    del out[:sent]
                except BlockingIOError:
                    pass
                except OSError:
                    break  # the client is gone
            if monitor in ready:
                try:
                    data = monitor.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    monitor_open = False
                    reading_client = False
                else:
                    received += data
                    received = self._frames(received, out)
            if client in ready:
                try:
                    data = client.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    reading_client = False  # end of the client's input (or it went: a send will tell)
                    if self.stdin:
                        self._to_monitor(frame(b"c", b""))
                    continue
                if self.stdin:
                    data, held, detach = split_keys(held, data, self.keys)
                    if data:
                        self._to_monitor(frame(b"d", data))
                    if detach:
                        break
            if not monitor_open and not out:
                break
        self._flush(out)

    def _frames(self, buf: bytes, out: bytearray) -> bytes:
        while len(buf) >= 5:
            kind, size = buf[:1], struct.unpack(">I", buf[1:5])[0]
            if len(buf) < 5 + size:
                break
            payload, buf = buf[5:5 + size], buf[5 + size:]
            if kind == b"o" and self.stdout or kind == b"e" and self.stderr:
                if self.tty:
                    out += payload
                else:
                    out += stdcopy(STDERR if kind == b"e" else STDOUT, payload)
            elif kind == b"x" and size == 4:
                self.exit_code = struct.unpack(">i", payload)[0]
        return buf

    def _to_monitor(self, data: bytes) -> None:
        try:
            self.monitor.sendall(data)
        except OSError:
            pass

    def _flush(self, out: bytearray) -> None:
        deadline = time.monotonic() + 10
        while out and time.monotonic() < deadline:
            try:
                _, writable, _ = select.select([], [self.client], [], 1.0)
                if writable:
                    sent = self.client.send(out)
                    del out[:sent]
            except BlockingIOError:
                continue
            except OSError:
                return


@route("POST", "/containers/{id}/resize")
def resize(req: Request, id: str) -> None:  # noqa: A002
    from pyctr.api.objects import is_running, lookup
    from pyctr.runtime.detach import attach_socket

    engine = req.engine
    c = lookup(engine, id)
    height, width = req.int_arg("h", 0), req.int_arg("w", 0)
    if height is None or width is None or height < 0 or width < 0 or height > 65535 or width > 65535:
        raise ApiError(400, "invalid terminal size")
    if not is_running(c):
        raise ApiError(409, f"Container {c.id} is not running")
    if c.spec.tty and height and width:
        set_window(attach_socket, c, height, width)
    req.empty(200)


def set_window(attach_socket: object, c: object, height: int, width: int) -> None:
    """Tell the container's monitor the terminal's size (it sets it on the pty; the kernel signals SIGWINCH)."""
    try:
        sock = attach_socket(c, connect=True)  # type: ignore[operator]
    except Exception:  # noqa: BLE001, S110  (no monitor: nothing to resize)
        return
    try:
        sock.sendall(frame(b"w", struct.pack("HHHH", height, width, 0, 0)))
        time.sleep(0)  # the monitor reads the frame before it sees the close
    finally:
        sock.close()


def hung_up(sock: socket.socket) -> bool:
    """Whether the peer closed both directions (a half-close, the end of its input, is not that)."""
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    try:
        return any(ev & (select.POLLHUP | select.POLLERR) for _, ev in poller.poll(0))
    except OSError:
        return True
