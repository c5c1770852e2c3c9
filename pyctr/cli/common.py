"""Helpers shared by the click command modules: the engine, several objects at once, and
(re-exported from pyctr.cli.output, which the fast path uses without click) tables,
templates, sizes and times."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

import click

from pyctr.cli import settings
from pyctr.cli.output import ago, bytes_size, emit, human_duration, human_size, render, table  # noqa: F401

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

__all__ = ["ago", "bytes_size", "each", "emit", "engine", "human_duration", "human_size", "render", "table"]


def engine():  # noqa: ANN201
    """The Engine of the current command (built on first use)."""
    return settings.engine()


def each(refs: Iterable[str], action: Callable[[str], Any], *, echo: bool = True,
         prefix: str = "Error: ") -> None:
    """Docker's commands on several objects: ``action(ref)`` for every ref, printing
    the ref when ``echo``; a failure is reported and the rest still run; exit 1 at the end."""
    from pyctr.core.errors import PyctrError

    failed = False
    for ref in refs:
        try:
            action(ref)
            if echo:
                click.echo(ref)
        except PyctrError as e:
            click.echo(f"{prefix}{e}", err=True)
            failed = True
    if failed:
        sys.exit(1)
