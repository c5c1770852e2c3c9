"""A forward HTTP proxy on loopback for tests: ``CONNECT`` tunnels and absolute-URI requests.

What a corporate proxy does, and nothing pyctr-specific: a client sends
``CONNECT host:port`` (then speaks TLS to the far end through the tunnel) or
``GET http://host:port/path`` (plain HTTP, forwarded). The proxy resolves
names itself, through ``hosts`` first (so a test can name a loopback
registry ``registry.pyctr.test``, which the client could not resolve: proof
that the traffic went through the proxy), and logs each request line. With
``credentials`` it answers 407 unless ``Proxy-Authorization`` matches.
Only loopback targets are allowed.
"""

from __future__ import annotations

import base64
import select
import socket
import socketserver
import threading


class _Handler(socketserver.StreamRequestHandler):
    server: _Server
    #: unbuffered: the request head is read byte by byte, so whatever follows it stays in the
    #: socket for the tunnel instead of in a buffer
    rbufsize = 0

    def handle(self) -> None:
        line = self.rfile.readline(8192).decode("latin-1").strip()
        if not line:
            return
        headers: list[tuple[str, str]] = []
        while True:
            h = self.rfile.readline(8192).decode("latin-1")
            if h in ("\r\n", "\n", ""):
                break
            name, _, value = h.partition(":")
            headers.append((name.strip(), value.strip()))
        method, target, version = (line.split(" ") + ["", ""])[:3]
        owner = self.server.owner
        owner.requests.append(line)
        if owner.credentials:
            want = "Basic " + base64.b64encode(f"{owner.credentials[0]}:{owner.credentials[1]}".encode()).decode()
            got = next((v for k, v in headers if k.lower() == "proxy-authorization"), "")
            if got != want:
                self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                 b"Proxy-Authenticate: Basic realm=\"pyctr\"\r\nContent-Length: 0\r\n\r\n")
                return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = self._connect(host, int(port))
            if upstream is None:
                self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            self._pipe(upstream, b"")
            return
        if not target.startswith("http://"):
            self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        rest = target[len("http://"):]
        netloc, _, path = rest.partition("/")
        host, _, port = netloc.rpartition(":") if ":" in netloc else (netloc, "", "80")
        upstream = self._connect(host, int(port))
        if upstream is None:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        # one request per connection: the simplest correct forwarding
        head = f"{method} /{path} {version}\r\n"
        for k, v in headers:
            if k.lower() not in ("proxy-authorization", "proxy-connection", "connection"):
                head += f"{k}: {v}\r\n"
        head += "Connection: close\r\n\r\n"
        self._pipe(upstream, head.encode("latin-1"))

    def _connect(self, host: str, port: int) -> socket.socket | None:
        owner = self.server.owner
        addr = owner.hosts.get(host, host)
        try:
            infos = socket.getaddrinfo(addr, port, proto=socket.IPPROTO_TCP)
        except OSError:
            return None
        for *_, sockaddr in infos:
            import ipaddress

            if not ipaddress.ip_address(sockaddr[0]).is_loopback:
                continue  # a test proxy never leaves this machine
            try:
                return socket.create_connection(sockaddr[:2], timeout=30)
            except OSError:
                continue
        return None

    def _pipe(self, upstream: socket.socket, first: bytes) -> None:
        client = self.connection
        try:
            if first:
                upstream.sendall(first)
            socks = [client, upstream]
            while True:
                ready, _, _ = select.select(socks, [], [], 60)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (upstream if s is client else client).sendall(data)
        except OSError:
            return
        finally:
            upstream.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: Proxy


class Proxy:
    def __init__(self, hosts: dict[str, str] | None = None, credentials: tuple[str, str] | None = None) -> None:
        self.hosts = dict(hosts or {})
        self.credentials = credentials
        self.requests: list[str] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="pyctr-test-proxy")

    @property
    def url(self) -> str:
        if self.credentials:
            return f"http://{self.credentials[0]}:{self.credentials[1]}@127.0.0.1:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Proxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
