"""``pyctr events``: the journal of changes (pyctr.core.events), as ``docker events`` prints it."""

from __future__ import annotations

import json
import sys
import time

import click

from pyctr.cli.common import engine, render
from pyctr.core.errors import UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


def _line(event: dict[str, Any]) -> str:
    """Docker's line: ``2024-01-02T03:04:05.123456789Z container start ID (image=busybox, name=web)``."""
    ns = event.get("timeNano", 0)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"
    actor = event.get("Actor") or {}
    attrs = ", ".join(f"{k}={v}" for k, v in sorted((actor.get("Attributes") or {}).items()))
    return f"{stamp} {event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}" + (f" ({attrs})" if attrs else "")


@click.command()
@click.option("--since", help="Show events created since a timestamp or relative time (e.g. 10m).")
@click.option("--until", help="Stream events until this timestamp or relative time.")
@click.option("--filter", "-f", "filters", multiple=True, help="Filter output (type=, event=, container=, label=, ...).")
@click.option("--format", "fmt", help="Go template, or 'json'.")
def events(since: str | None, until: str | None, filters: tuple[str, ...], fmt: str | None) -> None:
    """Get real time events from pyctr (every change, from any front end)."""
    from pyctr.cli.logs import parse_since
    from pyctr.core import events as journal

    wanted: dict[str, list[str]] = {}
    for f in filters:
        key, eq, value = f.partition("=")
        if not eq or key not in journal.FILTER_KEYS:
            raise UsageError(f"invalid filter {f!r}")
        wanted.setdefault(key, []).append(value)
    start, end = parse_since(since), parse_since(until)
    runroot = engine().config.runroot

    def show(event: dict[str, Any]) -> None:
        if not journal.matches(event, wanted):
            return
        if fmt == "json" or fmt == "{{json .}}":
            click.echo(json.dumps(event))
        elif fmt:
            click.echo(render(fmt, event))
        else:
            click.echo(_line(event))
        sys.stdout.flush()

    follower = journal.Follower(runroot)
    last = 0
    if start is not None:
        for event in journal.read(runroot, start, end):
            show(event)
            last = event.get("timeNano", last)
    try:
        while end is None or time.time() <= end:
            for event in follower.poll():
                if event.get("timeNano", 0) > last and (end is None or event.get("timeNano", 0) / 1e9 <= end):
                    show(event)
            time.sleep(0.1)
    finally:
        follower.close()
