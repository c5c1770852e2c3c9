"""Looking up what a request names, with Docker's 404 texts; shared by the route modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyctr.api.errors import ApiError
from pyctr.core.errors import NotFound

if TYPE_CHECKING:
    from pyctr.core.container import Container
    from pyctr.core.engine import Engine


def lookup(engine: Engine, ref: str) -> Container:
    from pyctr.core.container import lookup as find

    try:
        return find(engine.db, engine.config.root, ref)
    except NotFound:
        raise ApiError(404, f"No such container: {ref}") from None


def is_running(c: Container) -> bool:
    from pyctr.core.lifecycle import is_alive

    return c.status in ("running", "paused") and is_alive(c.pid, c.runtime.get("starttime"))
