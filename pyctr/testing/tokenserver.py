"""A tiny Docker token server for tests (the ``token`` auth of docker-registry).

Issues RS256 JWTs with an ``x5c`` header carrying a self-signed certificate
that the registry trusts through ``rootcertbundle``. Keys are made and tokens
signed with the ``openssl`` command, so nothing beyond the standard library
is needed. A GET must carry the test user's Basic credentials; a POST is
OAuth2's token request (the distribution spec's ``oauth.md``) with the
``refresh_token`` grant of an identity token in :attr:`TokenServer.refresh_tokens`,
as Docker sends for a config.json ``identitytoken`` or a helper's ``<token>``;
a wrong one is RFC 6749's ``400 invalid_grant``.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    service = "pyctr-test-registry"
    issuer = "pyctr-test-issuer"

    def __init__(self, workdir: Path, user: str, password: str) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.user, self.password = user, password
        self.key_path = self.dir / "key.pem"
        self.cert_path = self.dir / "cert.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key_path),
                        "-out", str(self.cert_path), "-days", "2", "-subj", "/CN=pyctr-test-token"],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert_path), "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self._x5c = base64.b64encode(der).decode()
        self.requests: list[dict] = []  # what clients asked for, for assertions
        #: identity tokens (OAuth2 refresh tokens) the POST endpoint accepts
        self.refresh_tokens = {uuid.uuid4().hex}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def realm(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/token"

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key_path)],
                             input=signing_input.encode(), check=True, capture_output=True).stdout
        return f"{signing_input}.{_b64url(sig)}"

    def issue(self, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) >= 3:
                access.append({"type": parts[0], "name": ":".join(parts[1:-1]), "actions": parts[-1].split(",")})
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": self.user, "aud": self.service, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": uuid.uuid4().hex, "access": access}
        return self.sign(claims)

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                u = urlsplit(self.path)
                q = parse_qs(u.query)
                auth = self.headers.get("Authorization", "")
                expected = "Basic " + base64.b64encode(f"{server.user}:{server.password}".encode()).decode()
                server.requests.append({"method": "GET", "path": u.path, "query": q, "auth": bool(auth)})
                if u.path != "/token" or auth != expected:
                    self.answer(401, None)
                    return
                self.answer(200, {"token": server.issue(q.get("scope", [])), "expires_in": 300})

            def do_POST(self) -> None:
                u = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(min(length, 1 << 16)).decode()).items()}
                server.requests.append({"method": "POST", "path": u.path, "form": form,
                                        "content_type": self.headers.get("Content-Type", ""),
                                        "auth": bool(self.headers.get("Authorization"))})
                if u.path != "/token":
                    self.answer(404, None)
                elif form.get("grant_type") != "refresh_token":
                    self.answer(400, {"error": "unsupported_grant_type"})
                elif form.get("refresh_token") not in server.refresh_tokens or not form.get("client_id"):
                    self.answer(400, {"error": "invalid_grant"})
                else:
                    token = server.issue(form.get("scope", "").split())
                    self.answer(200, {"access_token": token, "refresh_token": form["refresh_token"],
                                      "expires_in": 300, "scope": form.get("scope", "")})

            def answer(self, status: int, doc: dict | None) -> None:
                body = json.dumps(doc).encode() if doc is not None else b""
                self.send_response(status)
                if doc is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True, name="pyctr-img-tokens")
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
