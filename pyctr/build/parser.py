"""The Dockerfile's syntax, as BuildKit's parser reads it.

:func:`parse` turns the text into :class:`Node` s, one per instruction:

* parser directives (``# syntax=``, ``# escape=``, ``# check=``) only before
  anything else, a blank line or another comment ends them;
* a line ending in the escape character continues on the next; comment lines
  and empty lines inside a continuation are dropped; the continuation's
  indentation is kept (``RUN a && \\`` + ``    b`` -> ``a &&     b``);
* ``--name=value`` flags before the arguments;
* the arguments in the form each instruction takes them: a JSON string array
  when the rest parses as one (exec form, else the shell form), ``KEY=VALUE``
  pairs (ENV, LABEL; the legacy ``ENV KEY VALUE`` too), words (ARG, FROM,
  EXPOSE, COPY/ADD/VOLUME when not JSON), the whole rest (USER, WORKDIR...);
* heredocs (``<<EOF``, ``<<-EOF`` strips leading tabs, a quoted word means
  no expansion) after RUN, COPY and ADD, their bodies read from the lines
  that follow.

Nothing is expanded here: variables are the builder's business, per
instruction (:mod:`pyctr.build.shell`).
"""

from __future__ import annotations

import json
import re

from pyctr.build.errors import DockerfileError
from pyctr.build.shell import ExpansionError, Lexer

INSTRUCTIONS = ("add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
                "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir")
_HEREDOC_INSTRUCTIONS = ("add", "copy", "run")
_DIRECTIVES = ("syntax", "escape", "check")
_DIRECTIVE_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_WHITESPACE_RE = re.compile(r"[\t\v\f\r ]+")
_HEREDOC_RE = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$")
_LEADING_TABS_RE = re.compile(r"^\t+", re.MULTILINE)


class Heredoc:
    __slots__ = ("name", "expand", "chomp", "fd", "content")

    def __init__(self, name: str, expand: bool, chomp: bool, fd: int, content: str = "") -> None:
        self.name, self.expand, self.chomp, self.fd, self.content = name, expand, chomp, fd, content

    def body(self) -> str:
        """The content, with leading tabs removed for ``<<-``."""
        return _LEADING_TABS_RE.sub("", self.content) if self.chomp else self.content

    def __repr__(self) -> str:
        return f"Heredoc({self.name!r}, expand={self.expand}, chomp={self.chomp}, {self.content!r})"


class Node:
    """One instruction as written. ``args`` per the instruction's form (see the module doc);
    ``pairs`` for ENV and LABEL; ``sub`` the instruction an ONBUILD carries."""

    __slots__ = ("keyword", "flags", "args", "pairs", "json", "original", "line", "end_line", "heredocs", "sub")

    def __init__(self, keyword: str, original: str = "", line: int = 0) -> None:
        self.keyword = keyword  # lower case
        self.flags: list[str] = []
        self.args: list[str] = []
        self.pairs: list[tuple[str, str]] = []
        self.json = False
        self.original = original
        self.line = line
        self.end_line = line
        self.heredocs: list[Heredoc] = []
        self.sub: Node | None = None

    def __repr__(self) -> str:
        return f"Node({self.keyword.upper()} flags={self.flags} args={self.args} pairs={self.pairs} json={self.json})"


class Dockerfile:
    """What :func:`parse` returns."""

    def __init__(self, nodes: list[Node], escape: str, directives: dict[str, str], warnings: list[str],
                 filename: str) -> None:
        self.nodes = nodes
        self.escape = escape
        self.directives = directives
        self.warnings = warnings
        self.filename = filename


class _Directives:
    """Parser directives are read until the first line that is not one."""

    def __init__(self) -> None:
        self.done = False
        self.seen: dict[str, str] = {}
        self.escape = "\\"
        self._set_continuation()

    def _set_continuation(self) -> None:
        e = re.escape(self.escape)
        # the escape character last on the line (trailing blanks allowed), not itself escaped
        self.continuation = re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")

    def feed(self, line: str) -> bool:
        """Whether ``line`` was a directive (which also ends the comment it is)."""
        if self.done:
            return False
        if not line.startswith("#"):
            self.done = True
            return False
        m = _DIRECTIVE_RE.match(line[1:].lstrip())
        if not m or m.group(1).lower() not in _DIRECTIVES:
            self.done = True
            return False
        key, value = m.group(1).lower(), m.group(2)
        if key in self.seen:
            raise ValueError(f"only one {key} parser directive can be used")
        self.seen[key] = value
        if key == "escape":
            if value not in ("\\", "`"):
                raise ValueError(f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
            self._set_continuation()
        return True


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def parse(text: str | bytes, filename: str = "Dockerfile") -> Dockerfile:
    """Parse a Dockerfile; :class:`DockerfileError` (file, line, what is wrong) if it cannot be."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DockerfileError(f"not UTF-8 text (byte {e.start})", 0, filename) from None
    # lines end at "\n" only, as Go's scanner splits them (str.splitlines knows more ends)
    lines = [ln + "\n" for ln in text.split("\n")]
    if lines[-1] == "\n":
        lines.pop()
    else:
        lines[-1] = lines[-1][:-1]
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    d = _Directives()
    nodes: list[Node] = []
    warnings: list[str] = []
    i = 0
    n = len(lines)

    def fail(message: str, line: int) -> DockerfileError:
        return DockerfileError(message, line, filename)

    while i < n:
        raw = lines[i].rstrip("\r\n")
        i += 1
        start = i
        token = raw.lstrip()
        try:
            d.feed(token)
        except ValueError as e:
            raise fail(str(e), i) from None
        if _is_comment(token):
            token = ""
        token, ended = _trim_continuation(token, d)
        if ended and not token:
            continue
        buf = [token]
        empty_continuation = False
        while not ended and i < n:
            raw_next = lines[i].rstrip("\r\n")
            i += 1
            try:
                d.feed(raw_next)
            except ValueError as e:
                raise fail(str(e), i) from None
            if _is_comment(raw_next):
                continue
            if not raw_next.strip():
                empty_continuation = True
                continue
            piece, ended = _trim_continuation(raw_next, d)
            buf.append(piece)
        line = "".join(buf)
        if empty_continuation:
            warnings.append(f"Empty continuation line found in: {line}")
        try:
            node = _node_from_line(line, d.escape, start)
        except ValueError as e:
            raise fail(str(e), start) from None
        target = node.sub if node.keyword == "onbuild" and node.sub is not None else node
        if target.keyword in _HEREDOC_INSTRUCTIONS and not target.json and "<<" in line:
            try:
                docs = _heredocs_in(line)
            except ExpansionError as e:
                raise fail(str(e), start) from None
            for doc in docs:
                content = []
                terminated = False
                while i < n:
                    body_line = lines[i]
                    i += 1
                    candidate = body_line.rstrip("\r\n")
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    content.append(body_line)
                if not terminated:
                    raise fail("unterminated heredoc", start)
                doc.content = "".join(content)
                target.heredocs.append(doc)
        node.end_line = i
        nodes.append(node)
    if not nodes:
        raise fail("file with no instructions", n)
    return Dockerfile(nodes, d.escape, dict(d.seen), warnings, filename)


def _trim_continuation(line: str, d: _Directives) -> tuple[str, bool]:
    """(line without its continuation character, whether the instruction ends here)."""
    if d.continuation.search(line):
        return d.continuation.sub(r"\1", line, count=1), False
    return line, True


def _node_from_line(line: str, escape: str, number: int) -> Node:
    parts = _WHITESPACE_RE.split(line.strip(), maxsplit=1)
    keyword = parts[0]
    flags: list[str] = []
    rest = ""
    if len(parts) == 2:
        rest, flags = _extract_flags(parts[1], escape)
    rest = rest.strip()
    node = Node(keyword.lower(), line, number)
    node.flags = flags
    _dispatch(node, rest, escape)
    return node


def _dispatch(node: Node, rest: str, escape: str) -> None:
    kw = node.keyword
    if kw in ("add", "copy", "volume"):
        if not _maybe_json(node, rest):
            node.args = _split_whitespace(rest)
    elif kw in ("cmd", "entrypoint", "run", "shell"):
        if rest and not _maybe_json(node, rest):
            node.args = [rest]
    elif kw in ("env", "label"):
        node.pairs = _name_values(rest, kw.upper(), escape)
    elif kw == "arg":
        node.args = _words(rest, escape)
    elif kw in ("expose", "from"):
        node.args = _split_whitespace(rest)
    elif kw in ("maintainer", "stopsignal", "user", "workdir"):
        node.args = [rest] if rest else []
    elif kw == "healthcheck":
        m = re.match(r"(\S+)\s*(.*)", rest, re.DOTALL)
        if m:
            node.args = [m.group(1)]
            cmd = m.group(2)
            if cmd:
                sub = Node("_")
                if not _maybe_json(sub, cmd):
                    sub.args = [cmd]
                node.args += sub.args
                node.json = sub.json
    elif kw == "onbuild":
        if rest:
            node.sub = _node_from_line(rest, escape, node.line)
    # anything else is an unknown instruction: an error when the stages are read


def _maybe_json(node: Node, rest: str) -> bool:
    text = rest.lstrip()
    if not text.startswith("["):
        return False
    try:
        value = json.loads(text)
    except ValueError:
        return False
    if not isinstance(value, list):
        return False
    if not all(isinstance(v, str) for v in value):
        raise ValueError("when using JSON array syntax, arrays must be comprised of strings only")
    node.args = value
    node.json = True
    return True


def _split_whitespace(rest: str) -> list[str]:
    return _WHITESPACE_RE.split(rest) if rest else []


def _extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """Leading ``--flag[=value]`` words (quotes and escapes processed); the rest of the line."""
    words: list[str] = []
    pos = 0
    n = len(line)
    while True:
        while pos < n and line[pos].isspace():
            pos += 1
        if pos >= n:
            return "", words
        if not line.startswith("--", pos):
            return line[pos:], words
        word: list[str] = []
        quote = ""
        blank_ok = False
        while pos < n:
            ch = line[pos]
            if quote:
                if ch == quote:
                    quote = ""
                elif ch == escape:
                    if pos + 1 == n:
                        pos += 1
                        continue
                    pos += 1
                    word.append(line[pos])
                else:
                    word.append(ch)
                pos += 1
                continue
            if ch.isspace():
                break
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
            elif ch == escape:
                if pos + 1 < n:
                    pos += 1
                    word.append(line[pos])
            else:
                word.append(ch)
            pos += 1
        text = "".join(word)
        if text == "--":
            return line[pos:], words
        if blank_ok or text:
            words.append(text)


def _words(rest: str, escape: str) -> list[str]:
    """Whitespace-separated words, quotes and escapes kept (they are processed at expansion)."""
    words: list[str] = []
    buf: list[str] = []
    in_word = False
    quote = ""
    blank_ok = False
    i = 0
    n = len(rest)
    while i < n:
        ch = rest[i]
        if not in_word:
            if ch.isspace():
                i += 1
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == n:
                    i += 1
                    continue
                buf.append(ch)
                i += 1
                ch = rest[i]
            buf.append(ch)
            i += 1
            continue
        if ch.isspace():
            if blank_ok or buf:
                words.append("".join(buf))
            buf = []
            blank_ok = False
            in_word = False
            i += 1
            continue
        if ch in ("'", '"'):
            quote = ch
            blank_ok = True
        if ch == escape:
            if i + 1 == n:
                i += 1
                continue
            buf.append(ch)
            i += 1
            ch = rest[i]
        buf.append(ch)
        i += 1
    if in_word and (blank_ok or buf):
        words.append("".join(buf))
    return words


def _name_values(rest: str, what: str, escape: str) -> list[tuple[str, str]]:
    words = _words(rest, escape)
    if not words:
        raise ValueError(f"{what} requires at least one argument")
    if "=" not in words[0]:
        # the legacy form: KEY VALUE (the value is the rest of the line)
        parts = _WHITESPACE_RE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise ValueError(f"{what} must have two arguments")
        return [(parts[0], parts[1])]
    pairs = []
    for word in words:
        if "=" not in word:
            raise ValueError(f"Syntax error - can't find = in {word!r}. Must be of the form: name=value")
        key, _, value = word.partition("=")
        pairs.append((key, value))
    return pairs


def parse_heredoc(word: str) -> Heredoc | None:
    """The heredoc a word like ``<<EOF``, ``<<-"EOF"`` or ``3<<EOF`` starts; None for any other word."""
    m = _HEREDOC_RE.match(word)
    if not m or not m.group(3):
        return None
    rest = m.group(3)
    plain = Lexer(skip_unset=True).words(rest, {})
    if len(plain) != 1:
        return None
    raw = Lexer(skip_unset=True, raw_quotes=True).words(rest, {})
    name = plain[0]
    quotes = name.count("'") + name.count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"') if raw else 0
    return Heredoc(name, expand=quotes == raw_quotes, chomp=m.group(2) == "-", fd=int(m.group(1) or 0))


def _heredocs_in(line: str) -> list[Heredoc]:
    words = Lexer(raw_quotes=True, raw_escapes=True, skip_unset=True).words(line, {})
    return [doc for doc in (parse_heredoc(w) for w in words) if doc is not None]
