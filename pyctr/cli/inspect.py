"""``pyctr inspect``: Docker's JSON for containers and images, with ``--format`` (the work is in
pyctr.cli.reads, which the fast path calls too)."""

from __future__ import annotations

import sys

import click

from pyctr.cli.group import with_options
from pyctr.cli.options import INSPECT_OPTIONS

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


@click.command()
@with_options(INSPECT_OPTIONS)
@click.argument("names", nargs=-1, required=True)
def inspect(**options: Any) -> None:
    """Return low-level information on containers or images."""
    from pyctr.cli import reads

    sys.exit(reads.inspect(**options))
