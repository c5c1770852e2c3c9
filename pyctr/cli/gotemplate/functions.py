"""The functions a template may call: Go's builtins (``printf`` as Go's ``fmt.Sprintf``) and
Docker's and Podman's additions (``json``, ``join``, ``split``, ``upper``, ``lower``, ``title``,
``pad``, ``truncate``), in :data:`FUNCS`."""

from __future__ import annotations

import math
import re

from pyctr.cli.gotemplate.values import (MISSING, ExecError, go_float, go_json, go_quote, go_str, go_type,
                                         sorted_keys, truth)

TYPE_CHECKING = False  # (typing's import costs ~3 ms; annotations are strings here)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

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
        return _pad(go_type(arg), flags, width)
    if isinstance(arg, (list, tuple)):  # Go applies the verb to each element
        return "[" + " ".join(_fmt_one(e, flags, width, prec, verb) for e in arg) + "]"
    if isinstance(arg, dict):
        return "map[" + " ".join(
            f"{_fmt_one(k, flags, width, prec, verb)}:{_fmt_one(arg[k], flags, width, prec, verb)}"
            for k in sorted_keys(arg)) + "]"
    if arg is None or arg is MISSING:
        return _pad("<nil>", flags, width) if verb in "vT" else f"%!{verb}(<nil>)"
    if verb == "T":
        return _pad(go_type(arg), flags, width)
    bad = f"%!{verb}({go_type(arg)}={go_str(arg)})"
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
            return _pad("'" + go_quote(chr(n))[1:-1].replace("'", "\\'").replace('\\"', '"') + "'", flags, width)
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
            s = go_float(abs(arg))
            s = s.upper() if verb == "G" else s
        else:
            s = format(abs(arg), f".{6 if prec is None else prec}{verb}")
        return _num(math.copysign(1, arg) < 0, "", s, flags, width)
    if isinstance(arg, str):
        if verb in "sv":
            return _pad(arg if prec is None else arg[:prec], flags, width)
        if verb == "q":
            return _pad(go_quote(arg), flags, width)
        if verb in "xX":
            h = arg.encode().hex()
            return _pad(h.upper() if verb == "X" else h, flags, width)
        return bad
    return _pad(go_str(arg), flags, width) if verb in "sv" else bad


def sprintf(fmt: Any, *args: Any) -> str:
    """Go's ``fmt.Sprintf`` for the common verbs, with Go's ``%!`` error marks."""
    fmt = want_str(fmt)
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
        out.append("%!(EXTRA " + ", ".join(f"{go_type(a)}={go_str(a)}" for a in args[ai:]) + ")")
    return "".join(out)


def want_str(v: Any) -> str:
    if not isinstance(v, str):
        raise ExecError(f"wrong type for value; expected string; got {go_type(v) if v is not None else 'nil'}")
    return v


def _want_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ExecError(f"wrong type for value; expected int; got {go_type(v)}")
    return v


def _index(item: Any, *keys: Any) -> Any:
    for k in keys:
        if item is None or item is MISSING:
            raise ExecError("index of untyped nil")
        if isinstance(item, dict):
            if k in item:
                item = item[k]
            else:
                # Go returns the zero value of the map's element type: "" for
                # map[string]string (labels), nil otherwise.
                item = "" if all(isinstance(x, str) for x in item.values()) else None
        elif isinstance(item, (list, tuple, str, bytes)):
            if isinstance(k, bool) or not isinstance(k, int):
                raise ExecError(f"cannot index slice/array with type {go_type(k)}")
            seq = item.encode() if isinstance(item, str) else item  # Go indexes bytes
            if not 0 <= k < len(seq):
                raise ExecError(f"index out of range: {k}")
            item = seq[k]
        else:
            raise ExecError(f"can't index item of type {go_type(item)}")
    return item


def _slice(item: Any, *idx: Any) -> Any:
    if not isinstance(item, (list, tuple, str)):
        raise ExecError(f"can't slice item of type {go_type(item)}")
    if len(idx) > 2:  # Go's 3-index form only sets capacity, which Python lists lack
        raise ExecError("too many slice indexes")
    bounds = [_want_int(i) for i in idx]
    lo = bounds[0] if bounds else 0
    hi = bounds[1] if len(bounds) > 1 else len(item)
    if not 0 <= lo <= hi <= len(item):
        raise ExecError(f"index out of range: {lo}:{hi}")
    return item[lo:hi]


def _len(v: Any) -> int:
    if isinstance(v, str):
        return len(v.encode())  # Go's len counts bytes
    if isinstance(v, (list, tuple, dict, bytes, set)):
        return len(v)
    raise ExecError(f"len of type {go_type(v) if v is not None else 'nil'}")


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
        raise ExecError("missing argument for comparison")
    ka = _basic(a)
    for b in bs:
        kb = _basic(b)
        if ka is None or kb is None:
            if isinstance(a, (list, dict, set)) or isinstance(b, (list, dict, set)):
                raise ExecError("non-comparable type")
            if a == b:
                return True
        elif ka == "nil" or kb == "nil":
            if ka == kb:
                return True
        elif ka != kb:
            raise ExecError("incompatible types for comparison")
        elif a == b:
            return True
    return False


def _lt(a: Any, b: Any) -> bool:
    ka, kb = _basic(a), _basic(b)
    if ka not in ("number", "string") or kb not in ("number", "string"):
        raise ExecError("invalid type for comparison")
    if ka != kb:
        raise ExecError("incompatible types for comparison")
    return a < b


def sprint(*args: Any) -> str:
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
    return re.sub(r"(?<!\w)\w", lambda m: m.group(0).upper(), want_str(s))


def _split(s: Any, sep: Any) -> list[str]:
    s, sep = want_str(s), want_str(sep)
    return list(s) if sep == "" else s.split(sep)


def _join(items: Any, sep: Any) -> str:
    if not isinstance(items, (list, tuple)):
        raise ExecError(f"wrong type for value; expected []string; got {go_type(items)}")
    return want_str(sep).join(go_str(x) for x in items)


def _truncate(s: Any, n: Any) -> str:
    s, n = want_str(s), _want_int(n)
    return s if len(s) < n else s[:n]


def _pad_fn(s: Any, prefix: Any, suffix: Any) -> str:
    return " " * _want_int(prefix) + want_str(s) + " " * _want_int(suffix)


def _html(*args: Any) -> str:
    s = sprint(*args)
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&#39;").replace('"', "&#34;").replace("\0", "\ufffd"))


def _js(*args: Any) -> str:
    table = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}
    return "".join(table.get(c, c if c.isprintable() else f"\\u{ord(c):04X}") for c in sprint(*args))


def _urlquery(*args: Any) -> str:
    from urllib.parse import quote_plus

    return quote_plus(sprint(*args), safe="")


#: name -> (function, least args, most args or None)
FUNCS: dict[str, tuple[Callable[..., Any] | None, int, int | None]] = {
    "and": (None, 1, None),
    "or": (None, 1, None),
    "not": (lambda v: not truth(v), 1, 1),
    "index": (_index, 1, None),
    "slice": (_slice, 1, 3),  # arity checked by _slice
    "len": (_len, 1, 1),
    "print": (sprint, 0, None),
    "println": (lambda *a: " ".join(go_str(x) for x in a) + "\n", 0, None),
    "printf": (sprintf, 1, None),
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
    "lower": (lambda s: want_str(s).lower(), 1, 1),
    "upper": (lambda s: want_str(s).upper(), 1, 1),
    "pad": (_pad_fn, 3, 3),
    "truncate": (_truncate, 2, 2),
}
