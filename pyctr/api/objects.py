"""Looking up what a request names, with Docker's 404 texts; shared by the route modules."""

from __future__ import annotations

from pyctr.api.errors import ApiError
from pyctr.core.errors import NotFound
from pyctr.images.store import image_store

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.core.container import Container
    from pyctr.core.engine import Engine
    from pyctr.images.store import Image


def lookup(engine: Engine, ref: str) -> Container:
    from pyctr.core.container import lookup as find

    try:
        return find(engine.db, engine.config.root, ref)
    except NotFound:
        raise ApiError(404, f"No such container: {ref}") from None


def is_running(c: Container) -> bool:
    from pyctr.core.lifecycle import is_alive

    return c.status in ("running", "paused") and is_alive(c.pid, c.runtime.get("starttime"))


def resolve(engine: Engine, name: str) -> Image:
    """An image by name or id, with Docker's 404."""
    try:
        return image_store(engine).resolve(name)
    except NotFound:
        raise ApiError(404, f"No such image: {name}") from None


def summary(engine: Engine, image: Image) -> dict[str, Any]:
    from pyctr.images.reference import parse

    tags = [parse(t).familiar for t in image.tags]
    digests = sorted({f"{parse(t).familiar_name}@{image.manifest_digest}" for t in image.tags}) \
        if image.manifest_digest else []
    return {
        "Id": image.id, "ParentId": "", "RepoTags": tags or ["<none>:<none>"],
        "RepoDigests": digests or (["<none>@<none>"] if not tags else []),
        "Created": int(image.created), "Size": image.size, "SharedSize": -1, "VirtualSize": image.size,
        "Labels": (image.config.get("config") or {}).get("Labels") or {}, "Containers": -1,
    }


def pull_reference(from_image: str, tag: str | None) -> str:
    """``fromImage`` and ``tag`` as one reference (a digest as ``@sha256:...``)."""
    if not tag:
        return from_image
    if tag.startswith("sha256:"):
        return f"{from_image}@{tag}"
    last = from_image.rsplit("/", 1)[-1]
    if "@" in last or ":" in last:
        return from_image
    return f"{from_image}:{tag}"
