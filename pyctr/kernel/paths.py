"""Resolving paths inside a container's rootfs without ever leaving it.

Symlinks in an image are resolved as if the rootfs were ``/`` (like
filepath-securejoin), so an image cannot point a mount target or a looked-up
file at the host. Mounts then go through ``/proc/self/fd/N`` of an ``O_PATH``
descriptor opened on the resolved path, so a swap after the check does not
redirect them (CVE-2021-30465).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator

MAX_SYMLINKS = 40


def secure_join(root: str, path: str) -> str:
    """``root`` + ``path`` with every symlink resolved inside ``root``."""
    root = os.path.abspath(root)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            resolved.extend(p for p in parts if p not in ("", "."))
            # keep ".." semantics for the rest lexically
            out: list[str] = []
            for p in resolved:
                if p == "..":
                    if out:
                        out.pop()
                else:
                    out.append(p)
            return os.path.join(root, *out)
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > MAX_SYMLINKS:
                raise OSError(40, f"too many levels of symbolic links in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def ensure_inside(root: str, path: str, *, directory: bool) -> str:
    """Resolve ``path`` inside ``root``, creating it (dir or empty file) if missing."""
    target = secure_join(root, path)
    if not os.path.lexists(target):
        # The parent of the *resolved* path: a dangling symlink as the last
        # component points somewhere else than the path's own directory.
        parent_rel = os.path.relpath(os.path.dirname(target), os.path.abspath(root))
        parent = ensure_inside(root, "/" if parent_rel == "." else parent_rel, directory=True) \
            if target != os.path.abspath(root) else root
        name = os.path.basename(target)
        if directory:
            os.mkdir(os.path.join(parent, name), 0o755)
        else:
            fd = os.open(os.path.join(parent, name), os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            os.close(fd)
        target = os.path.join(parent, name)
    return target


@contextlib.contextmanager
def opath(path: str) -> Iterator[str]:
    """An ``O_PATH|O_NOFOLLOW`` descriptor on ``path``, as a ``/proc/self/fd/N`` name."""
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


@contextlib.contextmanager
def opath_inside(root: str, path: str) -> Iterator[str]:
    """:func:`opath`, then a check of where the descriptor really points: a directory
    swapped for a symlink between resolving and opening (another container sharing a
    volume) cannot move a mount outside ``root`` (runc's procfd check)."""
    with opath(path) as fdpath:
        real = os.readlink(fdpath)
        top = os.path.realpath(root)
        if real != top and not real.startswith(top.rstrip("/") + "/"):
            raise OSError(errno.EXDEV, f"mount target {path} resolved outside the container root ({real})")
        yield fdpath
