"""Member names and the whiteout vocabulary shared by extraction and creation."""

from __future__ import annotations

import posixpath

from pyctr.core.errors import ImageError

WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
#: the same marker in a rootless user's store: overlayfs mounted in a user
#: namespace (``userxattr``) reads user.overlay.*; trusted.* needs the host's root
USER_OVERLAY_OPAQUE_XATTR = "user.overlay.opaque"


def opaque_xattr() -> str:
    """The opaque-directory xattr of this process's stores (rootless: user.overlay.opaque)."""
    from pyctr.core import rootless

    return USER_OVERLAY_OPAQUE_XATTR if rootless.active() else OVERLAY_OPAQUE_XATTR

# --------------------------------------------------------- name handling --
def clean_name(name: str) -> str:
    """Lexically clean a member name to a root-relative path ('' is the root)."""
    if "\x00" in name:
        raise ImageError(f"layer entry name contains NUL: {name!r}")
    rel = name.lstrip("/")
    if not rel:
        return ""
    norm = posixpath.normpath(rel)
    if norm == ".":
        return ""
    if norm == ".." or norm.startswith("../"):
        raise ImageError(f"layer entry {name!r} points outside the layer root")
    return norm


def whiteout_target(base: str, name: str) -> str:
    target = base[len(WHITEOUT_PREFIX):]
    if target in ("", ".", "..") or "/" in target:
        raise ImageError(f"invalid whiteout entry {name!r}")
    return target


