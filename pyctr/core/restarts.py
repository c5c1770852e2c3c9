"""Restart policies and Docker's back-off, as pure functions.

Docker's restart manager waits 100 ms before the first restart, doubles the
wait after each one up to a minute, and starts again from 100 ms once the
container had run for ten seconds. pyctr has no daemon to hold that timer:
the delay is recorded with the container (``runtime["restart_delay"]``) by
the process that handles the exit (``pyctr internal-finish``), which waits
it out as a small process and then starts the container again, unless a
``stop`` came first (see docs/restart.md).
"""

from __future__ import annotations

import os
import signal

from pyctr.core.errors import UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

FIRST_DELAY = 0.1  # seconds
MAX_DELAY = 60.0
MULTIPLIER = 2
RESET_AFTER = 10.0  # seconds of running that reset the back-off

POLICIES = ("no", "on-failure", "always", "unless-stopped")


def parse_policy(text: str) -> tuple[str, int]:
    """``no``, ``on-failure[:N]``, ``always``, ``unless-stopped`` -> (name, max retries or 0)."""
    name, sep, count = text.partition(":")
    if name not in POLICIES or (sep and (name != "on-failure" or not count.isdigit())):
        raise UsageError(f"invalid restart policy {text!r}: no, on-failure[:N], always or unless-stopped")
    return name, int(count) if count else 0


def next_delay(previous: float, ran_for: float) -> float:
    """The wait before the next restart, given the last one's and how long the container ran."""
    if ran_for >= RESET_AFTER or previous <= 0:
        return FIRST_DELAY
    return min(previous * MULTIPLIER, MAX_DELAY)


def should_restart(policy: str, exit_code: int, manually_stopped: bool, restart_count: int) -> bool:
    """Whether a container that exited on its own is started again (a ``stop`` ends every policy)."""
    name, limit = parse_policy(policy)
    if manually_stopped or name == "no":
        return False
    if name == "on-failure":
        return exit_code != 0 and (limit == 0 or restart_count < limit)
    return True


def should_start_at_boot(policy: str, exit_code: int, manually_stopped: bool, restart_count: int) -> bool:
    """After a reboot or a service restart, as Docker's daemon does when it starts: ``always``
    even after a ``stop``, ``unless-stopped`` unless stopped, ``on-failure`` after a failure."""
    name, limit = parse_policy(policy)
    if name == "always":
        return True
    if name == "unless-stopped":
        return not manually_stopped
    if name == "on-failure":
        return not manually_stopped and exit_code != 0 and (limit == 0 or restart_count < limit)
    return False


def cancel(engine: Any, container: Any) -> bool:
    """``stop`` (or ``rm -f``) of a restarting container: no restart after all, it is exited and
    its sleeper (the process waiting out the back-off) is killed. False if it was not restarting."""
    from pyctr.core.state import transaction

    if container.status != "restarting":
        return False
    container.runtime["stopped_by_user"] = True
    container.status = "exited"
    with transaction(engine.db):
        container.save(engine.db)
    sleeper = container.runtime.get("monitor", 0)
    if sleeper and is_sleeper(sleeper, container.id):
        try:
            os.kill(sleeper, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return True


def is_sleeper(pid: int, container_id: str) -> bool:
    """Whether ``pid`` is this container's sleeper (its command line names it: a pid can be reused)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return False
    return b"internal-restart" in args and container_id.encode() in args


def manual_start(engine: Any, container: Any) -> None:
    """``start``/``restart`` by hand: the restart count and the back-off begin again (Docker resets
    its restart manager then); a restart still waited for is dropped."""
    from pyctr.core.state import transaction

    cancel(engine, container)
    for key in ("restart_count", "restart_delay"):
        container.runtime.pop(key, None)
    with transaction(engine.db):
        container.save(engine.db)

