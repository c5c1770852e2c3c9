"""What ``ps``, ``images``, ``inspect`` and ``version`` do, without click.

Scripts call these in loops, so each is reachable two ways with one body:
the click commands (pyctr.cli.containers, images, inspect, system) and the
fast path (pyctr.cli.fastpath), both parsing the option tables of
pyctr.cli.options. Each function takes the options by their ``dest`` names
and returns the exit code. They read through :func:`pyctr.cli.settings.reader`:
the state database opened read-only, no plugin and no driver loaded (unless a
container's published ports or an object's GraphDriver data ask a driver).
"""

from __future__ import annotations

import time

from pyctr.cli.output import ago, emit, human_duration, human_size, write
from pyctr.cli.settings import echo, reader

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Docker's header names for the fields a ``table`` template of ``ps`` may use
PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
              "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
              "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
              "LocalVolumes": "LOCAL VOLUMES"}

#: Docker's header names for the fields a ``table`` template of ``images`` may use
IMAGE_HEADERS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                 "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                 "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE"}


# -- ps -------------------------------------------------------------------------------------------

def ps(show_all: bool, quiet: bool, no_trunc: bool, fmt: str | None, filters: tuple[str, ...],
       last: int, latest: bool) -> int:
    """List containers."""
    from pyctr.core.container import list_all

    eng = reader()
    containers = list_all(eng.db, eng.config.root)
    if latest:
        last = 1
    if last >= 0:
        containers, show_all = containers[:last], True
    rows = []
    health = {} if not containers else dict(eng.db.execute("SELECT container_id, status FROM health").fetchall())
    for c in containers:
        status = status_text(c, health.get(c.id))
        running = status.startswith(("Up", "Restarting"))
        if not show_all and not running:
            continue
        state = (c.status if c.status in ("paused", "restarting") else "running") if running else (
            "exited" if c.status in ("running", "paused") else c.status)
        command = docker_command(c.spec.argv)
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
    return 0


def status_text(c: Any, health: str | None = None) -> str:
    """ps's STATUS of a container: "Up 3 minutes (healthy)", "Exited (3) 2 hours ago", ..."""
    from pyctr.core.processes import is_alive

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


def docker_command(argv: list[str]) -> str:
    """The COMMAND column as dockerd makes it: the arguments after the first that hold a space
    are put in single quotes (``sh -c 'echo hi'``), nothing else is quoted."""
    return " ".join(argv[:1] + [f"'{a}'" if " " in a else a for a in argv[1:]])


# -- images ---------------------------------------------------------------------------------------

def images(show_all: bool, quiet: bool, digests: bool, no_trunc: bool, fmt: str | None,
           filters: tuple[str, ...], repository: str | None) -> int:
    """List images."""
    from pyctr.images.reference import parse
    from pyctr.images.store import image_store

    eng = reader()
    if eng.config.storage_driver:
        eng.storage_driver_name()  # (refuses a driver that does not hold these images: run would fail)
    rows = []
    for image in image_store(eng).list():
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
    rows = [r for r in rows if _image_matches(r, filters, repository)]
    if quiet:  # one ID per row, as Docker's (an image with two tags is listed twice)
        write("".join(f"{r['ID']}\n" for r in rows))
        return 0
    columns = [("REPOSITORY", "Repository"), ("TAG", "Tag")] + ([("DIGEST", "Digest")] if digests else []) + \
        [("IMAGE ID", "ID"), ("CREATED", "CreatedSince"), ("SIZE", "Size")]
    emit(rows, fmt, columns, headers=IMAGE_HEADERS)
    return 0


def _image_matches(row: dict, filters: tuple[str, ...], repository: str | None) -> bool:
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
            from pyctr.images.store import image_store

            pivot = image_store(reader()).resolve(value).created
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


# -- inspect --------------------------------------------------------------------------------------

def inspect(fmt: str | None, kind: str | None, size: bool, names: tuple[str, ...]) -> int:
    """Docker's JSON of each container or image named (``--format``: a Go template for each);
    exit 1 when one is missing (the others are still printed)."""
    from pyctr.core.container import lookup
    from pyctr.core.errors import NotFound

    eng = reader()
    results, missing = [], []
    for name in names:
        obj = None
        if kind in (None, "container"):
            try:
                container = lookup(eng.db, eng.config.root, name)
            except NotFound:
                pass
            else:
                from pyctr.core.inspection import container_json

                obj = container_json(eng, container)
        if obj is None and kind in (None, "image"):
            from pyctr.images.store import image_store

            try:
                image = image_store(eng).resolve(name)
            except NotFound:
                pass
            else:
                from pyctr.images.inspection import image_json

                obj = image_json(eng, image)
        if obj is None:
            missing.append(name)
        else:
            results.append(obj)
    if fmt:
        from pyctr.cli.output import render

        for obj in results:
            echo(render(fmt, obj))
    else:
        import json

        echo(json.dumps(results, indent=4))
    for name in missing:
        echo(f"Error: no such object: {name}", err=True)
    return 1 if missing else 0


# -- version --------------------------------------------------------------------------------------

def version(fmt: str | None) -> int:
    """Show the pyctr version information."""
    import os
    import sys

    from pyctr import __version__

    # (what platform.python_version() and platform.machine() say, without platform's import)
    python = sys.version.split()[0]
    machine = os.uname().machine
    data = {"Client": {"Version": __version__, "ApiVersion": "1.41", "GoVersion": f"python{python}",
                       "Os": "linux", "Arch": machine, "Experimental": False}}
    if fmt == "json":
        import json

        echo(json.dumps(data))
    elif fmt:
        from pyctr.cli.output import render

        echo(render(fmt, data))
    else:
        c = data["Client"]
        echo(f"Client:\n Version:\t{c['Version']}\n API version:\t{c['ApiVersion']}\n Python version:\t"
             f"{python}\n OS/Arch:\tlinux/{c['Arch']}".expandtabs(20))
    return 0
