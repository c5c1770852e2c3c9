"""Which registry client a command gets: TLS or plain HTTP, mirrors, and whose credentials.

* Plain HTTP for registries in the ``insecure_registries`` setting and, like
  Docker, for localhost / 127.0.0.0/8 / ::1 (unless certs.d has certificates
  for them: then TLS with those). ``--tls-verify=false`` (podman's flag)
  means the same for one command: try HTTPS without verifying the
  certificate, and fall back to plain HTTP when the registry does not speak TLS.
* TLS trusts the system's CAs plus certs.d's (:mod:`pyctr.images.transport`).
* Credentials: :mod:`pyctr.images.credentials` (Docker's config and helpers,
  containers' auth.json, then pyctr's own ``$PYCTR_AUTH_FILE`` or
  ``ROOT/auth.json``).
* Mirrors (``registry-mirrors``): a pull tries each mirror of the image's
  registry in order and falls back to the registry itself, as Docker does
  for Docker Hub; pushes always go to the registry.
"""

from __future__ import annotations

import os
from pathlib import Path

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.core.engine import Engine
    from pyctr.images.credentials import Credentials
    from pyctr.images.distribution import ManifestResult, RegistryClient


def auth_file(engine: Engine) -> Path:
    return Path(os.environ.get("PYCTR_AUTH_FILE") or engine.config.root / "auth.json")


def is_insecure(engine: Engine, registry: str) -> bool:
    return registry in engine.config.insecure_registries


def credentials_for(engine: Engine, registry: str) -> Credentials | None:
    from pyctr.images.credentials import lookup

    return lookup(registry, auth_file(engine))


def client(engine: Engine, registry: str, *, tls_verify: bool = True,
           credentials: Credentials | tuple[str, str] | None = None,
           cert_dir: str | None = None) -> RegistryClient:
    """A client for ``registry`` with saved (or given) credentials; probes TLS when insecure."""
    from pyctr.images.distribution import RegistryClient, _is_local, api_host
    from pyctr.images.transport import certs_for

    if credentials is None:
        credentials = credentials_for(engine, registry)
    dirs = [cert_dir] if cert_dir else list(engine.config.certs_dirs)
    certs = certs_for(registry, dirs) or None
    insecure = is_insecure(engine, registry) or not tls_verify
    if not insecure or (_is_local(registry) and not certs):
        return RegistryClient(registry, credentials=credentials, certs=certs)
    # Insecure: HTTPS without verification if the registry speaks TLS, else HTTP.
    tls = RegistryClient(registry, tls_verify=False, credentials=credentials, timeout=10, certs=certs)
    if _speaks_tls(api_host(registry)):
        tls.timeout = 60.0
        return tls
    return RegistryClient(registry, insecure=True, credentials=credentials)


def mirrors_of(engine: Engine, registry: str) -> list[str]:
    """The configured mirrors of ``registry`` (a plain list in the config mirrors Docker Hub)."""
    configured = engine.config.registry_mirrors
    if isinstance(configured, dict):
        return list(configured.get(registry, ()))
    return list(configured) if registry == "docker.io" else []


def mirror_client(engine: Engine, registry: str, mirror: str, *, tls_verify: bool = True,
                  cert_dir: str | None = None) -> RegistryClient:
    """A client that asks ``mirror`` (``[http[s]://]host[:port]``) for ``registry``'s repositories."""
    from pyctr.core.errors import UsageError
    from pyctr.images.distribution import RegistryClient, _is_local
    from pyctr.images.transport import certs_for

    scheme, _, rest = mirror.rpartition("://")
    host = rest.split("/", 1)[0]
    if not host or scheme not in ("", "http", "https"):
        raise UsageError(f"invalid registry mirror {mirror!r} (want [http[s]://]host[:port])")
    dirs = [cert_dir] if cert_dir else list(engine.config.certs_dirs)
    certs = certs_for(host, dirs) or None
    insecure = scheme == "http" or (not scheme and (_is_local(host) and not certs or is_insecure(engine, host)))
    return RegistryClient(registry, host=host, insecure=insecure, tls_verify=tls_verify,
                          credentials=credentials_for(engine, host), certs=certs)


def resolve(engine: Engine, registry: str, repository: str, reference: str, platform: str | None, *,
            tls_verify: bool = True, cert_dir: str | None = None) -> tuple[RegistryClient, ManifestResult]:
    """The manifest for a pull, from the first mirror that has it, else from the registry;
    returns the client that answered, which fetches the blobs too."""
    import logging

    from pyctr.core.errors import ImageError, NotFound

    log = logging.getLogger("pyctr.registries")
    for mirror in mirrors_of(engine, registry):
        c = mirror_client(engine, registry, mirror, tls_verify=tls_verify, cert_dir=cert_dir)
        try:
            return c, c.resolve(repository, reference, platform)
        except (ImageError, NotFound, OSError) as e:
            log.info("mirror %s: %s; trying the next", mirror, e)
            c.close()
    c = client(engine, registry, tls_verify=tls_verify, cert_dir=cert_dir)
    try:
        return c, c.resolve(repository, reference, platform)
    except BaseException:
        c.close()
        raise


def _speaks_tls(host: str) -> bool:
    import socket
    import ssl

    name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    if not name:
        name = host
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((name, int(port or 443)), timeout=5) as sock:
            with ctx.wrap_socket(sock, server_hostname=name):
                return True
    except (OSError, ValueError):
        return False
