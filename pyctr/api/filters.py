"""Docker's ``filters`` query parameter, in both encodings clients send.

The CLI sends ``{"label": {"a=b": true}}``, docker-py ``{"label": ["a=b"]}``.
The values of one key are alternatives (any may match) except ``label``,
whose values must all match (compose lists several); the keys must all match.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from pyctr.api.errors import ApiError


def parse(text: str | None) -> dict[str, list[str]]:
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except ValueError:
        raise ApiError(400, f"invalid filters: {text!r} is not JSON") from None
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid filters: want a JSON object")
    out: dict[str, list[str]] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            out[key] = [str(k) for k, on in value.items() if on]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        elif isinstance(value, str):
            out[key] = [value]
        else:
            raise ApiError(400, f"invalid filter {key!r}: want a list of strings")
    return out


def check(filters: dict[str, list[str]], allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    for key in filters:
        if key not in allowed:
            raise ApiError(400, f"invalid filter '{key}'")


def labels_match(wanted: list[str], labels: dict[str, str]) -> bool:
    """Every ``key`` or ``key=value`` in ``wanted`` holds."""
    for item in wanted:
        key, eq, value = item.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def matches(filters: dict[str, list[str]], tests: dict[str, Callable[[str], bool]], labels: dict[str, str]) -> bool:
    """Whether one object passes: ``tests`` maps a key to a test of one value."""
    for key, values in filters.items():
        if not values:
            continue
        if key == "label":
            if not labels_match(values, labels):
                return False
        elif key in tests and not any(tests[key](v) for v in values):
            return False
    return True


def truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes")
