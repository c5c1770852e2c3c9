"""OCI distribution (registry v2) client, standard library only.

* Transport: ``http.client`` with the system CA store; plain HTTP for
  ``insecure`` registries and, like Docker, for localhost / 127.0.0.0/8 / ::1.
  One connection per thread and host (``threading.local``), kept alive, so
  several layers can download at once from worker threads.
* Proxies and certs.d CAs / client certificates: :mod:`pyctr.images.transport`.
* Auth: anonymous first; on 401 the ``WWW-Authenticate`` challenge decides:
  ``Basic`` sends the credentials, ``Bearer`` fetches a token from the realm
  (with ``service`` and ``scope``, Basic credentials when given, or an
  identity token exchanged with OAuth2's ``refresh_token`` grant) and caches
  it per scope. Where credentials come from: :mod:`pyctr.images.credentials`.
* Retries: connection errors, 429 and 5xx, with exponential back-off; a
  ``Retry-After`` (seconds or an HTTP date) on 429/503 says how long to wait.
* Manifests: Docker schema2 and OCI, lists/indexes resolved to one platform,
  capped at 4 MiB, digest checked against the reference and the
  ``Docker-Content-Digest`` header.
* Blobs: into a :class:`ContentStore` ingest, retried with HTTP Range resume,
  redirects to blob storage followed without leaking Authorization.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import quote, urlencode, urljoin, urlsplit

from pyctr.core.errors import ImageError, NotFound
from pyctr.images.content import ContentStore, validate_digest

if TYPE_CHECKING:
    from pyctr.images.credentials import Credentials
    from pyctr.images.transport import CertsFor

MAX_MANIFEST = 4 << 20
MAX_TOKEN_RESPONSE = 1 << 20

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
USER_AGENT = "pyctr/0 (+https://github.com/pyctr)"

_CHUNK = 1 << 20
_RETRIES = 5
ProgressFn = Callable[[int, int], None]


def _is_local(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if not registry.endswith("]") else registry
    host = host.strip("[]")
    return host == "localhost" or host.startswith("127.") or host == "::1"


def api_host(registry: str) -> str:
    return "registry-1.docker.io" if registry in ("docker.io", "index.docker.io") else registry


@dataclass
class ManifestResult:
    raw: bytes
    media_type: str
    digest: str
    index_digest: str | None = None  # the list/index the manifest was picked from (RepoDigests use it)
    index_raw: bytes | None = None


@dataclass
class _Resp:
    status: int
    headers: dict[str, str]
    body: Any  # http.client.HTTPResponse
    conn_key: tuple

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


class _Retry(Exception):
    def __init__(self, message: str, after: float | None = None) -> None:
        super().__init__(message)
        #: seconds the server asked us to wait (Retry-After), or None: back off
        self.after = after


#: the longest Retry-After honoured; a server asking for more gets the error now
MAX_RETRY_AFTER = 120.0


def retry_after(value: str, now: float | None = None) -> float | None:
    """A ``Retry-After`` header in seconds (delta-seconds or an HTTP date); None if absent or unreadable."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _sleep_for(e: _Retry, delay: float, what: str) -> None:
    if e.after is None:
        time.sleep(delay)
        return
    if e.after > MAX_RETRY_AFTER:
        raise ImageError(f"{what}: {e} (the registry asks to retry after {e.after:.0f}s)") from None
    time.sleep(e.after)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="x",service="y"`` -> ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for key, quoted, bare in re.findall(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))', rest):
        params[key.lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted else bare
    return scheme.lower(), params


def platform_matches(entry: dict, platform: str) -> bool:
    from pyctr.images.platforms import matches

    return matches(entry, platform)


LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": "none",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar": "none",
}
CONFIG_TYPES = ("application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int


@dataclass(frozen=True)
class ImageManifest:
    config: Descriptor
    layers: tuple[Descriptor, ...]


def _descriptor(d: object, what: str) -> Descriptor:
    if not isinstance(d, dict):
        raise ImageError(f"manifest {what} is not an object")
    digest, size, mt = d.get("digest"), d.get("size"), d.get("mediaType", "")
    validate_digest(digest)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ImageError(f"manifest {what} has an invalid size {size!r}")
    if not isinstance(mt, str):
        raise ImageError(f"manifest {what} has an invalid mediaType")
    return Descriptor(mt, digest, size)  # type: ignore[arg-type]


def parse_image_manifest(raw: bytes) -> ImageManifest:
    """Validate an OCI / Docker schema2 image manifest: digests, sizes, layer media types."""
    try:
        doc = json.loads(raw)
    except ValueError:
        raise ImageError("image manifest is not JSON") from None
    if not isinstance(doc, dict) or doc.get("schemaVersion") != 2:
        raise ImageError("image manifest is not schemaVersion 2 (schema1 images are not supported)")
    if doc.get("mediaType") in INDEX_TYPES or "manifests" in doc:
        raise ImageError("expected an image manifest, got an index")
    config = _descriptor(doc.get("config"), "config")
    if config.media_type and config.media_type not in CONFIG_TYPES:
        raise ImageError(f"not a container image (config type {config.media_type})")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise ImageError("image manifest has no layers list")
    out = []
    for i, entry in enumerate(layers):
        d = _descriptor(entry, f"layer {i}")
        if d.media_type not in LAYER_TYPES:
            raise ImageError(f"layer {i} has unsupported media type {d.media_type!r}")
        out.append(d)
    return ImageManifest(config, tuple(out))


def parse_diff_ids(config_raw: bytes, layer_count: int) -> list[str]:
    """The config's rootfs.diff_ids, validated and checked against the manifest's layer count."""
    try:
        doc = json.loads(config_raw)
        ids = doc["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError):
        raise ImageError("image config has no rootfs.diff_ids") from None
    if not isinstance(ids, list) or len(ids) != layer_count:
        raise ImageError(f"image config lists {len(ids) if isinstance(ids, list) else 0} diff_ids "
                         f"for {layer_count} layers")
    for d in ids:
        validate_digest(d)
    return ids


class RegistryClient:
    """One registry; safe to use from several threads."""

    def __init__(self, registry: str, *, insecure: bool = False, tls_verify: bool = True,
                 credentials: Credentials | tuple[str, str] | None = None, timeout: float = 60.0,
                 certs: CertsFor | None = None, host: str | None = None) -> None:
        from pyctr.images.credentials import Credentials

        self.registry = registry
        #: where the API is served: the registry itself, or a mirror of it
        self.host = host or api_host(registry)
        self.scheme = "http" if insecure or (_is_local(self.host) and not certs) else "https"
        self.tls_verify = tls_verify
        if isinstance(credentials, tuple):
            credentials = Credentials(*credentials)
        self.credentials: Credentials | None = credentials
        self.certs = certs
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self._basic = False  # the registry asked for Basic: send it up front from now on
        self._ssl_ctx = None

    # ---------------------------------------------------------- transport --
    def _context(self):
        if self._ssl_ctx is None:
            from pyctr.images.transport import CertsFor, tls_context

            self._ssl_ctx = tls_context(self.certs or CertsFor(), self.tls_verify)
        return self._ssl_ctx

    def _conn(self, scheme: str, netloc: str):
        """A kept-alive connection to ``netloc`` (through the environment's proxy); whether the
        request line must carry the absolute URL (plain HTTP through a proxy)."""
        import http.client

        from pyctr.images.transport import proxy_for, split_host_port

        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        key = (scheme, netloc)
        entry = conns.get(key)
        if entry is None:
            proxy = proxy_for(scheme, netloc)
            absolute = False
            if proxy is None and scheme == "https":
                c = http.client.HTTPSConnection(netloc, timeout=self.timeout, context=self._context())
            elif proxy is None:
                c = http.client.HTTPConnection(netloc, timeout=self.timeout)
            elif scheme == "https":
                c = http.client.HTTPSConnection(proxy.host, proxy.port, timeout=self.timeout,
                                                context=self._context())
                host, port = split_host_port(netloc, 443)
                c.set_tunnel(host, port, {"Proxy-Authorization": proxy.authorization} if proxy.authorization else None)
            else:
                c = http.client.HTTPConnection(proxy.host, proxy.port, timeout=self.timeout)
                absolute = True
            entry = conns[key] = (c, absolute, proxy)
        return entry[0], key, entry[1], entry[2]

    def _drop(self, key: tuple) -> None:
        conns = getattr(self._local, "conns", {})
        entry = conns.pop(key, None)
        if entry is not None:
            entry[0].close()

    def close(self) -> None:
        for key in list(getattr(self._local, "conns", {})):
            self._drop(key)

    def _raw(self, method: str, url: str, headers: dict[str, str], body=None) -> _Resp:
        """One HTTP exchange; retries once on a stale keep-alive connection."""
        import http.client

        parts = urlsplit(url)
        path = parts.path + ("?" + parts.query if parts.query else "")
        for attempt in range(2):
            conn, key, absolute, proxy = self._conn(parts.scheme, parts.netloc)
            target = path or "/"
            if absolute:
                target = f"{parts.scheme}://{parts.netloc}{target}"
                if proxy.authorization:
                    headers = {**headers, "Proxy-Authorization": proxy.authorization}
            try:
                if hasattr(body, "seek"):
                    body.seek(0)
                conn.request(method, target, body=body, headers=headers)
                r = conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                self._drop(key)
                if attempt == 0:
                    continue
                raise
            except OSError as e:
                self._drop(key)
                if proxy is not None and isinstance(e, ConnectionRefusedError):
                    raise ImageError(f"proxy {proxy.netloc}: connection refused") from None
                if proxy is not None and "Tunnel connection failed" in str(e):
                    raise ImageError(f"proxy {proxy.netloc}: {e}") from None
                raise
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            return _Resp(r.status, hdrs, r, key)
        raise AssertionError("unreachable")

    @staticmethod
    def _finish(resp: _Resp) -> None:
        try:
            resp.body.read()  # drain so the connection can be reused
        except Exception:
            pass

    def _url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{path}"

    # --------------------------------------------------------------- auth --
    def _auth_header(self, scope: str) -> dict[str, str]:
        with self._lock:
            tok = self._tokens.get(scope)
        if tok:
            return {"Authorization": f"Bearer {tok}"}
        if self._basic and self.credentials and self.credentials.basic:
            return {"Authorization": "Basic " + _b64creds(self.credentials.basic)}
        return {}

    def _authenticate(self, challenge: str, scope: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if not self.credentials or not self.credentials.basic:
                raise ImageError(f"{self.registry}: authentication required (pyctr login {self.registry})")
            self._basic = True
            return
        if scheme != "bearer" or "realm" not in params:
            raise ImageError(f"{self.registry}: unsupported authentication challenge {challenge[:80]!r}")
        q = {}
        if "service" in params:
            q["service"] = params["service"]
        q["scope"] = params.get("scope") or scope
        realm = params["realm"]
        headers = {"User-Agent": USER_AGENT}
        creds = self.credentials
        try:
            if creds is not None and creds.identity_token:
                # OAuth2's refresh_token grant, as Docker does with an identity token
                form = urlencode({**q, "grant_type": "refresh_token", "refresh_token": creds.identity_token,
                                  "client_id": "pyctr", "access_type": "offline"}).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                resp = self._raw("POST", realm, headers, form)
            else:
                url = realm + ("&" if "?" in realm else "?") + urlencode(q)
                if creds is not None and creds.basic:
                    headers["Authorization"] = "Basic " + _b64creds(creds.basic)
                resp = self._raw("GET", url, headers)
        except OSError as e:
            raise ImageError(f"{self.registry}: token server {urlsplit(realm).netloc} unreachable: {e}") from None
        data = resp.body.read(MAX_TOKEN_RESPONSE + 1)
        if resp.status in (401, 403):
            raise ImageError(f"{self.registry}: unauthorized: bad credentials or no access to {q['scope']}")
        if resp.status == 400 and creds is not None and creds.identity_token and b"invalid_grant" in data:
            # RFC 6749's answer to a refresh token it does not (or no longer) know
            raise ImageError(f"{self.registry}: unauthorized: the identity token was refused (pyctr login again)")
        if resp.status != 200 or len(data) > MAX_TOKEN_RESPONSE:
            raise ImageError(f"{self.registry}: token server answered HTTP {resp.status}")
        try:
            doc = json.loads(data)
            tok = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            tok = None
        if not isinstance(tok, str) or not tok:
            raise ImageError(f"{self.registry}: token server gave no token")
        with self._lock:
            self._tokens[scope] = tok

    def request(self, method: str, path_or_url: str, *, scope: str, headers: dict[str, str] | None = None,
                body=None, ok: tuple[int, ...] = (200,), follow: bool = True) -> _Resp:
        """An authenticated request; follows redirects for GET/HEAD; raises on status not in ``ok``."""
        url = path_or_url if "://" in path_or_url else self._url(path_or_url)
        base_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        authed_once = False
        redirects = 0
        while True:
            h = dict(base_headers)
            same_host = urlsplit(url).netloc == self.host
            if same_host:
                h.update(self._auth_header(scope))
            try:
                resp = self._raw(method, url, h, body)
            except ConnectionRefusedError:
                # Nobody listens there: retrying only makes the user wait.
                raise ImageError(f"{urlsplit(url).netloc}: connection refused") from None
            except OSError as e:
                if type(e).__name__ == "SSLCertVerificationError":
                    raise ImageError(f"{urlsplit(url).netloc}: TLS certificate not trusted "
                                     f"({getattr(e, 'verify_message', e)}); use --tls-verify=false "
                                     "only if you trust the network") from None
                raise _Retry(f"{urlsplit(url).netloc}: {e}") from e
            if resp.status == 401 and same_host and not authed_once:
                self._finish(resp)
                with self._lock:
                    self._tokens.pop(scope, None)
                self._authenticate(resp.header("www-authenticate"), scope)
                authed_once = True
                continue
            if follow and resp.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD"):
                self._finish(resp)
                redirects += 1
                if redirects > 5:
                    raise ImageError(f"{self.registry}: too many redirects")
                url = urljoin(url, resp.header("location"))
                continue
            if resp.status in ok:
                return resp
            self._raise_for(resp, method, url)

    def _raise_for(self, resp: _Resp, method: str, url: str) -> None:
        try:
            text = resp.body.read(65536).decode("utf-8", "replace")
        except Exception:
            text = ""
        msg = ""
        try:
            errs = json.loads(text).get("errors") or []
            if errs:
                msg = f"{errs[0].get('code', '')}: {errs[0].get('message', '')}"
        except (ValueError, AttributeError):
            pass
        what = urlsplit(url).path
        if resp.status == 400 and "HTTP request to an HTTPS server" in text:
            raise ImageError(f"{self.host} speaks HTTPS, not plain HTTP: put its CA into a certs.d directory "
                             f"({self.host}/ca.crt) or use --tls-verify=false")
        if resp.status in (401, 403):
            raise ImageError(f"{self.registry}: unauthorized ({msg or resp.status}) for {what}")
        if resp.status == 404:
            raise NotFound(f"{self.registry}: not found ({msg or 404}): {what}")
        if resp.status in (429, 500, 502, 503, 504):
            after = retry_after(resp.header("retry-after")) if resp.status in (429, 503) else None
            raise _Retry(f"{self.registry}: HTTP {resp.status} for {what}", after)
        raise ImageError(f"{self.registry}: HTTP {resp.status} for {method} {what} {msg}".rstrip())

    def _with_retries(self, fn, what: str):
        delay = 0.5
        for attempt in range(_RETRIES):
            try:
                return fn()
            except _Retry as e:
                if attempt == _RETRIES - 1:
                    raise ImageError(f"{what}: {e}") from None
                _sleep_for(e, delay, what)
                delay = min(delay * 2, 8)

    # ------------------------------------------------------------ probing --
    def ping(self) -> None:
        """GET /v2/ (authenticating if needed); raises if the registry is unusable."""
        self._with_retries(lambda: self._finish(self.request("GET", "/v2/", scope="")), f"{self.registry}")

    # ---------------------------------------------------------- manifests --
    @staticmethod
    def _scope(repository: str, push: bool = False) -> str:
        return f"repository:{repository}:{'pull,push' if push else 'pull'}"

    def fetch_manifest(self, repository: str, reference: str) -> tuple[bytes, str, str]:
        """One manifest or index exactly as served: (raw, media_type, digest), digest verified."""
        def once():
            resp = self.request("GET", f"/v2/{repository}/manifests/{quote(reference, safe=':')}",
                                scope=self._scope(repository), headers={"Accept": ACCEPT})
            length = resp.header("content-length")
            if length.isdigit() and int(length) > MAX_MANIFEST:
                self._drop(resp.conn_key)
                raise ImageError(f"manifest {repository}:{reference} is larger than {MAX_MANIFEST} bytes")
            raw = resp.body.read(MAX_MANIFEST + 1)
            if len(raw) > MAX_MANIFEST:
                self._drop(resp.conn_key)
                raise ImageError(f"manifest {repository}:{reference} is larger than {MAX_MANIFEST} bytes")
            return raw, resp.header("content-type").split(";")[0].strip(), resp.header("docker-content-digest")

        raw, ctype, header_digest = self._with_retries(once, f"manifest {repository}:{reference}")
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise ImageError(f"manifest {repository}@{reference} has digest {digest}")
        if header_digest and header_digest.startswith("sha256:") and header_digest != digest:
            raise ImageError(f"manifest {repository}:{reference}: registry says {header_digest}, content is {digest}")
        try:
            doc = json.loads(raw)
        except ValueError:
            raise ImageError(f"manifest {repository}:{reference} is not JSON") from None
        if not isinstance(doc, dict):
            raise ImageError(f"manifest {repository}:{reference} is not a JSON object")
        media_type = doc.get("mediaType") or ctype
        if media_type not in INDEX_TYPES + MANIFEST_TYPES:
            if "manifests" in doc:
                media_type = OCI_INDEX
            elif "layers" in doc:
                media_type = OCI_MANIFEST
            else:
                raise ImageError(f"manifest {repository}:{reference} has unsupported type {media_type!r}")
        return raw, media_type, digest

    def resolve(self, repository: str, reference: str, platform: str | None = None) -> ManifestResult:
        """The image manifest for ``platform`` (the host's by default), following an index / manifest list."""
        from pyctr.images.platforms import normalize

        platform = normalize(platform)
        raw, media_type, digest = self.fetch_manifest(repository, reference)
        if media_type not in INDEX_TYPES:
            return ManifestResult(raw, media_type, digest)
        doc = json.loads(raw)
        for entry in doc.get("manifests") or []:
            if isinstance(entry, dict) and platform_matches(entry, platform):
                validate_digest(entry.get("digest"))
                child = cast(str, entry["digest"])
                craw, ctype, cdigest = self.fetch_manifest(repository, child)
                if ctype in INDEX_TYPES:
                    raise ImageError(f"{repository}:{reference}: nested index for {platform}")
                return ManifestResult(craw, ctype, cdigest, index_digest=digest, index_raw=raw)
        raise NotFound(f"{repository}:{reference}: no manifest for platform {platform}")

    def get_manifest(self, repository: str, reference: str,
                     platform: str | None = None) -> tuple[bytes, str, str]:
        r = self.resolve(repository, reference, platform)
        return r.raw, r.media_type, r.digest

    def put_manifest(self, repository: str, reference: str, raw: bytes, media_type: str) -> str:
        if len(raw) > MAX_MANIFEST:
            raise ImageError(f"manifest is larger than {MAX_MANIFEST} bytes")
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()

        def once():
            resp = self.request("PUT", f"/v2/{repository}/manifests/{quote(reference, safe=':')}",
                                scope=self._scope(repository, True), body=raw,
                                headers={"Content-Type": media_type, "Content-Length": str(len(raw))},
                                ok=(200, 201, 202))
            got = resp.header("docker-content-digest")
            self._finish(resp)
            return got

        got = self._with_retries(once, f"push manifest {repository}:{reference}")
        if got and got != digest:
            raise ImageError(f"registry stored manifest as {got}, expected {digest}")
        return digest

    # -------------------------------------------------------------- blobs --
    def blob_exists(self, repository: str, digest: str) -> bool:
        validate_digest(digest)

        def once():
            try:
                resp = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", scope=self._scope(repository))
            except NotFound:
                return False
            self._finish(resp)
            return True

        return self._with_retries(once, f"blob {digest}")

    def fetch_blob(self, repository: str, digest: str, size: int | None, store: ContentStore,
                   progress: ProgressFn | None = None) -> Path:
        """Download a blob into ``store`` (resuming a partial), verified; returns its path."""
        validate_digest(digest)
        if store.has(digest):
            if progress and size is not None:
                progress(size, size)
            return store.path(digest)
        total = size if size is not None else -1
        with store.ingest(digest, size) as w:
            if w.done:
                return store.path(digest)
            delay = 0.5
            for attempt in range(_RETRIES):
                try:
                    self._download_into(repository, digest, w, total, progress)
                    break
                except _Retry as e:
                    if attempt == _RETRIES - 1:
                        raise ImageError(f"blob {digest}: {e}") from None
                    _sleep_for(e, delay, f"blob {digest}")
                    delay = min(delay * 2, 8)
        return store.path(digest)

    def _download_into(self, repository: str, digest: str, w, total: int, progress) -> None:
        import http.client

        headers = {}
        if w.offset and (total < 0 or w.offset < total):
            headers["Range"] = f"bytes={w.offset}-"
        if total >= 0 and w.offset == total:
            return  # everything is in the partial; commit verifies it
        resp = self.request("GET", f"/v2/{repository}/blobs/{digest}", scope=self._scope(repository),
                            headers=headers, ok=(200, 206))
        if resp.status == 200 and w.offset:
            w.reset()  # server ignored Range: start over
        elif resp.status == 206:
            m = re.match(r"bytes (\d+)-", resp.header("content-range"))
            if not m or int(m.group(1)) != w.offset:
                self._drop(resp.conn_key)
                w.reset()
                raise _Retry("bad Content-Range on resume")
        try:
            while True:
                chunk = resp.body.read(_CHUNK)
                if not chunk:
                    break
                w.write(chunk)
                if progress:
                    progress(w.offset, total)
        except (OSError, http.client.HTTPException) as e:
            self._drop(resp.conn_key)
            raise _Retry(f"download interrupted at {w.offset} bytes: {e}") from e
        if total >= 0 and w.offset < total:
            self._drop(resp.conn_key)
            raise _Retry(f"download ended early at {w.offset} of {total} bytes")

    def push_blob(self, repository: str, digest: str, data_or_path: bytes | str | os.PathLike[str], *,
                  mount_from: str | None = None, chunk_size: int = 32 << 20) -> bool:
        """Upload a blob unless the registry has it; returns True if bytes were sent."""
        validate_digest(digest)
        if self.blob_exists(repository, digest):
            return False
        return self._with_retries(lambda: self._push_once(repository, digest, data_or_path, mount_from, chunk_size),
                                  f"push blob {digest}")

    def _push_once(self, repository: str, digest: str, data_or_path, mount_from: str | None,
                   chunk_size: int) -> bool:
        scope = self._scope(repository, True)
        q = f"?mount={digest}&from={quote(mount_from)}" if mount_from else ""
        resp = self.request("POST", f"/v2/{repository}/blobs/uploads/{q}", scope=scope,
                            headers={"Content-Length": "0"}, body=b"", ok=(201, 202))
        self._finish(resp)
        if resp.status == 201:
            return False  # mounted from another repository
        location = urljoin(self._url("/"), resp.header("location"))

        def sep(url: str) -> str:
            return "&" if "?" in url else "?"

        if isinstance(data_or_path, (bytes, bytearray, memoryview)):
            data = bytes(data_or_path)
            size = len(data)
            f: IO[bytes] | None = None
        else:
            data = b""
            size = os.path.getsize(data_or_path)
            f = open(data_or_path, "rb")
        try:
            if size <= chunk_size:
                body = data if f is None else f.read()
                resp = self.request("PUT", location + sep(location) + f"digest={quote(digest)}", scope=scope,
                                    body=body, headers={"Content-Type": "application/octet-stream",
                                                        "Content-Length": str(size)}, ok=(201, 204))
                self._finish(resp)
                return True
            # Chunked: PATCH pieces with Content-Range, then PUT the digest.
            offset = 0
            while offset < size:
                piece = f.read(chunk_size) if f is not None else data[offset:offset + chunk_size]
                end = offset + len(piece) - 1
                resp = self.request("PATCH", location, scope=scope, body=piece, ok=(202,),
                                    headers={"Content-Type": "application/octet-stream",
                                             "Content-Length": str(len(piece)),
                                             "Content-Range": f"{offset}-{end}"})
                self._finish(resp)
                location = urljoin(location, resp.header("location") or location)
                offset = end + 1
        finally:
            if f is not None:
                f.close()
        resp = self.request("PUT", location + sep(location) + f"digest={quote(digest)}", scope=scope, body=b"",
                            headers={"Content-Length": "0"}, ok=(201, 204))
        self._finish(resp)
        return True


def _b64creds(creds: tuple[str, str]) -> str:
    return base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
