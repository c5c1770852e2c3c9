"""Image references: ``[REGISTRY[:PORT]/]REPOSITORY[:TAG][@DIGEST]``.

Normalised the way Docker's ``distribution/reference`` does it, so the names
pyctr prints and stores are the ones a Docker user expects:

* no registry part means Docker Hub (``docker.io``); a single path component
  on Docker Hub gets ``library/`` in front (``busybox`` ->
  ``docker.io/library/busybox``);
* the first component is a registry only when it contains ``.`` or ``:``, is
  ``localhost``, or is an IPv6 literal in brackets;
* ``index.docker.io`` is the same registry as ``docker.io``;
* the tag defaults to ``latest`` only when there is no digest.
"""

from __future__ import annotations

import re

from pyctr.core.errors import UsageError
from pyctr.core.records import Record

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_TAG = "latest"
_LEGACY_HUB = "index.docker.io"


class _Pattern:
    """A regular expression compiled on its first use: compiling these five is
    ~1.5 ms of every command that parses a reference, and the common ones
    (``busybox``, ``library/debian:12``) need at most one of them."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._compiled: re.Pattern[str] | None = None

    def match(self, text: str) -> re.Match[str] | None:
        if self._compiled is None:
            self._compiled = re.compile(self.pattern)
        return self._compiled.match(text)


# One path component: lowercase alphanumerics joined by ".", "_", "__" or runs of "-".
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = _Pattern(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_HOST_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = _Pattern(
    rf"^(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$"
)
_TAG_RE = _Pattern(r"^[\w][\w.-]{0,127}$")
DIGEST_RE = _Pattern(r"^sha256:[a-f0-9]{64}$")
_NAME_MAX = 255
_HEX = frozenset("0123456789abcdef")
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _plain_path(path: str) -> bool:
    """Components of lowercase ASCII letters and digits only: valid without the regex."""
    return all(part and _LOWER_ALNUM.issuperset(part) for part in path.split("/"))


class Reference(Record, frozen=True):
    """A fully normalised image reference."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host:port the distribution API is served from."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def familiar_name(self) -> str:
        """The repository as Docker prints it: ``busybox``, ``user/app``, ``localhost:5000/x``."""
        if self.registry == DOCKER_HUB:
            repo = self.repository
            if repo.startswith("library/") and repo.count("/") == 1:
                return repo[len("library/"):]
            return repo
        return self.name

    @property
    def familiar(self) -> str:
        """The short form Docker prints: ``busybox:latest``."""
        return self.familiar_name + self._suffix()

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest when there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_tag(self, tag: str) -> Reference:
        if not _TAG_RE.match(tag):
            raise UsageError(f"invalid tag format: {tag!r}")
        return Reference(self.registry, self.repository, tag, None)

    def with_digest(self, digest: str) -> Reference:
        if not DIGEST_RE.match(digest):
            raise UsageError(f"invalid digest format: {digest!r}")
        return Reference(self.registry, self.repository, None, digest)

    def _suffix(self) -> str:
        out = ""
        if self.tag is not None:
            out += ":" + self.tag
        if self.digest is not None:
            out += "@" + self.digest
        return out

    def __str__(self) -> str:
        return self.name + self._suffix()


def _split_domain(remainder: str) -> tuple[str, str]:
    first, sep, rest = remainder.partition("/")
    if sep and (
        "." in first
        or ":" in first
        or first == "localhost"
        or first.startswith("[")
    ):
        domain, path = first, rest
    else:
        domain, path = DOCKER_HUB, remainder
    if domain == _LEGACY_HUB:
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path:
        path = "library/" + path
    return domain, path


def parse(text: str) -> Reference:
    """Parse and normalise an image reference; raise :class:`UsageError` if invalid."""
    if not isinstance(text, str) or not text:
        raise UsageError("invalid reference format: empty image name")
    if any(c.isspace() for c in text) or "\x00" in text:
        raise UsageError(f"invalid reference format: {text!r}")
    if len(text) == 64 and _HEX.issuperset(text):
        raise UsageError(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )

    digest = None
    rest = text
    if "@" in rest:
        rest, _, digest = rest.partition("@")
        if not DIGEST_RE.match(digest):
            raise UsageError(f"invalid reference format: bad digest {digest!r} (want sha256:<64 hex>)")

    # A tag is the part after the last ":" when no "/" follows it (a ":" before
    # a "/" is a registry port).
    tag = None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG_RE.match(tag):
            raise UsageError(f"invalid reference format: bad tag {tag!r}")

    if not rest:
        raise UsageError(f"invalid reference format: {text!r}")
    domain, path = _split_domain(rest)
    if domain != DOCKER_HUB and not _DOMAIN_RE.match(domain):
        raise UsageError(f"invalid reference format: bad registry {domain!r}")
    if not _plain_path(path):
        if path.lower() != path and _PATH_RE.match(path.lower()):
            raise UsageError(f"invalid reference format: repository name must be lowercase: {text!r}")
        if not _PATH_RE.match(path):
            raise UsageError(f"invalid reference format: {text!r}")
    if len(domain) + 1 + len(path) > _NAME_MAX:
        raise UsageError(f"invalid reference format: repository name must not be more than {_NAME_MAX} characters")

    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def is_digest(text: str) -> bool:
    """True for ``sha256:<64 lowercase hex>``."""
    return bool(DIGEST_RE.match(text))
