"""``pyctr healthcheck run``: one health probe now, recorded like the scheduled ones
(which the container's watcher starts with this same command; see docs/health.md)."""

from __future__ import annotations

import sys

import click

from pyctr.cli.common import engine
from pyctr.core.errors import Conflict, UsageError


@click.group(name="healthcheck")
def healthcheck_group() -> None:
    """Run health checks."""


@healthcheck_group.command(name="run")
@click.argument("container")
def run_check(container: str) -> None:
    """Run the container's health check once: exit 0 when healthy, 1 when not (prints "unhealthy")."""
    from pyctr.core import health
    from pyctr.core.container import lookup
    from pyctr.core.lifecycle import is_alive
    from pyctr.runtime import probe

    eng = engine()
    c = lookup(eng.db, eng.config.root, container)
    if not health.active(c.spec.healthcheck):
        raise UsageError(f"container {c.name} has no defined healthcheck")
    if c.status != "running" or not is_alive(c.pid, c.runtime.get("starttime")):
        raise Conflict(f"container {c.name} is not running")
    result = probe.run(eng, c)
    before, after = health.record(eng.db, c.id, result, c.spec.healthcheck, c.started)
    if before != after:
        health.announce(eng, c, after)
    if after == health.UNHEALTHY or result["ExitCode"] != 0:
        click.echo("unhealthy")
        sys.exit(1)
