"""Go ``text/template``, the subset Docker and Podman users pass to ``--format``.

``docker inspect --format '{{.State.Pid}}'``, ``docker ps --format
'table {{.ID}}\\t{{.Names}}'`` and friends take a Go template, and users paste
the ones they already have.  This module renders those templates over plain
Python data (dicts with Docker's CamelCase keys, lists, scalars, or objects
with attributes) and prints values the way Go's ``fmt`` does, so the output
matches Docker byte for byte where the data match.

The pieces, in the order a template goes through them:

* ``_lex`` splits the source into text and action tokens (trim markers
  ``{{-`` / ``-}}``, comments, Docker's ``\\n``/``\\t`` in the text);
* ``_Parser`` builds a small AST and reports syntax errors, unknown
  functions and undefined variables before anything runs, as Go does;
* ``_State`` walks the AST; ``_FUNCS`` holds Go's builtins plus Docker's
  (``json``, ``join``, ``split``, ``upper``, ``lower``, ``title``, ``pad``,
  ``truncate``).

Not supported: ``define``/``template``/``block``, ``call``, ``%[n]``
argument indexes in ``printf``.  Where Go would fail only because of Go's
static types (``eq 1 1.0``, ``printf "%.1f"`` of an int) this renders the
obvious result, since Python data do not carry Go's types.

Every error is a :class:`~pyctr.core.errors.UsageError` whose message starts
``template: parsing error:`` or ``template: executing error:``.
"""

from __future__ import annotations

import functools
import math
import re

from pyctr.core.errors import UsageError

TYPE_CHECKING = False  # (typing's import is ~3 ms of every --format; annotations are strings here)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["Template", "render", "split_table"]


class _Missing:
    """A map key that is not there; Go prints it as ``<no value>``."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()
_NOFINAL = object()  # no value piped in from an earlier command
_SPACE = " \t\r\n"
_KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}


class _ExecError(Exception):
    """An execution error; ``render`` turns it into a UsageError."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg
        self.located = False


class _ParseError(Exception):
    def __init__(self, line: int, msg: str) -> None:
        super().__init__(f"line {line}: {msg}")


class _BreakLoop(Exception):
    pass


class _ContinueLoop(Exception):
    pass


class _Node:
    """Plain slotted records (dataclasses would cost milliseconds at import)."""

    __slots__: tuple[str, ...] = ()

    def __init__(self, *args: Any) -> None:
        for name, value in zip(self.__slots__, args):
            setattr(self, name, value)


# --------------------------------------------------------------------------- lexer


class _Tok(_Node):
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
                raise _ParseError(line, f"invalid escape \\{e}{h} in string")
            out += bytes([int(h, 16)]) if e == "x" else chr(int(h, 16)).encode()
            i += 2 + digits
        elif e and e in "01234567" and re.fullmatch(r"[0-7]{3}", body[i + 1 : i + 4]):
            out += bytes([int(body[i + 1 : i + 4], 8) & 0xFF])
            i += 4
        else:
            raise _ParseError(line, f"invalid escape \\{e} in string")
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
        raise _ParseError(line, f"bad number syntax: {text!r}") from None


def _lex_action(src: str, p: int, line: int) -> tuple[list[_Tok] | None, int, bool]:
    """Tokens of the action starting at ``p`` (after ``{{``), the end, and its right trim."""
    n = len(src)
    if src.startswith("/*", p):  # a comment must fill the whole action
        end = src.find("*/", p + 2)
        if end < 0:
            raise _ParseError(line, "unclosed comment")
        q = end + 2
        if src.startswith("}}", q):
            return None, q + 2, False
        if src[q : q + 1] in tuple(_SPACE) and src.startswith("-}}", q + 1):
            return None, q + 4, True
        raise _ParseError(line, "comment ends before closing delimiter")
    toks: list[_Tok] = []
    space = False
    while True:
        if p >= n:
            raise _ParseError(line, "unclosed action")
        c = src[p]
        if c in _SPACE:
            q = p
            while q < n and src[q] in _SPACE:
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
                raise _ParseError(line, "unterminated quoted string")
            kind, val, p = "string", _unquote(src[p + 1 : q], line), q + 1
        elif c == "`":
            q = src.find("`", p + 1)
            if q < 0:
                raise _ParseError(line, "unterminated raw quoted string")
            kind, val, p = "string", src[p + 1 : q], q + 1
        elif c == "'":
            m = re.compile(r"'((?:[^'\\\n]|\\.)+?)'").match(src, p)
            ch = _unquote(m.group(1), line) if m else ""
            if len(ch) != 1:
                raise _ParseError(line, "malformed character constant")
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
            raise _ParseError(line, f"unexpected {c!r} in command")
        toks.append(_Tok(kind, val, src[start:p], space))
        space = False


def _lex(src: str, docker_escapes: bool) -> list[tuple]:
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
            text = text.lstrip(_SPACE)
        p = start + 2
        if start >= 0 and src[p : p + 1] == "-" and src[p + 1 : p + 2] in tuple(_SPACE):
            text = text.rstrip(_SPACE)
            p += 2
        if text:
            items.append(("text", text))
        if start < 0:
            return items
        line = src.count("\n", 0, start) + 1
        toks, pos, trim_next = _lex_action(src, p, line)
        if toks is not None:
            items.append(("action", toks, line))


# --------------------------------------------------------------------------- AST


class _Field(_Node):
    __slots__ = ("names",)


class _Var(_Node):
    __slots__ = ("name", "names")


class _Dot(_Node):
    __slots__ = ()


class _Nil(_Node):
    __slots__ = ()


class _Lit(_Node):
    __slots__ = ("value",)


class _Ident(_Node):
    __slots__ = ("name",)


class _Chain(_Node):
    __slots__ = ("node", "names")


class _Cmd(_Node):
    __slots__ = ("args",)


class _Pipe(_Node):
    __slots__ = ("decl", "assign", "cmds")


class _Action(_Node):
    __slots__ = ("pipe",)


class _Branch(_Node):
    """``{{if}}``, ``{{with}}`` or ``{{range}}`` (``kind``); ``else if`` nests in ``orelse``."""

    __slots__ = ("kind", "pipe", "body", "orelse")


class _Jump(_Node):
    """``{{break}}`` or ``{{continue}}``."""

    __slots__ = ("kind",)


def _src(node: Any) -> str:
    """Source-like text of a node, for error messages (``at <.A.B>``)."""
    if isinstance(node, _Field):
        return "." + ".".join(node.names)
    if isinstance(node, _Var):
        return node.name + "".join("." + n for n in node.names)
    if isinstance(node, _Dot):
        return "."
    if isinstance(node, _Nil):
        return "nil"
    if isinstance(node, _Lit):
        return go_str(node.value) if not isinstance(node.value, str) else _go_quote(node.value)
    if isinstance(node, _Ident):
        return node.name
    if isinstance(node, _Chain):
        return _src(node.node) + "".join("." + n for n in node.names)
    if isinstance(node, _Cmd):
        return " ".join(_src(a) for a in node.args)
    if isinstance(node, _Pipe):
        return "(" + " | ".join(_src(c) for c in node.cmds) + ")"
    return "?"


# --------------------------------------------------------------------------- parser


class _Cursor:
    def __init__(self, toks: list[_Tok], line: int) -> None:
        self.toks, self.pos, self.line = toks, 0, line

    def peek(self, k: int = 0) -> _Tok | None:
        i = self.pos + k
        return self.toks[i] if i < len(self.toks) else None

    def next(self) -> _Tok:
        t = self.peek()
        if t is None:
            raise _ParseError(self.line, "unexpected end of action")
        self.pos += 1
        return t

    def expect_end(self, what: str = "action") -> None:
        t = self.peek()
        if t is not None:
            raise _ParseError(self.line, f"unexpected {t.text!r} in {what}")


class _Parser:
    def __init__(self, items: list[tuple]) -> None:
        self.items = items
        self.i = 0
        self.vars = ["$"]  # names in scope, for Go's "undefined variable" check
        self.loops = 0

    def parse(self) -> list:
        nodes, term = self.parse_list()
        if term is not None:
            raise _ParseError(term[1].line, f"unexpected {{{{{term[0]}}}}}")
        return nodes

    def parse_list(self) -> tuple[list, tuple[str, _Cursor] | None]:
        """Nodes up to ``{{end}}``/``{{else}}`` (returned with the cursor after it) or EOF."""
        nodes: list = []
        while self.i < len(self.items):
            item = self.items[self.i]
            self.i += 1
            if item[0] == "text":
                nodes.append(item[1])
                continue
            cur = _Cursor(item[1], item[2])
            t = cur.peek()
            if t is None:
                raise _ParseError(cur.line, "missing value for command")
            if t.kind == "ident" and t.val in _KEYWORDS:
                cur.next()
                kw = t.val
                if kw in ("end", "else"):
                    return nodes, (kw, cur)
                if kw in ("if", "with", "range"):
                    nodes.append(self.parse_branch(kw, cur))
                elif kw in ("break", "continue"):
                    if not self.loops:
                        raise _ParseError(cur.line, f"{{{{{kw}}}}} outside {{{{range}}}}")
                    cur.expect_end()
                    nodes.append(_Jump(kw))
                else:
                    raise _ParseError(cur.line, f"{{{{{kw}}}}} is not supported")
                continue
            pipe = self.parse_pipe(cur, "command")
            cur.expect_end()
            nodes.append(_Action(pipe))
        return nodes, None

    def parse_branch(self, kw: str, cur: _Cursor) -> _Branch:
        mark = len(self.vars)
        self.loops += kw == "range"
        pipe = self.parse_pipe(cur, kw)
        cur.expect_end()
        body, term = self.parse_list()
        self.loops -= kw == "range"
        if term is None:
            raise _ParseError(cur.line, f"unexpected EOF in {{{{{kw}}}}}")
        del self.vars[mark + len(pipe.decl) * (not pipe.assign) :]
        orelse: list = []
        if term[0] == "else":
            tcur = term[1]
            nxt = tcur.peek()
            if kw in ("if", "with") and nxt is not None and nxt.kind == "ident" and nxt.val == kw:
                tcur.next()  # {{else if ...}} / {{else with ...}} share the final {{end}}
                orelse = [self.parse_branch(kw, tcur)]
            else:
                tcur.expect_end("{{else}}")
                orelse, term = self.parse_list()
                if term is None:
                    raise _ParseError(tcur.line, f"unexpected EOF in {{{{{kw}}}}}")
                if term[0] != "end":
                    raise _ParseError(term[1].line, "expected {{end}}; found {{else}}")
                term[1].expect_end("{{end}}")
        else:
            term[1].expect_end("{{end}}")
        del self.vars[mark:]
        return _Branch(kw, pipe, body, orelse)

    def parse_pipe(self, cur: _Cursor, ctx: str) -> _Pipe:
        decl: list[str] = []
        assign = False
        t, t2 = cur.peek(), cur.peek(1)
        if t is not None and t.kind == "var" and not t.val[1] and t2 is not None:
            if t2.kind in ("declare", "assign"):
                decl, assign = [t.val[0]], t2.kind == "assign"
                cur.pos += 2
            elif t2.kind == "comma" and ctx == "range":
                t3, t4 = cur.peek(2), cur.peek(3)
                if not (t3 and t3.kind == "var" and not t3.val[1] and t4 and t4.kind in ("declare", "assign")):
                    raise _ParseError(cur.line, "too many declarations in range")
                decl, assign = [t.val[0], t3.val[0]], t4.kind == "assign"
                cur.pos += 4
        if assign:
            for name in decl:
                if name not in self.vars:
                    raise _ParseError(cur.line, f'undefined variable "{name}"')
        cmds = [self.parse_cmd(cur)]
        while (t := cur.peek()) is not None and t.kind == "pipe":
            cur.next()
            cmds.append(self.parse_cmd(cur))
        if not assign:
            self.vars.extend(decl)
        return _Pipe(decl, assign, cmds)

    def parse_cmd(self, cur: _Cursor) -> _Cmd:
        args = []
        while (t := cur.peek()) is not None and t.kind not in ("pipe", "rparen"):
            args.append(self.parse_operand(cur))
        if not args:
            raise _ParseError(cur.line, "missing value for command")
        return _Cmd(args)

    def parse_operand(self, cur: _Cursor) -> Any:
        t = cur.next()
        k = t.kind
        if k == "field":
            node: Any = _Field(t.val)
        elif k == "var":
            if t.val[0] not in self.vars:
                raise _ParseError(cur.line, f'undefined variable "{t.val[0]}"')
            node = _Var(*t.val)
        elif k == "dot":
            node = _Dot()
        elif k == "nil":
            node = _Nil()
        elif k in ("string", "number", "bool"):
            node = _Lit(t.val)
        elif k == "ident":
            if t.val in _KEYWORDS:
                raise _ParseError(cur.line, f"unexpected <{t.val}> in operand")
            if t.val not in _FUNCS:
                raise _ParseError(cur.line, f'function "{t.val}" not defined')
            node = _Ident(t.val)
        elif k == "lparen":
            node = self.parse_pipe(cur, "paren")
            if cur.peek() is None or cur.next().kind != "rparen":
                raise _ParseError(cur.line, "unclosed left paren")
        else:
            raise _ParseError(cur.line, f"unexpected {t.text!r} in operand")
        nxt = cur.peek()
        if nxt is not None and nxt.kind == "field" and not nxt.space:
            if not isinstance(node, _Pipe):
                raise _ParseError(cur.line, f"unexpected . after term {t.text!r}")
            cur.next()
            node = _Chain(node, nxt.val)
        return node


# --------------------------------------------------------------------------- values


def _truth(v: Any) -> bool:
    """Go's truth: false, 0, nil and empty string/list/map are false; structs true."""
    if v is None or v is MISSING:
        return False
    if isinstance(v, (bool, int, float, str, bytes, list, tuple, dict, set)):
        return bool(v)
    return True


def _go_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "[]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    return type(v).__name__


def _sorted_keys(d: dict) -> list:
    try:
        return sorted(d)
    except TypeError:  # mixed key types: Go sorts by type first
        return sorted(d, key=lambda k: (type(k).__name__, str(k)))


def _digits(f: float) -> tuple[str, int]:
    """Shortest round-trip digits of ``abs(f)`` and the decimal point position."""
    from decimal import Decimal

    if f == 0:
        return "0", 1
    _, dig, exp = Decimal(repr(abs(f))).as_tuple()
    s = "".join(map(str, dig)).rstrip("0") or "0"
    return s, len(dig) + exp


def _e_form(d: str, dp: int, min_exp_digits: int = 2) -> str:
    exp = dp - 1
    mant = d[0] + ("." + d[1:] if len(d) > 1 else "")
    return f"{mant}e{'-' if exp < 0 else '+'}{abs(exp):0{min_exp_digits}d}"


def _f_form(d: str, dp: int) -> str:
    if dp <= 0:
        return "0." + "0" * -dp + d
    if dp >= len(d):
        return d + "0" * (dp - len(d))
    return d[:dp] + "." + d[dp:]


def _go_float(f: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, exponent form below 1e-4 and from 1e6 up."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    d, dp = _digits(f)
    sign = "-" if math.copysign(1, f) < 0 else ""
    exp = dp - 1
    # strconv's 'g' with shortest precision decides with precision 6: 1e+06
    return sign + (_e_form(d, dp) if exp < -4 or exp >= 6 else _f_form(d, dp))


def _struct_fields(v: Any) -> Any:
    """Field names of a record (a dataclass or a pyctr.core.records.Record), else None."""
    if isinstance(v, type):
        return None
    if hasattr(v, "__dataclass_fields__"):
        return list(v.__dataclass_fields__)
    from pyctr.core.records import Record

    return list(v.field_names()) if isinstance(v, Record) else None


def go_str(v: Any) -> str:
    """``fmt.Sprint`` of one value: ``<nil>``, ``true``, ``[a b]``, ``map[k:v]``."""
    if v is MISSING:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray)):
        return "[" + " ".join(str(b) for b in v) + "]"
    if isinstance(v, (list, tuple, set, frozenset)):
        return "[" + " ".join(go_str(e) for e in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{go_str(k)}:{go_str(v[k])}" for k in _sorted_keys(v)) + "]"
    names = _struct_fields(v)
    if names is not None:  # a Go struct's {a b}
        return "{" + " ".join(go_str(getattr(v, f)) for f in names) + "}"
    return str(v)


def _go_quote(s: str) -> str:
    """Go's ``strconv.Quote``."""
    out = ['"']
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out) + '"'


def _json_str(s: str) -> str:
    import json

    # Docker's json func disables HTML escaping; Go still escapes U+2028/9.
    return json.dumps(s, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def go_json(v: Any) -> str:
    """Docker's ``{{json .}}``: compact ``json.Marshal`` output, dict order kept."""
    if v is None or v is MISSING:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise _ExecError(f"json: unsupported value: {_go_float(v)}")
        if v == 0:
            return "-0" if math.copysign(1, v) < 0 else "0"
        d, dp = _digits(v)
        sign = "-" if v < 0 else ""
        if 1e-6 <= abs(v) < 1e21:
            return sign + _f_form(d, dp)
        return sign + _e_form(d, dp, 1)
    if isinstance(v, str):
        return _json_str(v)
    if isinstance(v, dict):
        return "{" + ",".join(
            f"{_json_str(k if isinstance(k, str) else go_str(k))}:{go_json(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    names = _struct_fields(v)
    if names is not None:
        return go_json({f: getattr(v, f) for f in names})
    if hasattr(v, "__dict__"):
        return go_json({k: x for k, x in vars(v).items() if not k.startswith("_")})
    return _json_str(str(v))


# --------------------------------------------------------------------------- printf


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*)?)?(.)?", re.S)


def _pad(s: str, flags: str, width: int | None) -> str:
    if width is None or len(s) >= width:
        return s
    return s.ljust(width) if "-" in flags else s.rjust(width)


def _num(neg: bool, prefix: str, digits: str, flags: str, width: int | None, zero_ok: bool = True) -> str:
    sign = "-" if neg else "+" if "+" in flags else " " if " " in flags else ""
    if width is not None and "0" in flags and "-" not in flags and zero_ok:
        digits = digits.rjust(width - len(sign) - len(prefix), "0")
    return _pad(sign + prefix + digits, flags, width)


def _fmt_one(arg: Any, flags: str, width: int | None, prec: int | None, verb: str) -> str:
    """One ``printf`` verb applied to one argument, as Go's fmt does."""
    if verb == "T" and isinstance(arg, (list, tuple, dict)):
        return _pad(_go_type(arg), flags, width)
    if isinstance(arg, (list, tuple)):  # Go applies the verb to each element
        return "[" + " ".join(_fmt_one(e, flags, width, prec, verb) for e in arg) + "]"
    if isinstance(arg, dict):
        return "map[" + " ".join(
            f"{_fmt_one(k, flags, width, prec, verb)}:{_fmt_one(arg[k], flags, width, prec, verb)}"
            for k in _sorted_keys(arg)) + "]"
    if arg is None or arg is MISSING:
        return _pad("<nil>", flags, width) if verb in "vT" else f"%!{verb}(<nil>)"
    if verb == "T":
        return _pad(_go_type(arg), flags, width)
    bad = f"%!{verb}({_go_type(arg)}={go_str(arg)})"
    if isinstance(arg, bool):
        return _pad(go_str(arg), flags, width) if verb in "vt" else bad
    if isinstance(arg, float) and verb in "dxXob" and arg.is_integer():
        arg = int(arg)  # Python data lose Go's int/float distinction
    if isinstance(arg, int):
        n = abs(arg)
        if verb in "vd":
            d = str(n)
        elif verb in "xXob":
            d = format(n, verb)
            prefix = {"x": "0x", "X": "0X", "o": "0", "b": "0b"}[verb] if "#" in flags else ""
            return _num(arg < 0, prefix, d.rjust(prec or 0, "0"), flags, width, prec is None)
        elif verb == "c":
            return _pad(chr(n), flags, width)
        elif verb == "q":
            return _pad("'" + _go_quote(chr(n))[1:-1].replace("'", "\\'").replace('\\"', '"') + "'", flags, width)
        elif verb == "U":
            return _pad(f"U+{n:04X}", flags, width)
        elif verb in "eEfFgG":
            return _fmt_one(float(arg), flags, width, prec, verb)
        else:
            return bad
        return _num(arg < 0, "", d.rjust(prec or 0, "0"), flags, width, prec is None)
    if isinstance(arg, float):
        if verb not in "veEfFgG":
            return bad
        if math.isnan(arg) or math.isinf(arg):
            s = "NaN" if math.isnan(arg) else "Inf"
            return _num(arg < 0, "", s, flags, width, False) if s == "Inf" else _pad(s, flags, width)
        if verb in "vgG" and prec is None:
            s = _go_float(abs(arg))
            s = s.upper() if verb == "G" else s
        else:
            s = format(abs(arg), f".{6 if prec is None else prec}{verb}")
        return _num(math.copysign(1, arg) < 0, "", s, flags, width)
    if isinstance(arg, str):
        if verb in "sv":
            return _pad(arg if prec is None else arg[:prec], flags, width)
        if verb == "q":
            return _pad(_go_quote(arg), flags, width)
        if verb in "xX":
            h = arg.encode().hex()
            return _pad(h.upper() if verb == "X" else h, flags, width)
        return bad
    return _pad(go_str(arg), flags, width) if verb in "sv" else bad


def _sprintf(fmt: Any, *args: Any) -> str:
    """Go's ``fmt.Sprintf`` for the common verbs, with Go's ``%!`` error marks."""
    fmt = _want_str(fmt)
    out: list[str] = []
    pos = ai = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, prec, verb = m.groups()
        if verb is None:
            out.append("%!(NOVERB)")
            continue
        if verb == "%":
            out.append("%")
            continue
        nums = []
        for spec in (width, prec):
            if spec == "*":
                spec = args[ai] if ai < len(args) and isinstance(args[ai], int) else 0
                ai += 1
            nums.append(int(spec) if spec is not None else None)
        if prec is None and m.group(0).find(".") > 0:
            nums[1] = 0  # "%.f" means precision 0
        if ai >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_fmt_one(args[ai], flags, nums[0], nums[1], verb))
        ai += 1
    out.append(fmt[pos:])
    if ai < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{_go_type(a)}={go_str(a)}" for a in args[ai:]) + ")")
    return "".join(out)


# --------------------------------------------------------------------------- functions


def _want_str(v: Any) -> str:
    if not isinstance(v, str):
        raise _ExecError(f"wrong type for value; expected string; got {_go_type(v) if v is not None else 'nil'}")
    return v


def _want_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _ExecError(f"wrong type for value; expected int; got {_go_type(v)}")
    return v


def _index(item: Any, *keys: Any) -> Any:
    for k in keys:
        if item is None or item is MISSING:
            raise _ExecError("index of untyped nil")
        if isinstance(item, dict):
            if k in item:
                item = item[k]
            else:
                # Go returns the zero value of the map's element type: "" for
                # map[string]string (labels), nil otherwise.
                item = "" if all(isinstance(x, str) for x in item.values()) else None
        elif isinstance(item, (list, tuple, str, bytes)):
            if isinstance(k, bool) or not isinstance(k, int):
                raise _ExecError(f"cannot index slice/array with type {_go_type(k)}")
            seq = item.encode() if isinstance(item, str) else item  # Go indexes bytes
            if not 0 <= k < len(seq):
                raise _ExecError(f"index out of range: {k}")
            item = seq[k]
        else:
            raise _ExecError(f"can't index item of type {_go_type(item)}")
    return item


def _slice(item: Any, *idx: Any) -> Any:
    if not isinstance(item, (list, tuple, str)):
        raise _ExecError(f"can't slice item of type {_go_type(item)}")
    if len(idx) > 2:  # Go's 3-index form only sets capacity, which Python lists lack
        raise _ExecError("too many slice indexes")
    bounds = [_want_int(i) for i in idx]
    lo = bounds[0] if bounds else 0
    hi = bounds[1] if len(bounds) > 1 else len(item)
    if not 0 <= lo <= hi <= len(item):
        raise _ExecError(f"index out of range: {lo}:{hi}")
    return item[lo:hi]


def _len(v: Any) -> int:
    if isinstance(v, str):
        return len(v.encode())  # Go's len counts bytes
    if isinstance(v, (list, tuple, dict, bytes, set)):
        return len(v)
    raise _ExecError(f"len of type {_go_type(v) if v is not None else 'nil'}")


def _basic(v: Any) -> str | None:
    if v is None or v is MISSING:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"  # Go would refuse int vs float; Python data have no such split
    if isinstance(v, str):
        return "string"
    return None


def _eq(a: Any, *bs: Any) -> bool:
    if not bs:
        raise _ExecError("missing argument for comparison")
    ka = _basic(a)
    for b in bs:
        kb = _basic(b)
        if ka is None or kb is None:
            if isinstance(a, (list, dict, set)) or isinstance(b, (list, dict, set)):
                raise _ExecError("non-comparable type")
            if a == b:
                return True
        elif ka == "nil" or kb == "nil":
            if ka == kb:
                return True
        elif ka != kb:
            raise _ExecError("incompatible types for comparison")
        elif a == b:
            return True
    return False


def _lt(a: Any, b: Any) -> bool:
    ka, kb = _basic(a), _basic(b)
    if ka not in ("number", "string") or kb not in ("number", "string"):
        raise _ExecError("invalid type for comparison")
    if ka != kb:
        raise _ExecError("incompatible types for comparison")
    return a < b


def _sprint(*args: Any) -> str:
    """Go's ``fmt.Sprint``: a space between operands when neither is a string."""
    out = []
    prev_str = True
    for i, a in enumerate(args):
        is_str = isinstance(a, str)
        if i and not is_str and not prev_str:
            out.append(" ")
        out.append(go_str(a))
        prev_str = is_str
    return "".join(out)


def _title(s: Any) -> str:
    """Go's ``strings.Title``: upper-case the first letter of each word, keep the rest."""
    return re.sub(r"(?<!\w)\w", lambda m: m.group(0).upper(), _want_str(s))


def _split(s: Any, sep: Any) -> list[str]:
    s, sep = _want_str(s), _want_str(sep)
    return list(s) if sep == "" else s.split(sep)


def _join(items: Any, sep: Any) -> str:
    if not isinstance(items, (list, tuple)):
        raise _ExecError(f"wrong type for value; expected []string; got {_go_type(items)}")
    return _want_str(sep).join(go_str(x) for x in items)


def _truncate(s: Any, n: Any) -> str:
    s, n = _want_str(s), _want_int(n)
    return s if len(s) < n else s[:n]


def _pad_fn(s: Any, prefix: Any, suffix: Any) -> str:
    return " " * _want_int(prefix) + _want_str(s) + " " * _want_int(suffix)


def _html(*args: Any) -> str:
    s = _sprint(*args)
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&#39;").replace('"', "&#34;").replace("\0", "\ufffd"))


def _js(*args: Any) -> str:
    table = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}
    return "".join(table.get(c, c if c.isprintable() else f"\\u{ord(c):04X}") for c in _sprint(*args))


def _urlquery(*args: Any) -> str:
    from urllib.parse import quote_plus

    return quote_plus(_sprint(*args), safe="")


#: name -> (function, least args, most args or None)
_FUNCS: dict[str, tuple[Callable[..., Any] | None, int, int | None]] = {
    "and": (None, 1, None),
    "or": (None, 1, None),
    "not": (lambda v: not _truth(v), 1, 1),
    "index": (_index, 1, None),
    "slice": (_slice, 1, 3),  # arity checked by _slice
    "len": (_len, 1, 1),
    "print": (_sprint, 0, None),
    "println": (lambda *a: " ".join(go_str(x) for x in a) + "\n", 0, None),
    "printf": (_sprintf, 1, None),
    "html": (_html, 0, None),
    "js": (_js, 0, None),
    "urlquery": (_urlquery, 0, None),
    "eq": (_eq, 1, None),
    "ne": (lambda a, b: not _eq(a, b), 2, 2),
    "lt": (_lt, 2, 2),
    "le": (lambda a, b: _lt(a, b) or _eq(a, b), 2, 2),
    "gt": (lambda a, b: not (_lt(a, b) or _eq(a, b)), 2, 2),
    "ge": (lambda a, b: not _lt(a, b), 2, 2),
    # Docker's and Podman's additions (cli/templates/templates.go)
    "json": (go_json, 1, 1),
    "join": (_join, 2, 2),
    "split": (_split, 2, 2),
    "title": (_title, 1, 1),
    "lower": (lambda s: _want_str(s).lower(), 1, 1),
    "upper": (lambda s: _want_str(s).upper(), 1, 1),
    "pad": (_pad_fn, 3, 3),
    "truncate": (_truncate, 2, 2),
}


# --------------------------------------------------------------------------- evaluator


class _State:
    def __init__(self, root: Any) -> None:
        self.vars: list[list[Any]] = [["$", root]]
        self.out: list[str] = []

    def bind(self, name: str, value: Any, assign: bool) -> None:
        if assign:
            for slot in reversed(self.vars):
                if slot[0] == name:
                    slot[1] = value
                    return
        self.vars.append([name, value])

    def lookup(self, name: str) -> Any:
        for n, v in reversed(self.vars):
            if n == name:
                return v
        raise _ExecError(f'undefined variable "{name}"')

    def walk(self, nodes: list, dot: Any) -> None:
        for node in nodes:
            if isinstance(node, str):
                self.out.append(node)
            elif isinstance(node, _Action):
                value = self.eval_pipe(node.pipe, dot)
                if not node.pipe.decl:
                    self.out.append(go_str(value))
            elif isinstance(node, _Branch):
                self.walk_branch(node, dot)
            else:
                raise _BreakLoop() if node.kind == "break" else _ContinueLoop()

    def walk_branch(self, node: _Branch, dot: Any) -> None:
        mark = len(self.vars)
        try:
            value = self.eval_pipe(node.pipe, dot, declare=node.kind != "range")
            if node.kind == "if":
                self.walk(node.body if _truth(value) else node.orelse, dot)
            elif node.kind == "with":
                if _truth(value):
                    self.walk(node.body, value)
                else:
                    self.walk(node.orelse, dot)
            else:
                self.walk_range(node, value, dot)
        finally:
            del self.vars[mark:]

    def walk_range(self, node: _Branch, value: Any, dot: Any) -> None:
        if value is None or value is MISSING:
            pairs: list = []
        elif isinstance(value, dict):
            pairs = [(k, value[k]) for k in _sorted_keys(value)]  # Go ranges maps in key order
        elif isinstance(value, (list, tuple)):
            pairs = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = [(i, i) for i in range(value)]
        elif isinstance(value, (str, bytes, float, bool)) or not hasattr(value, "__iter__"):
            raise _ExecError(f"range can't iterate over {go_str(value)}")
        else:
            pairs = list(enumerate(value))
        if not pairs:
            self.walk(node.orelse, dot)
            return
        decl = node.pipe.decl
        for key, elem in pairs:
            mark = len(self.vars)
            if len(decl) == 1:
                self.bind(decl[0], elem, node.pipe.assign)
            elif len(decl) == 2:
                self.bind(decl[0], key, node.pipe.assign)
                self.bind(decl[1], elem, node.pipe.assign)
            try:
                self.walk(node.body, elem)
            except _ContinueLoop:
                pass
            except _BreakLoop:
                break
            finally:
                del self.vars[mark:]

    def eval_pipe(self, pipe: _Pipe, dot: Any, declare: bool = True) -> Any:
        value: Any = _NOFINAL
        for cmd in pipe.cmds:
            try:
                value = self.eval_cmd(cmd, dot, value)
            except _ExecError as e:
                if not e.located:
                    e.msg, e.located = f"at <{_src(cmd)}>: {e.msg}", True
                raise
        if declare:
            for name in pipe.decl:
                self.bind(name, value, pipe.assign)
        return value

    def eval_cmd(self, cmd: _Cmd, dot: Any, final: Any) -> Any:
        first, rest = cmd.args[0], cmd.args[1:]
        if isinstance(first, _Ident):
            return self.call(first.name, rest, dot, final)
        if isinstance(first, _Field):
            return self.eval_fields(dot, first.names, rest, dot, final, "")
        if isinstance(first, _Var) and first.names:
            return self.eval_fields(self.lookup(first.name), first.names, rest, dot, final, first.name)
        if isinstance(first, _Chain):
            base = self.eval_arg(first.node, dot)
            return self.eval_fields(base, first.names, rest, dot, final, _src(first.node))
        if isinstance(first, _Nil):
            raise _ExecError("nil is not a command")
        if rest or final is not _NOFINAL:
            raise _ExecError(f"can't give argument to non-function {_src(first)}")
        return self.eval_arg(first, dot)

    def eval_arg(self, node: Any, dot: Any) -> Any:
        if isinstance(node, _Dot):
            return dot
        if isinstance(node, _Lit):
            return node.value
        if isinstance(node, _Nil):
            return None
        if isinstance(node, _Field):
            return self.eval_fields(dot, node.names, [], dot, _NOFINAL, "")
        if isinstance(node, _Var):
            return self.eval_fields(self.lookup(node.name), node.names, [], dot, _NOFINAL, node.name)
        if isinstance(node, _Chain):
            return self.eval_fields(self.eval_arg(node.node, dot), node.names, [], dot, _NOFINAL, _src(node.node))
        if isinstance(node, _Pipe):
            return self.eval_pipe(node, dot)
        return self.call(node.name, [], dot, _NOFINAL)  # _Ident: a function called with no arguments

    def eval_fields(self, recv: Any, names: list[str], args: list, dot: Any, final: Any, path: str) -> Any:
        for i, name in enumerate(names):
            last = i == len(names) - 1
            recv = self.eval_field(recv, name, args if last else [], dot, final if last else _NOFINAL,
                                   path + "." + ".".join(names[:i]) if i else path)
        return recv

    def eval_field(self, recv: Any, name: str, args: list, dot: Any, final: Any, path: str) -> Any:
        has_args = bool(args) or final is not _NOFINAL
        if recv is MISSING:
            return MISSING  # Go: a field of a missing map entry is <no value>, not an error
        if recv is None:
            raise _ExecError(f"nil pointer evaluating {path or '.'}.{name}".replace("..", "."))
        if isinstance(recv, dict):
            if has_args:
                raise _ExecError(f"{name} is not a method but has arguments")
            return recv.get(name, MISSING)
        attr = MISSING
        if not name.startswith("_") and not isinstance(recv, (list, tuple, str, bytes, int, float, bool)):
            attr = getattr(recv, name, MISSING)
        if attr is MISSING:
            raise _ExecError(f"can't evaluate field {name} in type {_go_type(recv)}")
        if callable(attr) and not isinstance(attr, type):
            argv = [self.eval_arg(a, dot) for a in args] + ([] if final is _NOFINAL else [final])
            try:
                return attr(*[None if a is MISSING else a for a in argv])
            except Exception as e:  # a user's method; report, never a traceback
                raise _ExecError(f"error calling {name}: {e}") from None
        if has_args:
            raise _ExecError(f"{name} has arguments but cannot be invoked as function")
        return attr

    def call(self, name: str, argnodes: list, dot: Any, final: Any) -> Any:
        fn, least, most = _FUNCS[name]
        count = len(argnodes) + (final is not _NOFINAL)
        if count < least or (most is not None and count > most):
            want = least if least == most else f"at least {least}" if most is None else f"{least}..{most}"
            raise _ExecError(f"wrong number of args for {name}: want {want} got {count}")
        if fn is None:  # and/or evaluate lazily and return the deciding operand
            value = None
            for node in argnodes + ([] if final is _NOFINAL else [_Lit(final)]):
                value = self.eval_arg(node, dot)
                if _truth(value) == (name == "or"):
                    return value
            return value
        argv = [self.eval_arg(a, dot) for a in argnodes] + ([] if final is _NOFINAL else [final])
        argv = [None if a is MISSING else a for a in argv]  # Go passes the zero value
        try:
            return fn(*argv)
        except (_ExecError, _BreakLoop, _ContinueLoop):
            raise
        except Exception as e:  # a bug in a function must still be one line for the user
            raise _ExecError(f"error calling {name}: {e}") from None


# --------------------------------------------------------------------------- API


class Template:
    """A parsed template; parse once, :meth:`render` per row (``docker ps``)."""

    def __init__(self, source: str, docker_escapes: bool = True) -> None:
        """Parse ``source``.

        :param docker_escapes: turn the two characters ``\\n`` and ``\\t`` in the
            text into newline and tab first, as the Docker and Podman CLIs do.
        :raises UsageError: ``template: parsing error: ...``
        """
        self.source = source
        try:
            self._nodes = _Parser(_lex(source, docker_escapes)).parse()
        except _ParseError as e:
            raise UsageError(f"template: parsing error: {e}") from None
        except RecursionError:
            raise UsageError("template: parsing error: template nested too deeply") from None

    def render(self, data: Any) -> str:
        """Execute over ``data`` (``.`` and ``$``) and return the text.

        :raises UsageError: ``template: executing error: at <.X>: ...``
        """
        # Go executes nil data as an invalid value: fields of it are <no value>
        root = MISSING if data is None else data
        state = _State(root)
        try:
            state.walk(self._nodes, root)
        except _ExecError as e:
            raise UsageError(f"template: executing error: {e.msg}") from None
        except RecursionError:
            raise UsageError("template: executing error: data nested too deeply") from None
        return "".join(state.out)


@functools.lru_cache(maxsize=64)
def _cached(source: str, docker_escapes: bool) -> Template:
    return Template(source, docker_escapes)


def render(template: str, data: Any, *, docker_escapes: bool = True) -> str:
    """Render a Go template over ``data``, e.g. ``render("{{.State.Pid}}", info)``.

    No trailing newline is added; the CLI prints one per object like Docker.
    """
    return _cached(template, docker_escapes).render(data)


def split_table(template: str) -> tuple[bool, str]:
    """Docker's ``table`` prefix: ``("table {{.ID}}\\t{{.Names}}")`` -> ``(True, "{{.ID}}\\t{{.Names}}")``.

    Like Docker, any format starting with ``table`` is a table and the rest is
    stripped of surrounding spaces; an empty rest means "the default columns".
    A format without the prefix is returned unchanged.
    """
    if template.startswith("table"):
        return True, template[len("table"):].strip(" ")
    return False, template
