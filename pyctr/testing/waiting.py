"""Polling for a condition in tests: what a container does happens in other processes."""

from __future__ import annotations

import time
from typing import Any, Callable


def until(predicate: Callable[[], Any], timeout: float = 30.0, step: float = 0.1) -> Any:
    """Call ``predicate`` every ``step`` seconds until it returns a truthy value, and return
    that value; fail the test (AssertionError) when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not reached in time")
