"""Go's view of Python values: truth, type names, ``fmt``'s ``%v`` (:func:`go_str`), Docker's
``json`` (:func:`go_json`), and the two things every later stage shares: :data:`MISSING` (a
map key that is not there) and :class:`ExecError` (an execution error)."""

from __future__ import annotations

import math

TYPE_CHECKING = False  # (typing's import costs ~3 ms; annotations are strings here)
if TYPE_CHECKING:
    from typing import Any


class _Missing:
    """A map key that is not there; Go prints it as ``<no value>``."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()


class ExecError(Exception):
    """An execution error; ``render`` turns it into a UsageError."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg
        self.located = False


def truth(v: Any) -> bool:
    """Go's truth: false, 0, nil and empty string/list/map are false; structs true."""
    if v is None or v is MISSING:
        return False
    if isinstance(v, (bool, int, float, str, bytes, list, tuple, dict, set)):
        return bool(v)
    return True


def go_type(v: Any) -> str:
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


def sorted_keys(d: dict) -> list:
    try:
        return sorted(d)
    except TypeError:  # mixed key types: Go sorts by type first
        return sorted(d, key=lambda k: (type(k).__name__, str(k)))


def digits(f: float) -> tuple[str, int]:
    """Shortest round-trip digits of ``abs(f)`` and the decimal point position."""
    from decimal import Decimal

    if f == 0:
        return "0", 1
    _, dig, exp = Decimal(repr(abs(f))).as_tuple()
    s = "".join(map(str, dig)).rstrip("0") or "0"
    return s, len(dig) + exp


def e_form(d: str, dp: int, min_exp_digits: int = 2) -> str:
    exp = dp - 1
    mant = d[0] + ("." + d[1:] if len(d) > 1 else "")
    return f"{mant}e{'-' if exp < 0 else '+'}{abs(exp):0{min_exp_digits}d}"


def f_form(d: str, dp: int) -> str:
    if dp <= 0:
        return "0." + "0" * -dp + d
    if dp >= len(d):
        return d + "0" * (dp - len(d))
    return d[:dp] + "." + d[dp:]


def go_float(f: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, exponent form below 1e-4 and from 1e6 up."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    d, dp = digits(f)
    sign = "-" if math.copysign(1, f) < 0 else ""
    exp = dp - 1
    # strconv's 'g' with shortest precision decides with precision 6: 1e+06
    return sign + (e_form(d, dp) if exp < -4 or exp >= 6 else f_form(d, dp))


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
        return go_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray)):
        return "[" + " ".join(str(b) for b in v) + "]"
    if isinstance(v, (list, tuple, set, frozenset)):
        return "[" + " ".join(go_str(e) for e in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{go_str(k)}:{go_str(v[k])}" for k in sorted_keys(v)) + "]"
    names = _struct_fields(v)
    if names is not None:  # a Go struct's {a b}
        return "{" + " ".join(go_str(getattr(v, f)) for f in names) + "}"
    return str(v)


def go_quote(s: str) -> str:
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
            raise ExecError(f"json: unsupported value: {go_float(v)}")
        if v == 0:
            return "-0" if math.copysign(1, v) < 0 else "0"
        d, dp = digits(v)
        sign = "-" if v < 0 else ""
        if 1e-6 <= abs(v) < 1e21:
            return sign + f_form(d, dp)
        return sign + e_form(d, dp, 1)
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
