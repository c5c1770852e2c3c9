"""``pyctr commit``, ``diff``, ``export`` and ``cp``: a container's files from the host."""

from __future__ import annotations

import sys

import click

from pyctr.cli.common import engine


def _container(ref: str):  # noqa: ANN202
    from pyctr.core.container import lookup

    eng = engine()
    return eng, lookup(eng.db, eng.config.root, ref)


@click.command()
@click.option("--change", "-c", "changes", multiple=True, help="Apply a Dockerfile instruction (CMD, ENV, ...).")
@click.option("--message", "-m", default="", help="Commit message.")
@click.option("--author", "-a", default="", help='Author (e.g. "Jane <jane@example.com>").')
@click.option("--pause/--no-pause", "-p", "pause", default=True, help="Pause the container while committing.")
@click.argument("container")
@click.argument("repository", required=False)
def commit(changes, message, author, pause, container, repository) -> None:  # noqa: ANN001
    """Create a new image from a container's changes."""
    from pyctr.build.containerfs import commit_container
    from pyctr.build.instructions import apply_changes
    from pyctr.images import reference

    apply_changes({}, list(changes))  # bad changes fail before anything is written
    if repository:
        reference.parse(repository)
    eng, c = _container(container)
    click.echo(commit_container(eng, c, repository, list(changes), message, author, pause))


@click.command()
@click.argument("container")
def diff(container: str) -> None:
    """Inspect changes to files or directories on a container's filesystem."""
    from pyctr.build.containerfs import changes

    eng, c = _container(container)
    for kind, path in changes(eng, c):
        click.echo(f"{kind} {path}")


@click.command()
@click.option("--output", "-o", help="Write to a file, instead of STDOUT.")
@click.argument("container")
def export(output: str | None, container: str) -> None:
    """Export a container's filesystem as a tar archive."""
    from pyctr.build.containerfs import export as export_tar
    from pyctr.core.errors import UsageError

    if output is None and sys.stdout.isatty():
        raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    eng, c = _container(container)
    if output:
        import os

        tmp = f"{output}.tmp{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                export_tar(eng, c, f)
            os.replace(tmp, output)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    else:
        export_tar(eng, c, sys.stdout.buffer)
        sys.stdout.buffer.flush()


@click.command()
@click.option("--archive", "-a", is_flag=True, help="Archive mode (copy all uid/gid information).")
@click.option("--follow-link", "-L", "follow", is_flag=True, help="Always follow symbol link in SRC_PATH.")
@click.option("--quiet", "-q", is_flag=True, help="Suppress progress output (pyctr prints none).")
@click.argument("src")
@click.argument("dest")
def cp(archive: bool, follow: bool, quiet: bool, src: str, dest: str) -> None:
    """Copy files between a container and the host: CONTAINER:SRC DEST|-, or SRC|- CONTAINER:DEST."""
    from pyctr.build.containerfs import copy_in, copy_out
    from pyctr.core.errors import UsageError

    src_c, _, src_path = src.partition(":") if _is_container_path(src) else ("", "", src)
    dst_c, _, dst_path = dest.partition(":") if _is_container_path(dest) else ("", "", dest)
    if src_c and dst_c:
        raise UsageError("copying between containers is not supported")
    if not src_c and not dst_c:
        raise UsageError("must specify at least one container source")
    if src_c:
        eng, c = _container(src_c)
        copy_out(eng, c, src_path or "/", dst_path, follow=follow, archive=archive,
                 stdout=sys.stdout.buffer if dst_path == "-" else None)
        if dst_path == "-":
            sys.stdout.buffer.flush()
    else:
        eng, c = _container(dst_c)
        copy_in(eng, c, src_path, dst_path or "/", archive=archive, follow=follow,
                stdin=sys.stdin.buffer if src_path == "-" else None)


def _is_container_path(arg: str) -> bool:
    """``NAME:PATH`` names a container unless it looks like a host path (Docker's rule:
    a path starting with / or . is local, as is anything without a colon)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return False
    return True
