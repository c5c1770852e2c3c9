"""Image configs as a build writes them: timestamps, the stored bytes, short ids."""

from __future__ import annotations

import json
import time

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


def now(epoch: int | None) -> str:
    """An RFC 3339 timestamp: SOURCE_DATE_EPOCH's when given (whole seconds), else the present."""
    if epoch is not None:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def config_bytes(config: dict[str, Any]) -> bytes:
    """The image config as stored: its digest is the image id."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def short_id(config: dict[str, Any]) -> str:
    """The 12 hex digits a step line shows for the state after it."""
    from hashlib import sha256

    return sha256(config_bytes(config)).hexdigest()[:12]
