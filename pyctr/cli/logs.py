"""``pyctr logs``: the json-file log a container's monitor writes, Docker's format."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import IO, Any

import click

from pyctr.cli.common import engine
from pyctr.core.errors import UsageError


def parse_since(value: str | None) -> float | None:
    """Docker's --since/--until: a Unix timestamp, RFC 3339, or a duration (10m, 1h30m)."""
    if not value:
        return None
    import datetime
    import re

    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", value)
    if m and any(m.groups()):
        h, mi, s = (int(x or 0) for x in m.groups())
        return time.time() - (h * 3600 + mi * 60 + s)
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise UsageError(f"invalid time value {value!r}: use a timestamp, RFC 3339 or a duration like 10m") from None


def _entry_time(text: str) -> float:
    import datetime

    base, _, frac = text.rstrip("Z").partition(".")
    ts = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC).timestamp()
    return ts + float("0." + frac) if frac else ts


def _emit(entry: dict[str, Any], timestamps: bool) -> None:
    stream = sys.stdout if entry.get("stream") == "stdout" else sys.stderr
    line = entry.get("log", "")
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
@click.argument("container")
def logs(follow: bool, tail: str, since: str | None, until: str | None, timestamps: bool, container: str) -> None:
    """Fetch the logs of a container."""
    from pyctr.core.container import lookup
    from pyctr.core.lifecycle import wait_stopped

    eng = engine()
    c = lookup(eng.db, eng.config.root, container)
    if c.spec.log_driver == "none":
        raise UsageError('configured logging driver does not support reading ("none")')
    if tail != "all" and not tail.isdigit():
        raise UsageError(f"invalid --tail value {tail!r}: a number or all")
    start, end = parse_since(since), parse_since(until)
    path = c.dir / f"{c.id}-json.log"
    try:
        f: IO[str] = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        if not follow:
            return
        f = None  # type: ignore[assignment]
    entries = []
    if f is not None:
        for line in f:
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
    if tail != "all":
        entries = entries[-int(tail):] if int(tail) else []
    for e in entries:
        t = _entry_time(e.get("time", "1970-01-01T00:00:00Z"))
        if (start is None or t >= start) and (end is None or t <= end):
            _emit(e, timestamps)
    if not follow:
        return
    # follow until the container stops and the file stops growing
    while True:
        if f is None and os.path.exists(path):
            f = open(path, encoding="utf-8", errors="replace")
        line = f.readline() if f is not None else ""
        if line:
            try:
                _emit(json.loads(line), timestamps)
            except ValueError:
                pass
            continue
        current = wait_stopped(eng, c.id, timeout=0)
        if current is None or current.status not in ("running", "paused"):
            if f is not None:
                for rest in f:
                    try:
                        _emit(json.loads(rest), timestamps)
                    except ValueError:
                        pass
            return
        time.sleep(0.1)
