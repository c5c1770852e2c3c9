"""Registry credentials where Docker and podman users already keep them.

Looked up in this order, the first that knows the registry wins:

1. Docker's client config, ``$DOCKER_CONFIG/config.json`` or
   ``~/.docker/config.json``: ``credHelpers[registry]``, else ``credsStore``
   (both through the ``docker-credential-NAME`` helper protocol), else
   ``auths[registry]`` (``auth`` = base64 ``user:password``, or an
   ``identitytoken``).
2. ``$REGISTRY_AUTH_FILE`` (containers-auth.json: the same ``auths`` and
   ``credHelpers`` keys).
3. ``${XDG_RUNTIME_DIR}/containers/auth.json`` (podman's and skopeo's login).
4. pyctr's own file: ``$PYCTR_AUTH_FILE`` or ``ROOT/auth.json``.

The helper protocol (docker/docker-credential-helpers): the helper program
``docker-credential-NAME`` on ``$PATH`` is run with one argument, ``get``
(stdin: the server URL; stdout: ``{"ServerURL", "Username", "Secret"}``),
``store`` (stdin: that JSON) or ``erase`` (stdin: the server URL). A helper
that does not know the server exits non-zero and prints "credentials not
found in native keychain". A ``Username`` of ``<token>`` means ``Secret`` is
an identity token (an OAuth2 refresh token) rather than a password.

Docker Hub's key is ``https://index.docker.io/v1/`` in every one of these
files and helpers; other registries are keyed by ``host[:port]`` (entries
written with a scheme or a path, as old clients did, are matched too).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pyctr.core.errors import ImageError

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io", DOCKER_HUB_KEY)
#: a helper that hangs must not hang the pull
HELPER_TIMEOUT = 60.0


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = ""
    #: an OAuth2 refresh token (``identitytoken`` / a helper's ``<token>``): exchanged at the token server
    identity_token: str = ""
    #: where they came from, for error messages and ``--log-level=debug``
    source: str = ""

    @property
    def basic(self) -> tuple[str, str] | None:
        return (self.username, self.password) if self.password else None


def server_key(registry: str) -> str:
    """The key Docker's files and helpers use for ``registry``."""
    return DOCKER_HUB_KEY if registry in _HUB_NAMES else registry


def _normalize(key: str) -> str:
    """``https://host:5000/v2/`` -> ``host:5000``; Docker Hub's names -> ``docker.io``."""
    if key in _HUB_NAMES:
        return "docker.io"
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix):]
    key = key.split("/", 1)[0]
    return "docker.io" if key in _HUB_NAMES else key


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def containers_auth_path() -> Path | None:
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    return Path(xdg) / "containers" / "auth.json" if xdg else None


def read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except PermissionError:
        raise ImageError(f"credentials file {path} is not readable") from None
    except (ValueError, UnicodeDecodeError):
        raise ImageError(f"credentials file {path} is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ImageError(f"credentials file {path} is not a JSON object")
    return doc


def _entry_for(mapping: object, registry: str) -> object:
    """The value whose (normalised) key names ``registry``, or None."""
    if not isinstance(mapping, dict):
        return None
    want = _normalize(registry)
    if registry in mapping:
        return mapping[registry]
    for key, value in mapping.items():
        if isinstance(key, str) and _normalize(key) == want:
            return value
    return None


def _from_auths(doc: dict, registry: str, source: str) -> Credentials | None:
    entry = _entry_for(doc.get("auths"), registry)
    if not isinstance(entry, dict):
        return None
    token = entry.get("identitytoken") or entry.get("identityToken")
    user = pw = ""
    if isinstance(entry.get("auth"), str) and entry["auth"]:
        try:
            user, sep, pw = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise ImageError(f"credentials for {registry} in {source} are corrupt") from None
        if not sep:
            raise ImageError(f"credentials for {registry} in {source} are corrupt (no ':')")
    elif isinstance(entry.get("username"), str):
        user, pw = entry["username"], str(entry.get("password") or "")
    if isinstance(token, str) and token:
        return Credentials(user, "", token, source)
    if user or pw:
        return Credentials(user, pw, "", source)
    return None


# ------------------------------------------------------------- helpers --
def _helper(name: str) -> str:
    if not name or "/" in name or name.startswith("."):
        raise ImageError(f"invalid credential helper name {name!r}")
    return f"docker-credential-{name}"


def _run_helper(name: str, action: str, data: str) -> subprocess.CompletedProcess:
    program = _helper(name)
    try:
        return subprocess.run([program, action], input=data, capture_output=True, text=True,
                              timeout=HELPER_TIMEOUT, check=False)
    except FileNotFoundError:
        raise ImageError(f"credential helper {program} is not on $PATH") from None
    except subprocess.TimeoutExpired:
        raise ImageError(f"credential helper {program} {action} did not answer in {HELPER_TIMEOUT:.0f}s") from None
    except OSError as e:
        raise ImageError(f"credential helper {program}: {e.strerror or e}") from None


def _helper_says_not_found(out: str) -> bool:
    return "credentials not found" in out.lower()


def helper_get(name: str, registry: str) -> Credentials | None:
    r = _run_helper(name, "get", server_key(registry))
    if r.returncode != 0:
        if _helper_says_not_found(r.stdout + r.stderr):
            return None
        msg = (r.stdout.strip() or r.stderr.strip() or f"exit status {r.returncode}").splitlines()[0]
        raise ImageError(f"credential helper {_helper(name)} get: {msg}")
    try:
        doc = json.loads(r.stdout)
        user, secret = doc.get("Username", ""), doc.get("Secret", "")
    except (ValueError, AttributeError):
        raise ImageError(f"credential helper {_helper(name)} get: answer is not JSON") from None
    if not isinstance(user, str) or not isinstance(secret, str) or not secret:
        return None
    source = _helper(name)
    if user == "<token>":
        return Credentials("", "", secret, source)
    return Credentials(user, secret, "", source)


def helper_store(name: str, registry: str, user: str, secret: str) -> None:
    doc = {"ServerURL": server_key(registry), "Username": user, "Secret": secret}
    r = _run_helper(name, "store", json.dumps(doc))
    if r.returncode != 0:
        msg = (r.stdout.strip() or r.stderr.strip() or f"exit status {r.returncode}").splitlines()[0]
        raise ImageError(f"credential helper {_helper(name)} store: {msg}")


def helper_erase(name: str, registry: str) -> bool:
    r = _run_helper(name, "erase", server_key(registry))
    if r.returncode != 0:
        if _helper_says_not_found(r.stdout + r.stderr):
            return False
        msg = (r.stdout.strip() or r.stderr.strip() or f"exit status {r.returncode}").splitlines()[0]
        raise ImageError(f"credential helper {_helper(name)} erase: {msg}")
    return True


def helper_for(doc: dict, registry: str) -> str | None:
    """The helper a Docker-style config names for ``registry`` (credHelpers, then credsStore)."""
    name = _entry_for(doc.get("credHelpers"), registry)
    if isinstance(name, str) and name:
        return name
    store = doc.get("credsStore")
    return store if isinstance(store, str) and store else None


def _from_config(path: Path, registry: str) -> Credentials | None:
    doc = read_json(path)
    if not doc:
        return None
    helper = helper_for(doc, registry)
    if helper:
        found = helper_get(helper, registry)
        if found:
            return found
    return _from_auths(doc, registry, str(path))


# -------------------------------------------------------------- lookup --
def sources(pyctr_file: Path) -> list[Path]:
    """Every file consulted, in order."""
    out = [docker_config_path()]
    if os.environ.get("REGISTRY_AUTH_FILE"):
        out.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    containers = containers_auth_path()
    if containers:
        out.append(containers)
    out.append(pyctr_file)
    return out


def lookup(registry: str, pyctr_file: Path) -> Credentials | None:
    """The first credentials any source holds for ``registry``."""
    for path in sources(pyctr_file):
        found = _from_config(path, registry)
        if found:
            return found
    return None


# ------------------------------------------------------- pyctr's own file --
def _write_atomic(path: Path, doc: dict) -> None:
    from pyctr.core.state import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode(), 0o600)


def _b64(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def save(pyctr_file: Path, registry: str, user: str, password: str) -> str:
    """Store credentials for ``registry``; returns where they went.

    Through the helper Docker's config names for the registry when there is one
    (as ``docker login`` does), else into pyctr's own file (mode 0600).
    """
    helper = helper_for(read_json(docker_config_path()), registry)
    if helper:
        helper_store(helper, registry, user, password)
        return _helper(helper)
    doc = read_json(pyctr_file)
    auths = doc.get("auths") if isinstance(doc.get("auths"), dict) else {}
    doc["auths"] = auths
    for key in [k for k in auths if _normalize(k) == _normalize(registry)]:
        del auths[key]
    auths["docker.io" if _normalize(registry) == "docker.io" else registry] = {"auth": _b64(user, password)}
    _write_atomic(pyctr_file, doc)
    return str(pyctr_file)


def remove(pyctr_file: Path, registry: str) -> bool:
    """Forget ``registry`` in the helper and in pyctr's own file; False if neither knew it."""
    forgot = False
    helper = helper_for(read_json(docker_config_path()), registry)
    if helper:
        forgot = helper_erase(helper, registry)
    doc = read_json(pyctr_file)
    auths = doc.get("auths")
    if isinstance(auths, dict):
        keys = [k for k in auths if _normalize(k) == _normalize(registry)]
        for key in keys:
            del auths[key]
        if keys:
            _write_atomic(pyctr_file, doc)
            forgot = True
    return forgot
