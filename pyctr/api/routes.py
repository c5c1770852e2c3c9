"""The route table: ``@route(METHOD, PATTERN)`` adds an endpoint.

Patterns are Docker's paths without the ``/vX.Y`` prefix; ``{name}`` matches
one path segment, ``{name*}`` the rest of the path (image names have slashes:
``/images/{name*}/json``). A handler takes the :class:`pyctr.api.http.Request`
and the path parameters as keyword arguments, and answers through the request
(``req.json(...)``, ``req.empty(...)``, ``req.stream()``, ``req.hijack()``).

Another package adds its endpoints by listing its module in
:data:`ROUTE_MODULES` (the build engineer's ``POST /build``, for one); the
modules are imported once, when the service starts, in this order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

#: modules whose @route decorators make up the API, imported by :func:`load`
ROUTE_MODULES: list[str] = [
    "pyctr.api.system",
    "pyctr.api.containers",
    "pyctr.api.containers_more",
    "pyctr.api.archive",
    "pyctr.api.attach",
    "pyctr.api.logs",
    "pyctr.api.events",
    "pyctr.api.execs",
    "pyctr.api.networks",
    "pyctr.api.volumes",
    "pyctr.api.images",
    "pyctr.api.images_more",
    "pyctr.api.build",
    "pyctr.api.distribution",
]

Handler = Callable[..., Any]

#: (method, compiled pattern, handler), in the order they were added
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def _compile(pattern: str) -> re.Pattern[str]:
    def param(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.endswith("*"):
            return f"(?P<{name[:-1]}>.+)"
        return f"(?P<{name}>[^/]+)"

    return re.compile("^" + re.sub(r"\{([A-Za-z_]+\*?)\}", param, pattern) + "$")


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``METHOD pattern`` (HEAD may be listed on its own)."""

    def add(handler: Handler) -> Handler:
        ROUTES.append((method.upper(), _compile(pattern), handler))
        return handler

    return add


_loaded = False


def load() -> None:
    """Import every route module (once)."""
    global _loaded
    if _loaded:
        return
    import importlib

    for name in ROUTE_MODULES:
        importlib.import_module(name)
    _loaded = True


def match(method: str, path: str) -> tuple[Handler, dict[str, str]] | None | bool:
    """The handler and its parameters; False when the path exists for another method; None when it does not."""
    other_method = False
    for m, pattern, handler in ROUTES:
        found = pattern.match(path)
        if found is None:
            continue
        if m == method:
            return handler, found.groupdict()
        other_method = True
    return False if other_method else None
