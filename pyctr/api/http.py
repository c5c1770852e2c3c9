"""One HTTP connection of the service: Docker's protocol rules on top of http.server.

What the clients rely on (``shared/reference/docker-api.md`` §1): every answer
carries ``Api-Version``, ``Ostype``, ``Server`` and ``Docker-Experimental``;
errors are ``{"message": ...}`` with ``Content-Type: application/json``
exactly (the Go client compares the whole header); paths may carry a
``/vX.Y`` prefix; booleans in the query are Go's ``BoolValue``; request
bodies come with a length or chunked; streams are chunked, one JSON object
per chunk, flushed at once; attach and exec start hijack the connection.
"""

from __future__ import annotations

import json
import re
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote

from pyctr import __version__
from pyctr.api import routes
from pyctr.api.errors import ApiError, NotModified, message_of, status_of
from pyctr.core.errors import PyctrError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import IO, Any

    from pyctr.api.server import Service
    from pyctr.core.engine import Engine

API_VERSION = "1.41"
MIN_API_VERSION = "1.24"
#: the largest JSON body read into memory (a create with every option is a few KB)
MAX_JSON_BODY = 4 << 20
_VERSIONED = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")
_FALSE = ("", "0", "no", "false", "none")


class Stream:
    """A chunked answer: one ``write`` per chunk, flushed at once."""

    def __init__(self, req: Request) -> None:
        self.req = req
        self.closed = False

    def write(self, data: bytes) -> None:
        if data and not self.closed:
            self.req.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.req.wfile.flush()

    def json(self, obj: Any) -> None:
        self.write(json.dumps(obj).encode() + b"\r\n")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.req.wfile.write(b"0\r\n\r\n")
                self.req.wfile.flush()
            except OSError:
                self.req.close_connection = True

    def gone(self, timeout: float = 0.0) -> bool:
        """Whether the client hung up (or the service is stopping); waits up to ``timeout`` for that."""
        return self.req.client_gone(timeout)


def _wait_until_read(sock: socket.socket, timeout: float = 0.5) -> None:
    """Until the client has read what we sent (the hijack's headers), at most ``timeout``.

    docker-py reads the headers through a buffered reader, then takes the raw socket:
    bytes that came with the headers stay in that buffer and are lost (an attach's
    log replay, a quick exec's output). The kernel counts what the peer has not read
    yet (SIOCOUTQ; for TCP, what it has not acknowledged)."""
    import fcntl
    import struct
    import termios

    deadline = time.monotonic() + timeout
    while True:
        try:
            pending = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        except OSError:
            return
        if pending <= 0 or time.monotonic() >= deadline:
            return
        time.sleep(0.001)


class Request(BaseHTTPRequestHandler):
    """The handler of one connection; each request on it is handled by :meth:`dispatch`."""

    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.1"  # even a garbled request line gets a status line back
    server: Service  # type: ignore[assignment]
    #: set by dispatch for the current request
    version: tuple[int, int] = (1, 41)
    query: dict[str, list[str]] = {}
    responded = False

    # -- http.server's hooks ---------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self._engine: Engine | None = None

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._engine is not None and "db" in vars(self._engine):
                try:
                    self._engine.db.close()
                except Exception:  # noqa: BLE001, S110  (closing at the end of a connection)
                    pass

    def address_string(self) -> str:
        return "unix" if not isinstance(self.client_address, tuple) else str(self.client_address[0])

    def version_string(self) -> str:
        return f"pyctr/{__version__} (linux)"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:
            sys.stderr.write(f"pyctr service: {format % args}\n")

    def handle_one_request(self) -> None:
        # as http.server's, with the idle clock told when a request is in flight
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except OSError:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        with self.server.busy():
            if not self.parse_request():
                return
            self.dispatch()
            try:
                self.wfile.flush()
            except OSError:
                self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (bad request line, headers) in Docker's JSON shape
        self.close_connection = True
        try:
            self._send_json(code, {"message": message or self.responses.get(code, ("error",))[0]})
        except OSError:
            pass

    # -- dispatch -------------------------------------------------------------------

    def dispatch(self) -> None:
        self.responded = False
        raw_path, _, raw_query = self.path.partition("?")
        path = unquote(raw_path)
        m = _VERSIONED.match(path)
        self.version = (1, 41)
        if m:
            self.version = (int(m.group(1)), int(m.group(2)))
            path = m.group(3)
        self.query = parse_qs(raw_query, keep_blank_values=True)
        found = routes.match(self.command, path.rstrip("/") or "/")
        if not found and self.command == "HEAD":  # HEAD of a GET route: its headers (no body is written)
            found = routes.match("GET", path.rstrip("/") or "/") or found
        try:
            if not found:
                raise ApiError(404 if found is None else 405, f"page not found: {self.command} {path}")
            handler, params = found  # type: ignore[misc]
            handler(self, **params)
            if not self.responded:
                self.empty(204)
        except NotModified:
            if not self.responded:
                self.empty(304)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except (ApiError, PyctrError, OSError) as e:
            self._fail(e)
        except Exception as e:  # noqa: BLE001  (a bug: one JSON error, the service keeps serving)
            if self.server.verbose:
                import traceback

                traceback.print_exc()
            self._fail(ApiError(500, f"internal error: {type(e).__name__}: {e}"))

    def _fail(self, e: BaseException) -> None:
        if self.responded:
            self.close_connection = True  # a stream already began: nothing more to say on it
            return
        self._discard_body()
        try:
            self._send_json(status_of(e), {"message": message_of(e)})
        except OSError:
            self.close_connection = True

    # -- the request ------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """This connection's Engine (its own SQLite connection; a connection is one thread)."""
        if self._engine is None:
            from pyctr.core.engine import Engine

            self._engine = Engine(self.server.config)
        return self._engine

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query parameter, as Go's httputils.BoolValue reads it."""
        value = self.arg(name)
        if value is None:
            return default
        return value.strip().lower() not in _FALSE

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise ApiError(400, f"invalid value for {name}: {value!r} is not an integer") from None

    def filters(self) -> dict[str, list[str]]:
        from pyctr.api.filters import parse

        return parse(self.arg("filters"))

    def has_body(self) -> bool:
        return "chunked" in (self.headers.get("Transfer-Encoding") or "").lower() or \
            int(self.headers.get("Content-Length") or 0) > 0

    def body(self, limit: int = MAX_JSON_BODY) -> bytes:
        reader = self.body_reader()
        data = reader.read(limit + 1)
        if len(data) > limit:
            self.close_connection = True  # the rest is not read
            raise ApiError(413, f"request body larger than {limit} bytes")
        return data

    def body_json(self, required: bool = False) -> dict[str, Any]:
        data = self.body()
        if not data.strip():
            if required:
                raise ApiError(400, "a JSON body is required")
            return {}
        try:
            obj = json.loads(data)
        except ValueError as e:
            raise ApiError(400, f"malformed JSON body: {e}") from None
        if not isinstance(obj, dict):
            raise ApiError(400, "the JSON body must be an object")
        return obj

    def body_reader(self) -> IO[bytes]:
        """The request body as a file (read once)."""
        if getattr(self, "_body_reader", None) is None or self._body_reader_for is not self.raw_requestline:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                self._body_reader = _Chunked(self.rfile)
            else:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    raise ApiError(400, "invalid Content-Length") from None
                self._body_reader = _Limited(self.rfile, max(length, 0))
            self._body_reader_for = self.raw_requestline
        return self._body_reader

    def _discard_body(self) -> None:
        """Read what is left of the body, so the connection can serve its next request."""
        try:
            reader = self.body_reader()
            while reader.read(65536):
                pass
        except (ApiError, OSError, ValueError):
            self.close_connection = True

    # -- answers ---------------------------------------------------------------------

    def _headers(self, status: int, content_type: str | None, length: int | None) -> None:
        self.send_response(status)
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Ostype", "linux")
        self.send_header("Docker-Experimental", "false")
        if content_type:
            self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))

    def _send_json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj).encode() + b"\n"
        self._headers(status, "application/json", len(body))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.responded = True

    def json(self, obj: Any, status: int = 200) -> None:
        self._discard_body()
        self._send_json(status, obj)

    def empty(self, status: int = 204, headers: dict[str, str] | None = None) -> None:
        self._discard_body()
        self._headers(status, None, 0 if status not in (204, 304) else None)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.responded = True

    def text(self, data: bytes, content_type: str = "text/plain; charset=utf-8", status: int = 200,
             headers: dict[str, str] | None = None) -> None:
        self._discard_body()
        self._headers(status, content_type, len(data))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.responded = True

    def stream(self, content_type: str = "application/json", status: int = 200) -> Stream:
        """Begin a chunked answer: headers now, flushed (clients wait for them before reading)."""
        self._headers(status, content_type, None)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        self.responded = True
        return Stream(self)

    def hijack(self, content_type: str = "application/vnd.docker.raw-stream") -> tuple[socket.socket, bytes]:
        """Take the connection over (attach, exec start): 101 with ``Upgrade: tcp``, else 200,
        sent at once and alone (docker-py loses bytes that arrive with the headers). Returns the
        socket and what the client sent after its request (stdin that came early)."""
        self._discard_body()
        upgrade = "upgrade" in (self.headers.get("Connection") or "").lower() and self.headers.get("Upgrade")
        if upgrade:
            head = ("HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                    "Api-Version: %s\r\n\r\n" % (content_type, API_VERSION))
        else:
            head = "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nApi-Version: %s\r\n\r\n" % (content_type, API_VERSION)
        self.wfile.write(head.encode())
        self.wfile.flush()
        self.responded = True
        self.close_connection = True
        sock = self.connection
        _wait_until_read(sock)
        sock.setblocking(False)
        try:
            early = self.rfile.peek()  # (what is buffered; the socket is non-blocking meanwhile)
            early = self.rfile.read(len(early)) if early else b""
        except (BlockingIOError, ValueError):
            early = b""
        finally:
            sock.setblocking(True)
        return sock, early

    def client_gone(self, timeout: float = 0.0) -> bool:
        """Whether the client closed its end (or the service is stopping); waits up to ``timeout``."""
        if self.server.stopping.is_set():
            return True
        try:
            ready, _, _ = select.select([self.connection], [], [], timeout)
        except (OSError, ValueError):
            return True
        if not ready:
            return self.server.stopping.is_set()
        try:
            return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True


class _Limited:
    """A body of known length."""

    def __init__(self, f: IO[bytes], length: int) -> None:
        self.f = f
        self.left = length

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n)
        self.left -= len(data)
        if not data:
            self.left = 0
        return data

    def readable(self) -> bool:
        return True


class _Chunked:
    """A ``Transfer-Encoding: chunked`` body (the Go client streams load, import and build so)."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.left = 0
        self.done = False

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while not self.done and (n < 0 or len(out) < n):
            if self.left == 0:
                line = self.f.readline(1024)
                try:
                    self.left = int(line.split(b";", 1)[0].strip() or b"x", 16)
                except ValueError:
                    raise ApiError(400, "malformed chunked request body") from None
                if self.left == 0:
                    while self.f.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    self.done = True
                    break
            want = self.left if n < 0 else min(self.left, n - len(out))
            data = self.f.read(want)
            if not data:
                raise ApiError(400, "the request body ended early")
            out += data
            self.left -= len(data)
            if self.left == 0:
                self.f.readline(16)  # the CRLF after a chunk
        return bytes(out)

    def readable(self) -> bool:
        return True


#: one lock per name, for handlers that must not run twice at once on one object
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def lock_for(name: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(name, threading.Lock())
