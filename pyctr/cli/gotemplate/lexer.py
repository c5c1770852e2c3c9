"""The lexer: a template's source as text items and action tokens (trim markers ``{{-`` /
``-}}``, comments, Docker's ``\\n``/``\\t`` in the text)."""

from __future__ import annotations

import re

from pyctr.cli.gotemplate.nodes import Node

SPACE = " \t\r\n"


class ParseError(Exception):
    def __init__(self, line: int, msg: str) -> None:
        super().__init__(f"line {line}: {msg}")


class Tok(Node):
    """One token of an action.  ``kind`` is field, var, dot, string, number,
    bool, nil, ident, pipe, lparen, rparen, comma, declare or assign; ``space``
    says whitespace came before it, which tells ``(x) .A`` (two arguments)
    from ``(x).A`` (a field of the parenthesized value)."""

    __slots__ = ("kind", "val", "text", "space")


_IDENT = re.compile(r"[^\W\d]\w*")
_FIELDS = re.compile(r"(?:\.[^\W\d]\w*)+")
_VAR = re.compile(r"\$\w*")
_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+"
    r"|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)"
)
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\", "'": "'", '"': '"'}


def _unquote(body: str, line: int) -> str:
    """Decode the inside of a Go interpreted string literal."""
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = body[i + 1 : i + 2]
        digits = {"x": 2, "u": 4, "U": 8}.get(e)
        if e in _ESCAPES:
            out += _ESCAPES[e].encode()
            i += 2
        elif digits:
            h = body[i + 2 : i + 2 + digits]
            if len(h) != digits or not all(ch in "0123456789abcdefABCDEF" for ch in h):
                raise ParseError(line, f"invalid escape \\{e}{h} in string")
            out += bytes([int(h, 16)]) if e == "x" else chr(int(h, 16)).encode()
            i += 2 + digits
        elif e and e in "01234567" and re.fullmatch(r"[0-7]{3}", body[i + 1 : i + 4]):
            out += bytes([int(body[i + 1 : i + 4], 8) & 0xFF])
            i += 4
        else:
            raise ParseError(line, f"invalid escape \\{e} in string")
    return out.decode("utf-8", errors="replace")


def _number(text: str, line: int) -> int | float:
    s = text.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?0\d+", s):  # Go's old-style octal
            return int(s, 8)
        return int(s, 0)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        raise ParseError(line, f"bad number syntax: {text!r}") from None


def _lex_action(src: str, p: int, line: int) -> tuple[list[Tok] | None, int, bool]:
    """Tokens of the action starting at ``p`` (after ``{{``), the end, and its right trim."""
    n = len(src)
    if src.startswith("/*", p):  # a comment must fill the whole action
        end = src.find("*/", p + 2)
        if end < 0:
            raise ParseError(line, "unclosed comment")
        q = end + 2
        if src.startswith("}}", q):
            return None, q + 2, False
        if src[q : q + 1] in tuple(SPACE) and src.startswith("-}}", q + 1):
            return None, q + 4, True
        raise ParseError(line, "comment ends before closing delimiter")
    toks: list[Tok] = []
    space = False
    while True:
        if p >= n:
            raise ParseError(line, "unclosed action")
        c = src[p]
        if c in SPACE:
            q = p
            while q < n and src[q] in SPACE:
                q += 1
            if src.startswith("-}}", q):
                return toks, q + 3, True
            p, space = q, True
            continue
        if src.startswith("}}", p):
            return toks, p + 2, False
        start = p
        if src.startswith(":=", p):
            kind, val, p = "declare", None, p + 2
        elif c in "|(),=":
            kind = {"|": "pipe", "(": "lparen", ")": "rparen", ",": "comma", "=": "assign"}[c]
            val, p = None, p + 1
        elif c == '"':
            q = p + 1
            while q < n and src[q] != '"':
                if src[q] == "\n":
                    break
                q += 2 if src[q] == "\\" else 1
            if q >= n or src[q] != '"':
                raise ParseError(line, "unterminated quoted string")
            kind, val, p = "string", _unquote(src[p + 1 : q], line), q + 1
        elif c == "`":
            q = src.find("`", p + 1)
            if q < 0:
                raise ParseError(line, "unterminated raw quoted string")
            kind, val, p = "string", src[p + 1 : q], q + 1
        elif c == "'":
            m = re.compile(r"'((?:[^'\\\n]|\\.)+?)'").match(src, p)
            ch = _unquote(m.group(1), line) if m else ""
            if len(ch) != 1:
                raise ParseError(line, "malformed character constant")
            kind, val, p = "number", ord(ch), m.end()
        elif c == "." and (m := _FIELDS.match(src, p)):
            kind, val, p = "field", m.group(0)[1:].split("."), m.end()
        elif c == "$":
            m = _VAR.match(src, p)
            f = _FIELDS.match(src, m.end())
            names = f.group(0)[1:].split(".") if f else []
            kind, val, p = "var", (m.group(0), names), f.end() if f else m.end()
        elif (m := _NUMBER.match(src, p)) and not _IDENT.match(src, m.end()):
            kind, val, p = "number", _number(m.group(0), line), m.end()
        elif c == ".":
            kind, val, p = "dot", None, p + 1
        elif m := _IDENT.match(src, p):
            word = m.group(0)
            kind, val = {"true": ("bool", True), "false": ("bool", False), "nil": ("nil", None)}.get(
                word, ("ident", word))
            p = m.end()
        else:
            raise ParseError(line, f"unexpected {c!r} in command")
        toks.append(Tok(kind, val, src[start:p], space))
        space = False


def lex(src: str, docker_escapes: bool) -> list[tuple]:
    """Split the source into ``("text", s)`` and ``("action", tokens, line)`` items."""
    items: list[tuple] = []
    pos = 0
    trim_next = False
    while True:
        start = src.find("{{", pos)
        text = src[pos:] if start < 0 else src[pos:start]
        if docker_escapes:
            # The Docker CLI turns the two characters \n and \t into newline and
            # tab before Go parses the template; only in the text here, so that
            # "\n" inside a quoted string stays a Go escape (same result).
            text = text.replace("\\t", "\t").replace("\\n", "\n")
        if trim_next:
            text = text.lstrip(SPACE)
        p = start + 2
        if start >= 0 and src[p : p + 1] == "-" and src[p + 1 : p + 2] in tuple(SPACE):
            text = text.rstrip(SPACE)
            p += 2
        if text:
            items.append(("text", text))
        if start < 0:
            return items
        line = src.count("\n", 0, start) + 1
        toks, pos, trim_next = _lex_action(src, p, line)
        if toks is not None:
            items.append(("action", toks, line))
