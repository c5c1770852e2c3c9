"""Image commands: ``import``, ``images``."""

from __future__ import annotations

import click

from pyctr.cli.common import ago, emit, engine, human_size
from pyctr.images.store import image_store


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
    image = image_store(engine()).import_rootfs(source, repository, list(changes), message, config=config,
                                                platform=normalize(platform))
    click.echo(image.id)


@click.command()
@click.option("--all", "-a", "show_all", is_flag=True, help="Show all images (no effect: pyctr keeps no intermediates).")
@click.option("--quiet", "-q", is_flag=True, help="Only show image IDs.")
@click.option("--digests", is_flag=True, help="Show digests.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("--format", "fmt", help="Go template, or 'json'.")
@click.option("--filter", "-f", "filters", multiple=True, help="Filter output (reference=, dangling=, label=, before=, since=).")
@click.argument("repository", required=False)
def images(show_all: bool, quiet: bool, digests: bool, no_trunc: bool, fmt: str | None,
           filters: tuple[str, ...], repository: str | None) -> None:
    """List images."""
    from pyctr.images.reference import parse

    rows = []
    for image in image_store(engine()).list():
        names = image.tags or ["<none>:<none>"]
        for name in names:
            if name == "<none>:<none>":
                repo, tag = "<none>", "<none>"
            else:
                ref = parse(name)
                repo, tag = ref.familiar_name, ref.tag or "<none>"
            rows.append({"ID": image.id if no_trunc else image.short_id, "Repository": repo, "Tag": tag,
                         "Digest": image.manifest_digest or "<none>", "CreatedSince": ago(image.created),
                         "CreatedAt": image.created, "Size": human_size(image.size, 3),
                         "VirtualSize": human_size(image.size, 3), "Containers": "N/A", "SharedSize": "N/A",
                         "UniqueSize": "N/A",
                         "Labels": (image.config.get("config") or {}).get("Labels") or {},
                         "Dangling": not image.tags, "_name": name})
    rows = [r for r in rows if _matches(r, filters, repository)]
    if quiet:
        seen: list[str] = []
        for r in rows:
            if r["ID"] not in seen:
                seen.append(r["ID"])
        click.echo("\n".join(seen)) if seen else None
        return
    columns = [("REPOSITORY", "Repository"), ("TAG", "Tag")] + ([("DIGEST", "Digest")] if digests else []) + \
        [("IMAGE ID", "ID"), ("CREATED", "CreatedSince"), ("SIZE", "Size")]
    emit(rows, fmt, columns, headers=IMAGE_HEADERS)


#: Docker's header names for the fields a ``table`` template of ``images`` may use
IMAGE_HEADERS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                 "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                 "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE"}


def _matches(row: dict, filters: tuple[str, ...], repository: str | None) -> bool:
    import fnmatch

    if repository and not (fnmatch.fnmatch(row["Repository"], repository.split(":")[0])
                           and (":" not in repository or row["Tag"] == repository.split(":", 1)[1])):
        return False
    for f in filters:
        key, _, value = f.partition("=")
        if key == "dangling":
            if (value.lower() == "true") != row["Dangling"]:
                return False
        elif key == "reference":
            if not fnmatch.fnmatch(f"{row['Repository']}:{row['Tag']}", value if ":" in value else value + ":*"):
                return False
        elif key in ("before", "since"):
            from pyctr.cli.common import engine

            pivot = image_store(engine()).resolve(value).created
            if (row["CreatedAt"] >= pivot) if key == "before" else (row["CreatedAt"] <= pivot):
                return False
        elif key == "label":
            k, _, v = value.partition("=")
            if k not in row["Labels"] or (v and row["Labels"][k] != v):
                return False
        else:
            from pyctr.core.errors import UsageError

            raise UsageError(f"invalid filter {key!r}")
    return True
