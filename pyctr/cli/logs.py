"""``pyctr logs``: the json-file log a container's monitor writes, Docker's format,
read across its rotated files (pyctr.runtime.logfiles)."""

from __future__ import annotations

import sys
import time
import click

from pyctr.cli.common import engine
from pyctr.core.errors import UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


def parse_since(value: str | None) -> float | None:
    """Docker's --since/--until: a Unix timestamp, RFC 3339, or a duration (10m, 1h30m)."""
    if not value:
        return None
    import datetime
    import re

    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    from pyctr.runtime.logfiles import rfc3339

    exact = rfc3339(value)
    if exact is not None:
        return exact
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", value)
    if m and any(m.groups()):
        h, mi, s = (int(x or 0) for x in m.groups())
        return time.time() - (h * 3600 + mi * 60 + s)
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise UsageError(f"invalid time value {value!r}: use a timestamp, RFC 3339 or a duration like 10m") from None


def _details(entry: dict[str, Any]) -> str:
    """Docker's ``--details`` prefix: the entry's attributes as k=v,k=v (query-escaped), then a space."""
    from urllib.parse import quote_plus

    attrs = entry.get("attrs") or {}
    return ",".join(f"{quote_plus(k)}={quote_plus(str(attrs[k]))}" for k in sorted(attrs)) + " "


def _emit(entry: dict[str, Any], timestamps: bool, details: bool) -> None:
    stream = sys.stdout if entry.get("stream") == "stdout" else sys.stderr
    line = entry.get("log", "")
    if details:
        line = _details(entry) + line
    if timestamps:
        line = f"{entry.get('time', '')} {line}"
    stream.write(line)
    stream.flush()


@click.command()
@click.option("--follow", "-f", is_flag=True, help="Follow log output.")
@click.option("--tail", "-n", default="all", help='Number of lines to show from the end ("all").')
@click.option("--since", help="Show logs since a timestamp or relative time (e.g. 42m).")
@click.option("--until", help="Show logs before a timestamp or relative time.")
@click.option("--timestamps", "-t", is_flag=True, help="Show timestamps.")
@click.option("--details", is_flag=True, help="Show extra details provided to logs (--log-opt labels, env, tag).")
@click.argument("container")
def logs(follow: bool, tail: str, since: str | None, until: str | None, timestamps: bool, details: bool,
         container: str) -> None:
    """Fetch the logs of a container."""
    from pyctr.core.lifecycle import wait_stopped
    from pyctr.core.container import lookup
    from pyctr.runtime import logfiles

    eng = engine()
    c = lookup(eng.db, eng.config.root, container)
    if c.spec.log_driver == "none":
        raise UsageError('configured logging driver does not support reading ("none")')
    if tail != "all" and not tail.isdigit():
        raise UsageError(f"invalid --tail value {tail!r}: a number or all")
    start, end = parse_since(since), parse_since(until)
    path = str(c.dir / f"{c.id}-json.log")
    entries, current = logfiles.read(path, None if tail == "all" else int(tail))

    def wanted(e: dict[str, Any]) -> bool:
        if start is None and end is None:
            return True
        t = logfiles.entry_time(e)
        return (start is None or t >= start) and (end is None or t <= end)

    for e in entries:
        if wanted(e):
            _emit(e, timestamps, details)
    if not follow or (end is not None and end <= time.time()):
        if current is not None:
            current.close()
        return

    def running() -> bool:
        now = wait_stopped(eng, c.id, timeout=0)
        if end is not None and time.time() > end:
            return False
        return now is not None and now.status in ("running", "paused", "restarting")

    for e in logfiles.follow(path, current, running):
        if end is not None and logfiles.entry_time(e) > end:
            return
        if wanted(e):
            _emit(e, timestamps, details)
