"""Docker-compatible units: memory sizes, CPU counts, human-readable sizes and durations.

The parsing follows docker's go-units (``RAMInBytes``) and ``opts.NanoCPUs``,
so a value a Docker user types means the same here. Bad values raise
:class:`~pyctr.core.errors.UsageError` with one line.
"""

from __future__ import annotations

from pyctr.core.errors import UsageError

_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_DECIMAL_ABBRS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_ABBRS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def parse_bytes(value: str | int, *, what: str = "size", allow_unlimited: bool = False,
                decimal: bool = False) -> int:
    """Parse ``10m``, ``1g``, ``512k``, ``2GiB``, ``100`` into bytes (binary multiples;
    ``decimal``: powers of 1000 whatever the suffix, as go-units' ``FromHumanSize``,
    which Docker's ``--log-opt max-size`` uses).

    Accepts a number (fractions allowed, as go-units), an optional space, an
    optional unit letter (b k m g t p, any case) and an optional ``b`` or
    ``ib``. ``-1`` is accepted only with ``allow_unlimited`` (``--memory-swap``).
    """
    if isinstance(value, bool):
        raise UsageError(f"invalid {what}: {value!r}")
    if isinstance(value, int):
        if value < 0 and not (allow_unlimited and value == -1):
            raise UsageError(f"invalid {what}: {value}")
        return value
    text = str(value).strip()
    if allow_unlimited and text == "-1":
        return -1
    # go-units splits at the last digit, dot or space: the number is before it
    sep = max(text.rfind(c) for c in "0123456789. ")
    if sep == -1:
        raise UsageError(f"invalid {what}: '{text}'")
    if text[sep] == " ":
        num, sfx = text[:sep], text[sep + 1 :]
    else:
        num, sfx = text[: sep + 1], text[sep + 1 :]
    try:
        size = float(num)
    except ValueError:
        raise UsageError(f"invalid {what}: '{text}'") from None
    if not 0 <= size < float("inf") or num.strip() != num or "_" in num:
        raise UsageError(f"invalid {what}: '{text}'")
    if not sfx:
        return int(size)
    low = sfx.lower()
    if len(low) > 3:
        raise UsageError(f"invalid {what}: '{text}' (unknown unit '{sfx}')")
    if low == "b":
        return int(size)
    mul = (_DECIMAL if decimal else _BINARY).get(low[0])
    if mul is None or (len(low) == 2 and low[1] != "b") or (len(low) == 3 and low[1:] != "ib"):
        raise UsageError(f"invalid {what}: '{text}' (unknown unit '{sfx}')")
    result = int(size * mul)
    if result > (1 << 63) - 1:
        raise UsageError(f"invalid {what}: '{text}' is too large")
    return result


def parse_cpus(value: str | float) -> int:
    """Parse ``--cpus`` (``0.5``, ``1.25``, ``2``) into nano CPUs, exactly as Docker.

    The value is read as a rational number, so ``0.1`` is exact; more than nine
    decimals is "too precise".
    """
    text = str(value).strip()
    try:
        from fractions import Fraction  # only --cpus needs exact decimals

        cpus = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"invalid --cpus value '{text}': not a number") from None
    if cpus < 0:
        raise UsageError(f"invalid --cpus value '{text}': must not be negative")
    nano = cpus * 1_000_000_000
    if nano.denominator != 1:
        raise UsageError(f"invalid --cpus value '{text}': value is too precise")
    return int(nano)


def format_bytes(size: float, *, binary: bool = True) -> str:
    """Format bytes for people as Docker does.

    ``binary=True`` is go-units' ``BytesSize`` (``1.5MiB``, used for memory in
    ``stats``); ``binary=False`` is ``HumanSize`` (``12.3kB``, ``1.05GB``, used
    for block and network I/O and image sizes). Four significant digits, no space.
    """
    base = 1024.0 if binary else 1000.0
    abbrs = _BINARY_ABBRS if binary else _DECIMAL_ABBRS
    size = float(size)
    i = 0
    while size >= base and i < len(abbrs) - 1:
        size /= base
        i += 1
    return f"{size:.4g}{abbrs[i]}"


def human_duration(seconds: float) -> str:
    """go-units' HumanDuration, as Docker prints CREATED and STATUS: "Less than a second",
    "3 minutes", "About an hour", "2 weeks"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = int(seconds / 60)
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = int(seconds / 3600 + 0.5)  # Go: int(d.Hours() + 0.5)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"
