"""``pyctr inspect``: Docker's JSON for containers and images, with ``--format``."""

from __future__ import annotations

import json
import sys

import click

from pyctr.cli.common import engine, render
from pyctr.core.inspection import container_json
from pyctr.images.inspection import image_json
from pyctr.images.store import image_store


@click.command()
@click.option("--format", "-f", "fmt", help="Go template for each object.")
@click.option("--type", "kind", type=click.Choice(["container", "image"]), help="Only look for this kind of object.")
@click.option("--size", "-s", is_flag=True, help="Display total file sizes (containers).")
@click.argument("names", nargs=-1, required=True)
def inspect(fmt: str | None, kind: str | None, size: bool, names: tuple[str, ...]) -> None:
    """Return low-level information on containers or images."""
    from pyctr.core.container import lookup
    from pyctr.core.errors import NotFound

    eng = engine()
    results, missing = [], []
    for name in names:
        obj = None
        if kind in (None, "container"):
            try:
                obj = container_json(eng, lookup(eng.db, eng.config.root, name))
            except NotFound:
                obj = None
        if obj is None and kind in (None, "image"):
            try:
                obj = image_json(eng, image_store(eng).resolve(name))
            except NotFound:
                obj = None
        if obj is None:
            missing.append(name)
        else:
            results.append(obj)
    if fmt:
        for obj in results:
            click.echo(render(fmt, obj))
    else:
        click.echo(json.dumps(results, indent=4))
    for name in missing:
        click.echo(f"Error: no such object: {name}", err=True)
    if missing:
        sys.exit(1)
