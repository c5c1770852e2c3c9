"""``.dockerignore`` as Docker reads it (moby's patternmatcher), which is not gitignore.

* Patterns are anchored at the context's root: ``*.log`` matches ``a.log``,
  not ``sub/a.log`` (``**/*.log`` does). ``**`` matches any number of path
  components, even glued to a name (``**file``, ``a**/*.txt``).
* A pattern that matches a directory matches everything under it.
* ``!pattern`` re-includes; the last pattern that matches decides. A walker
  must therefore still descend into an excluded directory when some ``!``
  pattern might re-include something below it (:meth:`Matcher.may_include_below`).
* Lines are trimmed, ``#`` lines are comments, a UTF-8 BOM is dropped, every
  pattern is cleaned (``filepath.Clean``) and loses a leading ``/``.
"""

from __future__ import annotations

import posixpath
import re

from pyctr.build.errors import BuildError

_ESCAPED = set(".+()|{}$")


def read_ignore_file(data: bytes | str) -> list[str]:
    """The patterns of a ``.dockerignore`` file's text."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "surrogateescape")
    if data.startswith("\ufeff"):
        data = data[1:]
    patterns = []
    for line in data.split("\n"):
        line = line.rstrip("\r")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


def clean(path: str) -> str:
    """Go's ``filepath.Clean`` (``os.path.normpath`` keeps a leading ``//``, and ``""`` gives ``.``)."""
    if not path:
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    joined = "/".join(out)
    return ("/" + joined) if rooted else (joined or ".")


class _Pattern:
    __slots__ = ("text", "exclusion", "kind", "regex", "dirs")

    def __init__(self, text: str, exclusion: bool) -> None:
        self.text = text
        self.exclusion = exclusion
        self.dirs = text.split("/")
        self.kind, self.regex = _compile(text)

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regex.match(path) is not None  # type: ignore[union-attr]


def _compile(pattern: str) -> tuple[str, re.Pattern[str] | None]:
    """The pattern as moby compiles it: exact, prefix (``foo**``), suffix (``**foo``) or a regex."""
    out = ["^"]
    kind = "exact"
    i = 0
    n = len(pattern)
    first = True
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1  # "**/" is "**"
                if i >= n:  # "**" at the end matches everything below
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out.append(".*")
                        kind = "regex"
                else:
                    out.append("(.*/)?")
                    kind = "regex"
                if first:
                    kind = "suffix"
            else:
                out.append("[^/]*")
                kind = "regex"
        elif ch == "?":
            out.append("[^/]")
            kind = "regex"
        elif ch in _ESCAPED:
            out.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
                kind = "regex"
            else:
                out.append("\\\\")
        elif ch in "[]":
            out.append(ch)
            kind = "regex"
        else:
            out.append(ch)  # (as moby: "^" and the rest go to the regex as they are)
        first = False
    if kind != "regex":
        return kind, None
    out.append("$")
    try:
        return kind, re.compile("".join(out), re.DOTALL)
    except re.error as e:
        raise BuildError(f"invalid .dockerignore pattern {pattern!r}: {e}") from None


def _check_syntax(pattern: str) -> None:
    """Refuse what Go's ``filepath.Match`` refuses: an unclosed ``[`` or a trailing escape in a class."""
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                raise BuildError(f"syntax error in pattern {pattern!r}")
            while j < n and pattern[j] != "]":
                if pattern[j] == "\\":
                    j += 1
                j += 1
            if j >= n:
                raise BuildError(f"syntax error in pattern {pattern!r}")
            i = j + 1
            continue
        if ch == "]":
            raise BuildError(f"syntax error in pattern {pattern!r}")
        i += 1


class Matcher:
    """The compiled patterns of one ignore file."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for raw in patterns:
            text = raw.strip()
            if not text:
                continue
            text = clean(text)
            exclusion = text.startswith("!")
            if exclusion:
                if len(text) == 1:
                    raise BuildError('illegal exclusion pattern: "!"')
                text = text[1:]
            _check_syntax(text)
            self.patterns.append(_Pattern(text, exclusion))
        self.has_exclusions = any(p.exclusion for p in self.patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def excluded(self, path: str) -> bool:
        """Whether the context-relative, slash-separated ``path`` is left out.

        (moby's ``MatchesOrParentMatches``: a pattern matches the path or any
        of its parent directories; the last pattern that matches decides.)
        """
        path = clean(path)
        if path == ".":
            return False
        parent = posixpath.dirname(path)
        parents = parent.split("/") if parent else []
        matched = False
        for p in self.patterns:
            if p.exclusion != matched:
                continue
            hit = p.match(path)
            if not hit and parents:
                for k in range(1, len(parents) + 1):
                    if p.match("/".join(parents[:k])):
                        hit = True
                        break
            if hit:
                matched = not p.exclusion
        return matched

    def may_include_below(self, directory: str) -> bool:
        """Whether something under an excluded ``directory`` could be re-included by a ``!`` pattern
        (so a walker must look inside). Errs on the side of looking."""
        if not self.has_exclusions:
            return False
        prefix = clean(directory) + "/"
        for p in self.patterns:
            if not p.exclusion:
                continue
            if p.kind != "exact" or p.text.startswith(prefix) or "*" in p.text or "?" in p.text or "[" in p.text:
                return True
        return False
