"""Image commands: ``import``, ``images`` (its work is in pyctr.cli.reads)."""

from __future__ import annotations

import sys

import click

from pyctr.cli.common import engine
from pyctr.cli.group import with_options
from pyctr.cli.options import IMAGES_OPTIONS

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


@click.command(name="import")
@click.option("--change", "-c", "changes", multiple=True, help="Apply a Dockerfile instruction (CMD, ENV, ...).")
@click.option("--message", "-m", default="", help="Commit message for the image's history.")
@click.option("--platform", default=None, metavar="OS/ARCH[/VARIANT]", envvar="DOCKER_DEFAULT_PLATFORM",
              help="Platform the image is for (default: this host's).")
@click.argument("source")
@click.argument("repository", required=False)
def import_cmd(changes: tuple[str, ...], message: str, platform: str | None, source: str,
               repository: str | None) -> None:
    """Make a one-layer image from a rootfs tarball (file or -) or directory."""
    from pyctr.build.instructions import apply_changes
    from pyctr.images.platforms import normalize

    config = apply_changes({}, list(changes))  # bad changes fail before the import's work
    from pyctr.images.store import image_store

    image = image_store(engine()).import_rootfs(source, repository, list(changes), message, config=config,
                                                platform=normalize(platform))
    click.echo(image.id)


@click.command()
@with_options(IMAGES_OPTIONS)
@click.argument("repository", required=False)
def images(**options: Any) -> None:
    """List images."""
    from pyctr.cli import reads

    sys.exit(reads.images(**options))
