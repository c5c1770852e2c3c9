"""Image commands: ``tag``, ``rmi``, ``history``, ``save``, ``load``, ``image prune`` and the ``image`` group."""

from __future__ import annotations

import sys

import click

from pyctr.cli.common import ago, each, emit, engine, human_size
from pyctr.images.store import image_store


@click.command()
@click.argument("source")
@click.argument("target")
def tag(source: str, target: str) -> None:
    """Create a tag TARGET that refers to SOURCE."""
    from pyctr.images.operations import tag as make_tag

    eng = engine()
    make_tag(eng, image_store(eng).resolve(source), target)


@click.command()
@click.option("--force", "-f", is_flag=True, help="Force removal of the image.")
@click.option("--no-prune", is_flag=True, help="Do not delete untagged parents (no effect).")
@click.argument("images", nargs=-1, required=True)
def rmi(force: bool, no_prune: bool, images: tuple[str, ...]) -> None:
    """Remove one or more images."""
    from pyctr.images.operations import remove

    eng = engine()

    def one(name: str) -> None:
        for line in remove(eng, name, force):
            click.echo(line)

    each(images, one, echo=False, prefix="Error response from daemon: ")


@click.command()
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("--quiet", "-q", is_flag=True, help="Only show image IDs.")
@click.option("--human", "-H", type=click.BOOL, default=True, help="Print sizes and dates in human readable format.")
@click.option("--format", "fmt", help="Go template, or 'json'.")
@click.argument("image")
def history(no_trunc: bool, quiet: bool, human: bool, fmt: str | None, image: str) -> None:
    """Show the history of an image."""
    from pyctr.core.inspection import rfc3339
    from pyctr.images.operations import history as rows_of

    eng = engine()
    img = image_store(eng).resolve(image)
    rows = []
    for r in rows_of(eng, img):
        ident = r["ID"] if r["ID"] == "<missing>" or no_trunc else r["ID"][7:19]
        created_by = r["CreatedBy"].replace("\t", " ").replace("\n", " ")
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        rows.append({"ID": ident, "CreatedSince": ago(r["Created"]) if human else rfc3339(r["Created"]),
                     "CreatedAt": rfc3339(r["Created"]), "CreatedBy": created_by,
                     "Size": human_size(r["Size"], 3) if human else str(r["Size"]), "Comment": r["Comment"]})
    emit(rows, fmt, [("IMAGE", "ID"), ("CREATED", "CreatedSince"), ("CREATED BY", "CreatedBy"), ("SIZE", "Size"),
                     ("COMMENT", "Comment")], quiet=quiet)


@click.command()
@click.option("--output", "-o", help="Write to a file, instead of STDOUT.")
@click.argument("images", nargs=-1, required=True)
def save(output: str | None, images: tuple[str, ...]) -> None:
    """Save one or more images to a tar archive (docker-archive format)."""
    import os

    from pyctr.core.errors import UsageError
    from pyctr.images.archive import save as do_save

    eng = engine()
    if output is None:
        if sys.stdout.isatty():
            raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        do_save(eng, list(images), sys.stdout.buffer)
        return
    tmp = f"{output}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            do_save(eng, list(images), f)
        os.replace(tmp, output)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@click.command()
@click.option("--input", "-i", "source", help="Read from a tar archive file, instead of STDIN.")
@click.option("--quiet", "-q", is_flag=True, help="Suppress the load output.")
def load(source: str | None, quiet: bool) -> None:
    """Load images from a tar archive (docker-archive or OCI layout, optionally gzipped)."""
    from pyctr.core.errors import UsageError
    from pyctr.images.archive import load as do_load

    eng = engine()
    if source is None:
        if sys.stdin.isatty():
            raise UsageError("requested load from stdin, but stdin is empty")
        lines = do_load(eng, sys.stdin.buffer)
    else:
        try:
            f = open(source, "rb")
        except OSError as e:
            raise UsageError(f"cannot read {source}: {e.strerror}") from None
        with f:
            lines = do_load(eng, f)
    if not quiet:
        for line in lines:
            click.echo(line)


@click.command(name="prune")
@click.option("--all", "-a", "prune_all", is_flag=True, help="Remove all unused images, not just dangling ones.")
@click.option("--force", "-f", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, hidden=True)
def prune(prune_all: bool, force: bool, filters: tuple[str, ...]) -> None:
    """Remove unused images."""
    from pyctr.images.operations import prune as do_prune

    if not force and sys.stdin.isatty():
        what = "all images without at least one container associated to them" if prune_all else "all dangling images"
        if not click.confirm(f"WARNING! This will remove {what}.\nAre you sure you want to continue?"):
            return
    lines, reclaimed = do_prune(engine(), prune_all)
    if lines:
        click.echo("Deleted Images:\n" + "\n".join(lines) + "\n")
    click.echo(f"Total reclaimed space: {human_size(reclaimed)}")


class _Alias(click.Group):
    """``image ls`` etc.: each subcommand is the top-level command, loaded lazily."""

    ALIASES = {"ls": "images", "list": "images", "rm": "rmi", "remove": "rmi", "inspect": "inspect", "pull": "pull",
               "push": "push", "tag": "tag", "history": "history", "save": "save", "load": "load",
               "import": "import"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.ALIASES) | {"prune"})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "prune":
            return prune
        target = self.ALIASES.get(name)
        if target is None:
            return None
        from pyctr.cli import cli

        command = cli.get_command(ctx, target)
        if command is not None and name == "inspect":
            return _image_inspect(command)
        return command


def _image_inspect(command: click.Command) -> click.Command:
    """``image inspect``: only images, like Docker."""
    @click.command(name="inspect")
    @click.option("--format", "-f", "fmt")
    @click.argument("names", nargs=-1, required=True)
    @click.pass_context
    def image_inspect(ctx: click.Context, fmt: str | None, names: tuple[str, ...]) -> None:
        ctx.invoke(command, fmt=fmt, kind="image", size=False, names=names)

    return image_inspect


@click.group(name="image", cls=_Alias)
def image_group() -> None:
    """Manage images."""
