"""A real OCI registry for tests: Debian's ``docker-registry`` (CNCF distribution).

:func:`start_registry` writes a config into a temporary directory, starts the
binary on 127.0.0.1 at a free port, waits until ``/v2/`` answers and returns
a :class:`LocalRegistry` whose :meth:`~LocalRegistry.stop` kills it by PID.
The pytest fixtures ``registry`` (anonymous), ``auth_registry`` (htpasswd,
HTTP Basic) and ``token_registry`` (Bearer tokens from a token server run by
the fixture) are session-scoped and marked ``registry``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REGISTRY_BIN = "/usr/bin/docker-registry"
TEST_USER = "pyctr"
TEST_PASSWORD = "pyctr-secret-pw"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalRegistry:
    host: str  # "127.0.0.1:PORT", usable as the registry part of a reference
    workdir: Path
    proc: subprocess.Popen | None
    user: str | None = None
    password: str | None = None
    auth: str = "none"
    extra: list = field(default_factory=list)  # other things to stop (token server)
    #: a TLS registry: the openssl-made CA and certificates (pyctr.testing.tls.Pki)
    pki: object = None
    #: skopeo's --dest-cert-dir for a registry that wants client certificates
    cert_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.pki else 'http'}://{self.host}"

    @property
    def credentials(self) -> tuple[str, str] | None:
        return (self.user, self.password) if self.user and self.password else None

    @property
    def skopeo_creds(self) -> list[str]:
        """``--dest-creds``/``--creds`` style value as a one-element list, or empty."""
        return [f"{self.user}:{self.password}"] if self.credentials else []

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        for item in self.extra:
            item.stop()
        self.extra.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _config(storage: Path, port: int, auth_block: str, tls_block: str = "") -> str:
    return f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  secret: pyctr-test-secret
{tls_block}{auth_block}"""


def start_registry(auth: str = "none", workdir: str | os.PathLike[str] | None = None,
                   timeout: float = 30.0, pki=None, client_certs: bool = False) -> LocalRegistry:
    """Start a registry; ``auth`` is ``"none"``, ``"htpasswd"`` or ``"token"``.

    With ``pki`` (:func:`pyctr.testing.tls.make_pki`) it serves TLS with the
    PKI's server certificate, and with ``client_certs`` it also demands a
    client certificate signed by the PKI's CA.
    """
    if not os.access(REGISTRY_BIN, os.X_OK):
        raise RuntimeError(f"{REGISTRY_BIN} is missing (apt-get install docker-registry)")
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="pyctr-img-registry-"))
    work.mkdir(parents=True, exist_ok=True)
    storage = work / "storage"
    storage.mkdir(exist_ok=True)
    port = free_port()
    reg = LocalRegistry(host=f"127.0.0.1:{port}", workdir=work, proc=None, auth=auth)
    auth_block = ""
    if auth in ("htpasswd", "token"):
        reg.user, reg.password = TEST_USER, TEST_PASSWORD
    if auth == "htpasswd":
        line = subprocess.run(["htpasswd", "-Bbn", TEST_USER, TEST_PASSWORD], check=True,
                              capture_output=True, text=True).stdout.strip()
        (work / "htpasswd").write_text(line + "\n")
        auth_block = f"auth:\n  htpasswd:\n    realm: pyctr-test\n    path: {work / 'htpasswd'}\n"
    elif auth == "token":
        from pyctr.testing.tokenserver import TokenServer

        ts = TokenServer(work / "token", TEST_USER, TEST_PASSWORD)
        ts.start()
        reg.extra.append(ts)
        auth_block = (
            "auth:\n  token:\n"
            f"    realm: {ts.realm}\n    service: {ts.service}\n    issuer: {ts.issuer}\n"
            f"    rootcertbundle: {ts.cert_path}\n"
        )
    elif auth != "none":
        raise ValueError(f"unknown auth {auth!r}")
    tls_block = ""
    if pki is not None:
        reg.pki = pki
        tls_block = f"  tls:\n    certificate: {pki.server_cert}\n    key: {pki.server_key}\n"
        if client_certs:
            tls_block += f"    clientcas:\n      - {pki.ca_cert}\n"
            reg.cert_dir = work / "skopeo-certs"
            reg.cert_dir.mkdir(exist_ok=True)
            for src, name in ((pki.ca_cert, "ca.crt"), (pki.client_cert, "client.cert"), (pki.client_key, "client.key")):
                (reg.cert_dir / name).write_bytes(Path(src).read_bytes())
    cfg = work / "config.yml"
    cfg.write_text(_config(storage, port, auth_block, tls_block))
    log = open(work / "registry.log", "wb")
    reg.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    deadline = time.monotonic() + timeout
    while True:
        if reg.proc.poll() is not None:
            text = (work / "registry.log").read_text(errors="replace")[-2000:]
            reg.stop()
            raise RuntimeError(f"docker-registry exited: {text}")
        try:
            if pki is not None:
                # up is up: a TLS handshake that fails for want of a client certificate counts
                if _tls_answers(port):
                    break
            else:
                with urllib.request.urlopen(f"{reg.url}/v2/", timeout=2) as r:
                    r.read()
                break
        except urllib.error.HTTPError as e:
            if e.code == 401:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            reg.stop()
            raise RuntimeError("docker-registry did not answer /v2/ in time")
        time.sleep(0.05)
    return reg


def _tls_answers(port: int) -> bool:
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        try:
            with ctx.wrap_socket(sock, server_hostname="localhost"):
                return True
        except ssl.SSLError:
            return True  # it speaks TLS


def _fixture(auth: str) -> Iterator[LocalRegistry]:
    if not os.access(REGISTRY_BIN, os.X_OK) or not shutil.which("skopeo"):
        pytest.skip("docker-registry or skopeo not installed")
    reg = start_registry(auth)
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def registry() -> Iterator[LocalRegistry]:
    """An anonymous registry on 127.0.0.1 for the whole session."""
    yield from _fixture("none")


@pytest.fixture(scope="session")
def auth_registry() -> Iterator[LocalRegistry]:
    """A registry that wants HTTP Basic credentials (htpasswd)."""
    yield from _fixture("htpasswd")


@pytest.fixture(scope="session")
def token_registry() -> Iterator[LocalRegistry]:
    """A registry that wants Bearer tokens from a token server (which wants Basic credentials)."""
    yield from _fixture("token")
