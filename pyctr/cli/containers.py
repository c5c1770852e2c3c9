"""Container commands: ``run``, ``create``, ``ps``, ``rm`` (run/create's work is in pyctr.cli.runspec)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from pyctr.cli.common import ago, emit, engine, human_duration
from pyctr.cli.group import with_options
from pyctr.cli.options import CONTAINER_OPTIONS, RUN_OPTIONS


@click.command(context_settings={"allow_interspersed_args": False})
@with_options(RUN_OPTIONS)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(image: str, command: tuple[str, ...], detach: bool, **options: Any) -> None:
    """Create and run a new container from an image."""
    from pyctr.cli.runspec import run_container

    sys.exit(run_container(image, command, detach, options))


@click.command(context_settings={"allow_interspersed_args": False})
@with_options(CONTAINER_OPTIONS)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def create(image: str, command: tuple[str, ...], **options: Any) -> None:
    """Create a new container without starting it."""
    from pyctr.cli.runspec import create_container

    click.echo(create_container(image, command, options))


def _status_text(c: Any, health: str | None = None) -> str:
    from pyctr.core.lifecycle import is_alive

    if c.status in ("running", "paused"):
        if not is_alive(c.pid, c.runtime.get("starttime")):
            return "Exited (unknown) - pyctr was killed; rm -f or system prune cleans up"
        if c.status == "paused":
            return f"Up {human_duration(time.time() - c.started)} (Paused)"
        suffix = "" if health is None else (" (health: starting)" if health == "starting" else f" ({health})")
        return f"Up {human_duration(time.time() - c.started)}{suffix}"
    if c.status == "restarting":
        return f"Restarting ({c.exit_code}) {ago(c.finished)}"
    if c.status == "exited":
        return f"Exited ({c.exit_code}) {ago(c.finished)}"
    return c.status.capitalize()


@click.command()
@click.option("--all", "-a", "show_all", is_flag=True, help="Show all containers (default shows just running).")
@click.option("--quiet", "-q", is_flag=True, help="Only display container IDs.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("--format", "fmt", help="Go template, or 'json'.")
@click.option("--filter", "-f", "filters", multiple=True, help="Filter output (name=, id=, status=, label=).")
@click.option("--last", "-n", type=int, default=-1, help="Show n last created containers.")
@click.option("--latest", "-l", is_flag=True, help="Show the latest created container.")
def ps(show_all: bool, quiet: bool, no_trunc: bool, fmt: str | None, filters: tuple[str, ...],
       last: int, latest: bool) -> None:
    """List containers."""
    from pyctr.core.container import list_all

    eng = engine()
    containers = list_all(eng.db, eng.config.root)
    if latest:
        last = 1
    if last >= 0:
        containers, show_all = containers[:last], True
    rows = []
    health = {} if not containers else dict(eng.db.execute("SELECT container_id, status FROM health").fetchall())
    for c in containers:
        status = _status_text(c, health.get(c.id))
        running = status.startswith(("Up", "Restarting"))
        if not show_all and not running:
            continue
        state = (c.status if c.status in ("paused", "restarting") else "running") if running else (
            "exited" if c.status in ("running", "paused") else c.status)
        command = " ".join(c.spec.argv)
        if not no_trunc and len(command) > 20:
            command = command[:19] + "…"
        row = {"ID": c.id if no_trunc else c.short_id, "Image": c.spec.image, "Command": f'"{command}"',
               "CreatedAt": c.created, "RunningFor": ago(c.created), "Status": status, "State": state,
               "Ports": _ports(eng, c) if running else "", "Names": c.name, "Labels": c.spec.labels,
               "Networks": c.drivers.get("network", "")}
        if _ps_match(row, c, filters, health.get(c.id) or "none"):
            rows.append(row)
    emit(rows, fmt, [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"), ("CREATED", "RunningFor"),
                     ("STATUS", "Status"), ("PORTS", "Ports"), ("NAMES", "Names")], quiet=quiet, headers=PS_HEADERS)


#: Docker's header names for the fields a ``table`` template of ``ps`` may use
PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
              "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
              "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
              "LocalVolumes": "LOCAL VOLUMES"}


def _ports(eng: Any, c: Any) -> str:
    """Docker's PORTS: published mappings and exposed ports; the network driver is asked only
    when the container has any (ps stays free of driver imports otherwise)."""
    net = c.spec.network or {}
    if not (net.get("ports") or net.get("publish_all") or net.get("expose")):
        return ""
    from pyctr.cli.ports import displayable, of_container

    mappings: list = []
    if net.get("ports") or net.get("publish_all"):
        try:
            driver = eng.network_for(c)
            mappings = driver.ports(c.id) if hasattr(driver, "ports") else []
        except Exception:  # a driver that cannot answer leaves the column short, never breaks ps
            mappings = []
    return displayable(of_container(mappings, list(net.get("expose") or [])))


def _ps_match(row: dict, c: Any, filters: tuple[str, ...], health: str = "none") -> bool:
    from pyctr.core.errors import UsageError

    for f in filters:
        key, _, value = f.partition("=")
        if key == "name" and value not in c.name:
            return False
        if key == "id" and not c.id.startswith(value):
            return False
        if key == "status" and row["State"] != value:
            return False
        if key == "label":
            k, _, v = value.partition("=")
            if k not in c.spec.labels or (v and c.spec.labels[k] != v):
                return False
        if key == "ancestor" and value not in (c.spec.image, c.image_id):
            return False
        if key == "health":
            if value not in ("starting", "healthy", "unhealthy", "none"):
                raise UsageError(f"invalid filter 'health={value}': starting, healthy, unhealthy or none")
            if health != value:
                return False
        if key not in ("name", "id", "status", "label", "ancestor", "health"):
            raise UsageError(f"invalid filter {key!r}")
    return True


@click.command()
@click.option("--force", "-f", is_flag=True, help="Force the removal of a running container (uses SIGKILL).")
@click.option("--volumes", "-v", is_flag=True, help="Remove anonymous volumes associated with the container.")
@click.argument("containers", nargs=-1, required=True)
def rm(force: bool, volumes: bool, containers: tuple[str, ...]) -> None:
    """Remove one or more containers."""
    from pyctr.core import lifecycle
    from pyctr.core.container import lookup
    from pyctr.core.errors import PyctrError

    eng = engine()
    failed = 0
    for ref in containers:
        try:
            container = lookup(eng.db, eng.config.root, ref)
            lifecycle.remove(eng, container, force=force, volumes=volumes)
            click.echo(ref)
        except PyctrError as e:
            click.echo(f"Error: {e}", err=True)
            failed = 1
    if failed:
        sys.exit(1)
