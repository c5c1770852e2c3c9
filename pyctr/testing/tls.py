"""A private certificate authority made with openssl, for TLS registry tests.

:func:`make_pki` writes a CA, a server certificate for the given DNS names and
IP addresses, and a client certificate, all signed by the CA, into a
directory, and returns their paths. :meth:`Pki.certs_d` lays them out as
Docker's ``certs.d/<host:port>/`` (``ca.crt``, ``client.cert``,
``client.key``).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Pki:
    dir: Path

    ca_cert = property(lambda self: self.dir / "ca.crt")
    ca_key = property(lambda self: self.dir / "ca.key")
    server_cert = property(lambda self: self.dir / "server.crt")
    server_key = property(lambda self: self.dir / "server.key")
    client_cert = property(lambda self: self.dir / "client.cert")
    client_key = property(lambda self: self.dir / "client.key")

    def certs_d(self, base: Path, host: str, client: bool = True) -> Path:
        """``base/host/`` with ca.crt (and the client pair): returns ``base``."""
        d = Path(base) / host
        d.mkdir(parents=True, exist_ok=True)
        (d / "ca.crt").write_bytes(self.ca_cert.read_bytes())
        if client:
            (d / "client.cert").write_bytes(self.client_cert.read_bytes())
            (d / "client.key").write_bytes(self.client_key.read_bytes())
            (d / "client.key").chmod(0o600)
        return Path(base)


def _openssl(*args: str, cwd: Path) -> None:
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {r.stderr.strip()}")


def make_pki(directory: str | Path, dns: tuple[str, ...] = ("localhost",),
             ips: tuple[str, ...] = ("127.0.0.1",)) -> Pki:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    pki = Pki(d)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pyctr test CA",
             "-keyout", "ca.key", "-out", "ca.crt", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    san = ",".join([f"DNS:{n}" for n in dns] + [f"IP:{i}" for i in ips])
    (d / "server.ext").write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n"
                                  "basicConstraints=CA:FALSE\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    for name, cn, cert in (("server", dns[0] if dns else ips[0], "server.crt"), ("client", "pyctr client", "client.cert")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-extfile", f"{name}.ext", "-out", cert, cwd=d)
    return pki
