"""``pyctr volume create|ls|inspect|rm|prune``, as Docker's."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import click

from pyctr.cli.common import each, emit, engine, render

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


@click.group(name="volume")
def volume_group() -> None:
    """Manage volumes."""


def _key_values(items: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            from pyctr.core.errors import UsageError

            raise UsageError(f"invalid {what} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _created_at(ts: float) -> str:
    """RFC 3339 in the host's zone, as Docker prints CreatedAt."""
    text = datetime.fromtimestamp(int(ts), UTC).astimezone().isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _record(eng: Any, vol: Any) -> dict[str, Any]:
    from pyctr.core import volumes

    return {"CreatedAt": _created_at(vol.created), "Driver": vol.driver, "Labels": vol.labels,
            "Mountpoint": volumes.mountpoint(eng, vol), "Name": vol.name, "Options": vol.options, "Scope": "local"}


@volume_group.command(name="create")
@click.option("--driver", "-d", default="", help="Volume driver name.  [default: local]")
@click.option("--opt", "-o", "opts", multiple=True, help="Driver specific options (KEY=VALUE).")
@click.option("--label", multiple=True, help="Set metadata for a volume (KEY=VALUE).")
@click.argument("name", required=False)
def create_cmd(driver: str, opts: tuple[str, ...], label: tuple[str, ...], name: str | None) -> None:
    """Create a volume."""
    import secrets

    from pyctr.core import volumes

    eng = engine()
    vol, _ = volumes.create(eng, name or secrets.token_hex(32), driver, _key_values(opts, "option"),
                            _key_values(label, "label"), explicit_driver=bool(driver))
    click.echo(vol.name)


def _matches(eng: Any, vol: Any, filters: tuple[str, ...]) -> bool:
    from pyctr.core import volumes
    from pyctr.core.errors import UsageError

    for f in filters:
        key, _, value = f.partition("=")
        if key == "name":
            if value not in vol.name:
                return False
        elif key == "driver":
            if vol.driver != value:
                return False
        elif key == "label":
            k, has, v = value.partition("=")
            if k not in vol.labels or (has and vol.labels[k] != v):
                return False
        elif key == "label!":
            k, has, v = value.partition("=")
            if k in vol.labels and (not has or vol.labels[k] == v):
                return False
        elif key == "dangling":
            if value.lower() not in ("true", "false", "1", "0"):
                raise UsageError(f"invalid filter 'dangling={value}'")
            if bool(volumes.users(eng, vol.name)) == (value.lower() in ("true", "1")):
                return False
        else:
            raise UsageError(f"invalid filter '{key}'")
    return True


@volume_group.command(name="ls")
@click.option("--quiet", "-q", is_flag=True, help="Only display volume names.")
@click.option("--filter", "-f", "filters", multiple=True, help="Filter output (dangling=, driver=, label=, name=).")
@click.option("--format", "fmt", help="Go template, or 'json'.")
def ls_cmd(quiet: bool, filters: tuple[str, ...], fmt: str | None) -> None:
    """List volumes."""
    from pyctr.core import volumes

    eng = engine()
    vols = [v for v in volumes.list_all(eng) if _matches(eng, v, filters)]
    if quiet:
        for v in vols:
            click.echo(v.name)
        return
    if not fmt or fmt.strip() == "table":
        rows = [{"Driver": v.driver, "Name": v.name} for v in vols]  # no mountpoint lookups for the default
    else:
        rows = [_ls_row(eng, v) for v in vols]
    emit(rows, fmt, [("DRIVER", "Driver"), ("VOLUME NAME", "Name")],
         headers={"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
                  "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE"})


def _ls_row(eng: Any, vol: Any) -> dict[str, Any]:
    from pyctr.core import volumes

    return {"Name": vol.name, "Driver": vol.driver, "Scope": "local", "Mountpoint": volumes.mountpoint(eng, vol),
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(vol.labels.items())), "Links": "N/A", "Size": "N/A",
            "Availability": "N/A", "Group": "N/A", "Status": "N/A"}


@volume_group.command(name="inspect")
@click.option("--format", "-f", "fmt", help="Go template.")
@click.argument("names", nargs=-1, required=True)
def inspect_cmd(fmt: str | None, names: tuple[str, ...]) -> None:
    """Display detailed information on one or more volumes."""
    from pyctr.core import volumes
    from pyctr.core.errors import PyctrError

    eng = engine()
    records, failed = [], False
    for name in names:
        try:
            records.append(_record(eng, volumes.lookup(eng, name)))
        except PyctrError as e:
            click.echo(f"Error: {e}", err=True)
            failed = True
    if fmt:
        for r in records:
            click.echo(render(fmt, r))
    else:
        click.echo(json.dumps(records, indent=4))
    if failed:
        sys.exit(1)


@volume_group.command(name="rm")
@click.option("--force", "-f", is_flag=True, help="Do not error when a volume does not exist.")
@click.argument("names", nargs=-1, required=True)
def rm_cmd(force: bool, names: tuple[str, ...]) -> None:
    """Remove one or more volumes (never one a container uses)."""
    from pyctr.core import volumes

    eng = engine()
    each(names, lambda name: volumes.remove(eng, name, force=force))


@volume_group.command(name="prune")
@click.option("--force", "-f", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--all", "-a", "prune_all", is_flag=True, help="Remove all unused volumes, not just anonymous ones.")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (label=, label!=).")
def prune_cmd(force: bool, prune_all: bool, filters: tuple[str, ...]) -> None:
    """Remove unused volumes (anonymous ones unless --all)."""
    from pyctr.core import volumes
    from pyctr.core.errors import PyctrError

    if not force:
        what = "all local volumes" if prune_all else "anonymous local volumes"
        if not click.confirm(f"WARNING! This will remove {what} not used by at least one container.\n"
                             "Are you sure you want to continue?", default=False):
            return
    eng = engine()
    removed, reclaimed = [], 0
    volumes.reconcile(eng)
    for vol in volumes.list_all(eng):
        if not (prune_all or vol.anonymous) or not _matches(eng, vol, filters) or volumes.users(eng, vol.name):
            continue
        size = _size(volumes.mountpoint(eng, vol))
        try:
            volumes.remove(eng, vol.name)
        except PyctrError as e:
            click.echo(f"Error: {e}", err=True)
            continue
        removed.append(vol.name)
        reclaimed += size
    from pyctr.cli.common import human_size

    if removed:
        click.echo("Deleted Volumes:\n" + "\n".join(removed) + "\n")
    click.echo(f"Total reclaimed space: {human_size(reclaimed)}")


def _size(path: str) -> int:
    """Bytes under ``path`` on its own filesystem (an unmounted network volume counts 0)."""
    import os

    from pyctr.core.trees import disk_usage

    if not path or not os.path.isdir(path):
        return 0
    return disk_usage(path, one_filesystem=True)[0]  # iterative: a volume of any depth
