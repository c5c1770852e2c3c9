"""The build context: a directory (or an unpacked tar), seen through ``.dockerignore``.

Paths in COPY and ADD are context-relative: a leading ``/`` means the
context's root, and ``..`` may not climb out of it (refused, as Docker's
classic builder does: "forbidden path outside the build context"). Symbolic
links on the way are resolved *inside* the context, so a link to ``/etc``
reaches the context's ``etc``, never the host's; a link that is the source
itself is copied as a link.

Wildcards follow Go's ``filepath.Match``: ``*`` and ``?`` stay within one
path component, ``[...]`` classes (``^`` negates), ``\\`` escapes.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator

from pyctr.build.errors import BuildError
from pyctr.build.ignore import Matcher, clean, read_ignore_file
from pyctr.kernel.paths import secure_join

_WILDCARD = re.compile(r"[*?\[]")


def has_wildcards(path: str) -> bool:
    return bool(_WILDCARD.search(path.replace("\\*", "").replace("\\?", "").replace("\\[", "")))


def _segment_regex(segment: str) -> re.Pattern[str]:
    """One path component of a ``filepath.Match`` pattern as a regular expression."""
    out = []
    i = 0
    n = len(segment)
    while i < n:
        ch = segment[i]
        i += 1
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i < n:
            out.append(re.escape(segment[i]))
            i += 1
        elif ch == "[":
            j = i
            chunk = ["["]
            if j < n and segment[j] == "^":
                chunk.append("^")
                j += 1
            while j < n and segment[j] != "]":
                if segment[j] == "\\" and j + 1 < n:
                    chunk.append(re.escape(segment[j + 1]))
                    j += 2
                    continue
                chunk.append(segment[j] if segment[j] != "[" else "\\[")
                j += 1
            if j >= n:
                raise BuildError(f"syntax error in pattern {segment!r}")
            chunk.append("]")
            out.append("".join(chunk))
            i = j + 1
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def go_match(pattern: str, name: str) -> bool:
    """``filepath.Match(pattern, name)`` for slash-separated paths."""
    parts, names = pattern.split("/"), name.split("/")
    return len(parts) == len(names) and all(_segment_regex(p).match(n) for p, n in zip(parts, names))


class Context:
    """A directory on disk holding the build context."""

    def __init__(self, root: str, ignore: list[str] | None = None) -> None:
        self.root = os.path.realpath(root)
        self.matcher = Matcher(ignore or [])

    @classmethod
    def open(cls, root: str, dockerfile: str | None = None) -> Context:
        """The context at ``root`` with its ignore file: ``<Dockerfile>.dockerignore`` next to the
        Dockerfile first (BuildKit), then ``.dockerignore``, then ``.containerignore`` (buildah)."""
        candidates = []
        if dockerfile:
            candidates.append(dockerfile + ".dockerignore")
        candidates += [os.path.join(root, ".dockerignore"), os.path.join(root, ".containerignore")]
        patterns: list[str] = []
        for path in candidates:
            try:
                with open(path, "rb") as f:
                    patterns = read_ignore_file(f.read())
                break
            except FileNotFoundError:
                continue
            except OSError as e:
                raise BuildError(f"cannot read {path}: {e.strerror}") from None
        return cls(root, patterns)

    # -- paths ---------------------------------------------------------------
    def relative(self, source: str) -> str:
        """A COPY/ADD source as a clean context-relative path ("" for the root)."""
        cleaned = clean("/" + source.replace("\\", "\\"))
        lexical = clean(source) if not source.startswith("/") else cleaned
        if lexical == ".." or lexical.startswith("../"):
            raise BuildError(f"forbidden path outside the build context: {source}")
        return cleaned.lstrip("/")

    def excluded(self, rel: str) -> bool:
        return bool(rel) and bool(self.matcher) and self.matcher.excluded(rel)

    def host_path(self, rel: str, follow_last: bool = False) -> str:
        """Where ``rel`` is on disk, links on the way resolved inside the context (the last
        component too with ``follow_last``)."""
        if not rel:
            return self.root
        parent, _, name = rel.rpartition("/")
        base = secure_join(self.root, parent) if parent else self.root
        path = os.path.join(base, name)
        return secure_join(self.root, os.path.relpath(path, self.root)) if follow_last else path

    def lstat(self, rel: str) -> os.stat_result | None:
        if self.excluded(rel):
            return None
        try:
            return os.lstat(self.host_path(rel))
        except (FileNotFoundError, NotADirectoryError):
            return None

    # -- selection -------------------------------------------------------------
    def select(self, source: str) -> list[str]:
        """The context-relative paths a COPY/ADD source names (wildcards expanded, sorted);
        an error when it names nothing."""
        rel = self.relative(source)
        if not has_wildcards(rel):
            if self.lstat(rel) is None:
                raise BuildError(f'"{source}" not found in the build context (or excluded by .dockerignore)')
            return [rel]
        found: list[str] = []
        parts = rel.split("/")
        # level by level: directories matching the pattern's prefix components
        level = [""]
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            nxt = []
            for base in level:
                if not has_wildcards(part):
                    candidates = [part.replace("\\", "")]
                else:
                    try:
                        candidates = sorted(os.listdir(self.host_path(base, follow_last=True) if base else self.root))
                    except (FileNotFoundError, NotADirectoryError):
                        continue
                    rx = _segment_regex(part)
                    candidates = [c for c in candidates if rx.match(c)]
                for name in candidates:
                    child = f"{base}/{name}" if base else name
                    st = self.lstat(child)
                    if st is None:
                        continue
                    if last:
                        found.append(child)
                    elif stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
                        nxt.append(child)
            level = nxt
        if not found:
            raise BuildError(f'no source files were specified for "{source}" (nothing in the build context matches)')
        return sorted(found)

    def walk(self, rel: str) -> Iterator[tuple[str, os.stat_result]]:
        """``rel`` and, for a directory, everything below it that is not ignored, parents before
        children, names in byte order; iterative (no recursion limit on deep trees).

        An ignored directory that a ``!`` pattern may re-include something from is
        walked but not yielded (as Docker's context tar leaves its header out): what
        comes back from below gets default parents where it is copied to.
        """
        st = self.lstat(rel)
        if st is None:
            return
        stack: list[tuple[str, os.stat_result, bool]] = [(rel, st, True)]
        while stack:
            path, st, shown = stack.pop()
            if shown:
                yield path, st
            if not stat.S_ISDIR(st.st_mode):
                continue
            host = self.host_path(path)
            try:
                names = os.listdir(host)
            except OSError as e:
                raise BuildError(f"cannot read {os.path.join(self.root, path)}: {e.strerror}") from None
            for name in sorted(names, key=lambda s: s.encode("utf-8", "surrogateescape"), reverse=True):
                child = f"{path}/{name}" if path else name
                try:
                    child_st = os.lstat(os.path.join(host, name))
                except FileNotFoundError:
                    continue
                if self.excluded(child):
                    if stat.S_ISDIR(child_st.st_mode) and self.matcher.may_include_below(child):
                        stack.append((child, child_st, False))
                    continue
                stack.append((child, child_st, True))


def hasher(size: int = 0):  # noqa: ANN201
    """A SHA-256 object (hashlib's: the digest of content)."""
    import hashlib

    return hashlib.sha256()


def file_digest(path: str) -> str:
    h = hasher(os.path.getsize(path))
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def xattrs_of(path: str) -> list[tuple[str, bytes]]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return []
    out = []
    for name in sorted(names):
        if name.startswith(("trusted.overlay.", "system.posix_acl")):
            continue
        try:
            out.append((name, os.getxattr(path, name, follow_symlinks=False)))
        except OSError:
            continue
    return out
