"""Health checks as Docker has them: the configuration, the state machine, the record.

The configuration is Docker's ``Healthcheck`` object (``Test``, durations in
nanoseconds, ``Retries``), from the image's HEALTHCHECK and the ``--health-*``
flags, stored in the container's spec. The state (``Status``,
``FailingStreak``, the last five results in ``Log``) is a row of the
``health`` table, written by each probe in one statement, so that a probe
never overwrites what another process changed in the container's record.

Who runs the probes, and when, is in docs/health.md: the container's watcher
(the Python monitor today, a small scheduler beside conmon) starts
``pyctr healthcheck run`` on the schedule :func:`next_interval` gives; the
probe itself (pyctr.runtime.probe) runs the command inside the container as
``exec`` does and calls :func:`record`.
"""

from __future__ import annotations

import json
import re
import time

from pyctr.core.errors import UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

SECOND = 1_000_000_000
#: Docker's defaults (daemon/health.go)
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_PERIOD = 0
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096
MINIMUM_DURATION = 1_000_000  # 1 ms, Docker's containertypes.MinimumDuration

STARTING, HEALTHY, UNHEALTHY, NONE = "starting", "healthy", "unhealthy", "none"

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": SECOND,
          "m": 60 * SECOND, "h": 3600 * SECOND}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str, what: str) -> int:
    """Go's ``time.ParseDuration`` (``1m30s``, ``500ms``, ``-5s``): nanoseconds."""
    value = text.strip()
    sign = 1
    if value[:1] in "+-" and value:
        sign = -1 if value[0] == "-" else 1
        value = value[1:]
    if value == "0":
        return 0
    total = 0.0
    pos = 0
    for m in _PART.finditer(value):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not value or pos != len(value):
        raise UsageError(f"invalid {what} {text!r}: a duration such as 30s, 1m30s or 500ms")
    return sign * int(round(total))


def format_duration(ns: int) -> str:
    """Nanoseconds as Go prints a duration (``30s``, ``1m30s``, ``500ms``), for messages."""
    if ns % SECOND == 0:
        s = ns // SECOND
        h, rest = divmod(s, 3600)
        m, s = divmod(rest, 60)
        return (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + f"{s}s"
    if ns % 1_000_000 == 0:
        return f"{ns // 1_000_000}ms"
    return f"{ns / SECOND:g}s"


def from_options(o: dict[str, Any], image_check: dict[str, Any] | None) -> dict[str, Any] | None:
    """The container's Healthcheck from the flags and the image's, merged as Docker's daemon does:
    a flag overrides, an unset flag (zero) keeps the image's value. None: no health check."""
    flags = {"health_interval": "Interval", "health_timeout": "Timeout", "health_start_period": "StartPeriod",
             "health_start_interval": "StartInterval"}
    given = {k: o.get(k) for k in (*flags, "health_cmd", "health_retries") if o.get(k) not in (None, "")}
    if o.get("no_healthcheck"):
        if given:
            raise UsageError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    check: dict[str, Any] = {}
    for key, field in flags.items():
        if key in given:
            flag = "--" + key.replace("_", "-")
            ns = parse_duration(str(given[key]), flag)
            if ns < 0:
                raise UsageError(f"{flag} cannot be negative")
            if key != "health_start_period" and ns < MINIMUM_DURATION:
                # (Docker's CLI passes 0 on as "the default"; an explicit zero is a mistake here)
                raise UsageError(f"{flag} must be at least 1ms")
            check[field] = ns
    if "health_retries" in given:
        retries = given["health_retries"]
        if not str(retries).lstrip("-").isdigit():
            raise UsageError(f"invalid --health-retries {retries!r}: not a number")
        if int(retries) < 0:
            raise UsageError("--health-retries cannot be negative")
        check["Retries"] = int(retries)
    if "health_cmd" in given:
        check["Test"] = ["CMD-SHELL", str(given["health_cmd"])]
    if not check:
        return dict(image_check) if image_check else None
    merged = dict(image_check or {})
    merged.update({k: v for k, v in check.items() if v})
    if not merged.get("Test"):
        # flags that tune a check without any command to run, and no HEALTHCHECK in the image
        raise UsageError("--health-* options need a health check: give --health-cmd or use an image with a HEALTHCHECK")
    return merged


def active(check: dict[str, Any] | None) -> bool:
    """Whether the container has a health check to run (``NONE`` switches the image's off)."""
    return bool(check) and bool(check.get("Test")) and check["Test"][0] in ("CMD", "CMD-SHELL")


def command(check: dict[str, Any], shell: list[str] | None = None) -> list[str]:
    """The argv a probe runs: ``CMD`` as given, ``CMD-SHELL`` through the shell."""
    test = check["Test"]
    if test[0] == "CMD-SHELL":
        return (shell or ["/bin/sh", "-c"]) + [" ".join(test[1:])]
    return list(test[1:])


def timings(check: dict[str, Any]) -> tuple[float, float, float, float, int]:
    """(interval, timeout, start period, start interval) in seconds and retries, defaults applied."""
    def sec(key: str, default: int) -> float:
        return (check.get(key) or default) / SECOND

    return (sec("Interval", DEFAULT_INTERVAL), sec("Timeout", DEFAULT_TIMEOUT), sec("StartPeriod", DEFAULT_START_PERIOD),
            sec("StartInterval", DEFAULT_START_INTERVAL), check.get("Retries") or DEFAULT_RETRIES)


def next_interval(check: dict[str, Any], elapsed: float, status: str) -> float:
    """Seconds from the end of one probe to the start of the next (and from the start to the
    first): the start interval while the container is starting within its start period."""
    interval, _, start_period, start_interval, _ = timings(check)
    if elapsed >= start_period or status != STARTING:
        return interval
    return start_interval


def apply_result(state: dict[str, Any], result: dict[str, Any], check: dict[str, Any],
                 started: float) -> dict[str, Any]:
    """The state after one probe ``result`` (Docker's handleProbeResult): the log keeps five,
    a success makes it healthy, ``retries`` failures in a row unhealthy, and failures within
    the start period do not count while it is still starting."""
    _, _, start_period, _, retries = timings(check)
    new = {"Status": state.get("Status", STARTING), "FailingStreak": state.get("FailingStreak", 0),
           "Log": (list(state.get("Log") or []) + [result])[-MAX_LOG_ENTRIES:]}
    if result["ExitCode"] == 0:
        new["FailingStreak"] = 0
        new["Status"] = HEALTHY
    else:
        if new["Status"] == STARTING and result["_start"] - started < start_period:
            return new
        new["FailingStreak"] += 1
        if new["FailingStreak"] >= retries:
            new["Status"] = UNHEALTHY
    return new


# -- the record ---------------------------------------------------------------


def get(db: Any, container_id: str) -> dict[str, Any] | None:
    """The container's health state, or None before its first start."""
    row = db.execute("SELECT status, failing_streak, log FROM health WHERE container_id = ?",
                     (container_id,)).fetchone()
    if row is None:
        return None
    return {"Status": row[0], "FailingStreak": row[1], "Log": json.loads(row[2])}


def reset(db: Any, container_id: str) -> None:
    """A (re)start: starting again, the streak cleared, the log kept (as Docker's initHealthMonitor)."""
    db.execute("INSERT INTO health(container_id, status, failing_streak, log)"
               " SELECT id, ?, 0, '[]' FROM containers WHERE id = ?"  # (a removed container gets no row)
               " ON CONFLICT(container_id) DO UPDATE SET status = excluded.status, failing_streak = 0",
               (STARTING, container_id))


def record(db: Any, container_id: str, result: dict[str, Any], check: dict[str, Any],
           started: float) -> tuple[str, str]:
    """Add one probe's result; (status before, status after). One transaction: two probes
    of one container (a scheduled one and ``healthcheck run``) cannot lose each other's result."""
    from pyctr.core.state import transaction

    with transaction(db):
        state = get(db, container_id) or {"Status": STARTING, "FailingStreak": 0, "Log": []}
        new = apply_result(state, result, check, started)
        log = [{k: v for k, v in entry.items() if not k.startswith("_")} for entry in new["Log"]]
        # a probe that ends after its container was removed (rm -f) records nothing
        db.execute("INSERT INTO health(container_id, status, failing_streak, log)"
                   " SELECT id, ?, ?, ? FROM containers WHERE id = ?"
                   " ON CONFLICT(container_id) DO UPDATE SET status = excluded.status,"
                   " failing_streak = excluded.failing_streak, log = excluded.log",
                   (new["Status"], new["FailingStreak"], json.dumps(log), container_id))
    return state["Status"], new["Status"]


def result(exit_code: int, output: str, start: float, end: float | None = None) -> dict[str, Any]:
    """One probe result as Docker's HealthcheckResult (times as RFC 3339 with nanoseconds)."""
    end = time.time() if end is None else end
    return {"Start": _rfc3339(start), "End": _rfc3339(end), "ExitCode": exit_code, "Output": output,
            "_start": start}


def _rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e9):09d}Z"


def announce(engine: Any, container: Any, status: str) -> None:
    """Docker's ``health_status: STATUS`` event, in the event journal (pyctr.core.events)."""
    try:
        from pyctr.core import events
    except ImportError:  # the journal (issue 17) has not landed in this tree yet
        return
    events.container_event(engine, container, f"health_status: {status}")


def ps_suffix(status: str | None) -> str:
    """What ``ps`` adds to "Up 5 minutes": `` (healthy)``, `` (health: starting)``."""
    if not status or status == NONE:
        return ""
    return " (health: starting)" if status == STARTING else f" ({status})"
