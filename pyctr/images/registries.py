"""Which registry client a command gets: TLS or plain HTTP, and whose credentials.

* Plain HTTP for registries in the ``insecure_registries`` setting and, like
  Docker, for localhost / 127.0.0.0/8 / ::1. ``--tls-verify=false`` (podman's
  flag) means the same for one command: try HTTPS without verifying the
  certificate, and fall back to plain HTTP when the registry does not speak TLS.
* Credentials come from ``pyctr login``: a Docker-style ``auths`` file, mode
  0600, at ``$PYCTR_AUTH_FILE`` or ``ROOT/auth.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyctr.images.distribution import RegistryClient
    from pyctr.core.engine import Engine


def auth_file(engine: Engine) -> Path:
    return Path(os.environ.get("PYCTR_AUTH_FILE") or engine.config.root / "auth.json")


def is_insecure(engine: Engine, registry: str) -> bool:
    return registry in engine.config.insecure_registries


def client(engine: Engine, registry: str, *, tls_verify: bool = True,
           credentials: tuple[str, str] | None = None) -> RegistryClient:
    """A client for ``registry`` with saved (or given) credentials; probes TLS when insecure."""
    from pyctr.images.distribution import RegistryClient, _is_local, load_credentials

    if credentials is None:
        credentials = load_credentials(auth_file(engine), registry)
    insecure = is_insecure(engine, registry) or not tls_verify
    if not insecure or _is_local(registry):
        return RegistryClient(registry, credentials=credentials)
    # Insecure: HTTPS without verification if the registry speaks TLS, else HTTP.
    tls = RegistryClient(registry, tls_verify=False, credentials=credentials, timeout=10)
    if _speaks_tls(tls.host):
        tls.timeout = 60.0
        return tls
    return RegistryClient(registry, insecure=True, credentials=credentials)


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
