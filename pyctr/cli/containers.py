"""Container commands: ``run``, ``create``, ``ps``, ``rm`` (run/create's work is in pyctr.cli.runspec,
ps's in pyctr.cli.reads)."""

from __future__ import annotations

import sys

import click

from pyctr.cli.common import engine
from pyctr.cli.group import with_options
from pyctr.cli.options import CONTAINER_OPTIONS, PS_OPTIONS, RUN_OPTIONS

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


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


@click.command()
@with_options(PS_OPTIONS)
def ps(**options: Any) -> None:
    """List containers."""
    from pyctr.cli import reads

    sys.exit(reads.ps(**options))


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
