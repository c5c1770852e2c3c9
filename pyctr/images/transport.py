"""How the registry client reaches a host: proxies from the environment, TLS from certs.d.

Proxies follow the conventions of Go's ``net/http`` (what Docker uses), so
one environment serves docker, podman and pyctr alike:

* ``HTTPS_PROXY`` for https URLs, ``HTTP_PROXY`` for http ones (each also in
  lower case; the upper case wins); ``user:password@`` in the proxy URL
  becomes ``Proxy-Authorization: Basic``.
* ``NO_PROXY``: a comma-separated list of hosts (``example.com`` also
  matches its subdomains, ``.example.com`` only them), ``host:port``, IP
  addresses, CIDR blocks, or ``*`` for everything.
* ``localhost`` and loopback addresses are never proxied (Go's rule: a
  proxy cannot reach this machine's loopback).
* https goes through the proxy with ``CONNECT`` (the TLS session is end to
  end, the proxy sees only the host name); plain http sends the absolute URL
  to the proxy.

TLS: the system CA store, plus, for a registry ``host:port``, every
``*.crt`` in ``DIR/host:port/`` as a CA and every ``*.cert`` with the
``*.key`` of the same name as a client certificate, for each DIR in the
``certs-dirs`` setting (``/etc/docker/certs.d`` and
``/etc/containers/certs.d`` by default): Docker's and podman's layout.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pyctr.core.errors import ImageError

DEFAULT_CERTS_DIRS = ("/etc/docker/certs.d", "/etc/containers/certs.d")


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    #: ``Proxy-Authorization`` header value, or ""
    authorization: str = ""

    @property
    def netloc(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _env(name: str) -> str:
    return os.environ.get(name.upper()) or os.environ.get(name.lower()) or ""


def split_host_port(netloc: str, default_port: int) -> tuple[str, int]:
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif netloc.count(":") == 1:
        host, _, port = netloc.partition(":")
    else:
        host, port = netloc, ""
    try:
        return host.lower(), int(port) if port else default_port
    except ValueError:
        raise ImageError(f"invalid port in {netloc!r}") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    if host.startswith("127.") or host == "::1":
        import ipaddress

        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return False


def _no_proxy_matches(entry: str, host: str, port: int) -> bool:
    entry = entry.strip().lower()
    if not entry:
        return False
    if entry == "*":
        return True
    if "/" in entry:  # a CIDR block
        import ipaddress

        try:
            return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
    want_host, want_port = entry, 0
    if entry.startswith("[") or entry.count(":") == 1:
        want_host, want_port = split_host_port(entry, 0)
    if want_port and want_port != port:
        return False
    if want_host.startswith("."):
        return host.endswith(want_host)
    if want_host.startswith("*."):
        return host.endswith(want_host[1:])
    return host == want_host or host.endswith("." + want_host)


def proxy_for(scheme: str, netloc: str) -> Proxy | None:
    """The proxy the environment names for ``scheme://netloc``, or None (direct)."""
    url = _env("https_proxy") if scheme == "https" else _env("http_proxy")
    if not url:
        return None
    host, port = split_host_port(netloc, 443 if scheme == "https" else 80)
    if _is_loopback(host):
        return None
    for entry in _env("no_proxy").split(","):
        if _no_proxy_matches(entry, host, port):
            return None
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImageError(f"unsupported proxy URL {url!r} (want http://host:port)")
    if parts.scheme == "https":
        raise ImageError(f"proxy {parts.hostname}: TLS to the proxy itself is not supported; use http://")
    auth = ""
    if parts.username is not None:
        creds = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(creds.encode()).decode()
    try:
        port_ = parts.port or 80
    except ValueError:
        raise ImageError(f"invalid port in proxy URL {url!r}") from None
    return Proxy(parts.hostname, port_, auth)


# -------------------------------------------------------------------- TLS --
@dataclass(frozen=True)
class CertsFor:
    """What certs.d holds for one registry."""
    cas: tuple[Path, ...] = ()
    client_pairs: tuple[tuple[Path, Path], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.cas or self.client_pairs)


def certs_for(registry: str, dirs: Sequence[str | os.PathLike[str]]) -> CertsFor:
    cas: list[Path] = []
    pairs: list[tuple[Path, Path]] = []
    if not registry or "/" in registry or registry.startswith("."):
        return CertsFor()
    for base in dirs:
        d = Path(base) / registry
        try:
            names = sorted(os.listdir(d))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except PermissionError:
            raise ImageError(f"cannot read {d}: permission denied") from None
        for name in names:
            if name.endswith(".crt"):
                cas.append(d / name)
            elif name.endswith(".cert"):
                key = d / (name[:-5] + ".key")
                if not key.exists():
                    raise ImageError(f"client certificate {d / name} has no key {key.name}")
                pairs.append((d / name, key))
            elif name.endswith(".key"):
                if not (d / (name[:-4] + ".cert")).exists():
                    raise ImageError(f"client key {d / name} has no certificate {name[:-4]}.cert")
    return CertsFor(tuple(cas), tuple(pairs))


def tls_context(certs: CertsFor, verify: bool = True):  # noqa: ANN201  (ssl.SSLContext, imported lazily)
    import ssl

    ctx = ssl.create_default_context()  # the system CA store
    try:
        for ca in certs.cas:
            ctx.load_verify_locations(cafile=str(ca))
        for cert, key in certs.client_pairs:
            ctx.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as e:
        raise ImageError(f"certs.d: cannot load {getattr(e, 'filename', None) or 'a certificate'}: "
                         f"{getattr(e, 'reason', None) or e}") from None
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
