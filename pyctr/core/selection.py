"""Choosing drivers: stevedore by name, or the first that works by the drivers' own priorities.

A named driver: only its module is imported. Auto-selection (no name given)
imports the installed drivers of the kind to read each class's
``Driver.priority`` (lower first; None: only when named) and probes them in
that order, the name breaking ties. Listing names (for ``--help``
choices and error messages) reads entry point metadata without importing
anything.
"""

from __future__ import annotations

import os

from pyctr.core.errors import (
    SKIPPABLE,
    DriverConflict,
    DriverError,
    DriverNotFound,
)

TYPE_CHECKING = False  # (typing's import is ~3 ms of every command; annotations are strings here)
if TYPE_CHECKING:
    from pyctr.core.drivers import Driver, DriverContext


def namespace(kind: str) -> str:
    return f"pyctr.{kind}"


def _entry_points(kind: str) -> list:
    from pyctr.core import entrypoints

    return entrypoints.group(namespace(kind))


def names(kind: str) -> list[str]:
    """Installed driver names of a kind, without importing any driver."""
    return sorted({ep.name for ep in _entry_points(kind)})


def distributions(kind: str, name: str) -> list[tuple[str, str]]:
    """(distribution, version) of every entry point claiming ``name``."""
    return [(ep.dist, ep.version) for ep in _entry_points(kind) if ep.name == name]


def driver_class(kind: str, name: str) -> type[Driver]:
    """Import and return the class of the named driver.

    The entry point comes from pyctr's index (:mod:`pyctr.core.entrypoints`);
    only that one module is imported, as stevedore's DriverManager would, and two
    distributions claiming the name are an error, as stevedore's
    ``error_on_conflict`` makes it. ``PYCTR_STEVEDORE=1`` loads through
    stevedore itself (slower: it scans every distribution).
    """
    if name not in names(kind):
        available = ", ".join(names(kind)) or "none"
        raise DriverNotFound(f"no {kind} driver named {name!r}; available: {available}")
    claims = [ep for ep in _entry_points(kind) if ep.name == name]
    if len(claims) > 1:
        who = " and ".join(sorted({ep.dist for ep in claims}))
        raise DriverConflict(f"the {kind} driver name {name!r} is claimed by {who}; uninstall one of them")
    try:
        cls = _stevedore_load(kind, name) if os.environ.get("PYCTR_STEVEDORE") else claims[0].load()
    except DriverError:
        raise
    except Exception as e:  # noqa: BLE001  (a broken third-party driver is one line, not a traceback)
        raise DriverError(f"the {kind} driver {name!r} failed to load: {e}") from e
    wrong = _unfit(kind, cls)
    if wrong:
        ep = claims[0]
        raise DriverError(f"the {kind} driver {name!r} (entry point {ep.name} in group {namespace(kind)!r} of "
                          f"distribution {ep.dist} {ep.version}) {wrong}: it cannot be used; fix or uninstall "
                          f"{ep.dist}")
    cls.name = name  # type: ignore[attr-defined]
    return cls  # type: ignore[return-value]


def _unfit(kind: str, cls: object) -> str:
    """Why a loaded driver class cannot be made (its ABC's methods missing, not a driver of
    its kind), or "": caught here, before a command makes anything, and listed by
    ``pyctr plugins``, rather than as Python's TypeError half-way through a run."""
    from pyctr.core.drivers import Driver

    if not isinstance(cls, type) or not issubclass(cls, Driver) or cls.kind != kind:
        return f"is not a {kind} driver (a subclass of pyctr.core.drivers' {kind.capitalize()}Driver)"
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        return f"does not implement {', '.join(missing)}"
    return ""


def _stevedore_load(kind: str, name: str) -> type[Driver]:
    from stevedore import driver as stevedore_driver
    from stevedore.exception import MultipleMatches, NoMatches

    def failed(_manager: object, entrypoint: object, exc: Exception) -> None:
        raise DriverError(f"the {kind} driver {name!r} failed to load: {exc}") from exc

    try:
        manager = stevedore_driver.DriverManager(
            namespace=namespace(kind),
            name=name,
            invoke_on_load=False,
            on_load_failure_callback=failed,
            on_missing_entrypoints_callback=lambda _names: None,
        )
    except NoMatches:
        raise DriverNotFound(f"no {kind} driver named {name!r}; available: {', '.join(names(kind))}") from None
    except MultipleMatches:
        raise DriverConflict(f"the {kind} driver name {name!r} is claimed more than once; uninstall one") from None
    return manager.driver


def probe(kind: str, name: str, ctx: DriverContext) -> str | None:
    """None when the driver can work here, else the one-line reason why not."""
    try:
        driver_class(kind, name).probe(ctx)
    except DriverError as e:
        return str(e)
    return None


def auto_order(kind: str, reasons: list[str] | None = None) -> list[str]:
    """Driver names of ``kind`` that auto-selection may pick, by their class's priority (then name).
    A driver that fails to load is left out (its reason added to ``reasons``)."""
    ranked = []
    for candidate in names(kind):
        try:
            priority = driver_class(kind, candidate).priority
        except DriverError as e:
            if reasons is not None:
                reasons.append(f"{candidate}: {e}")
            continue
        if priority is not None:
            ranked.append((priority, candidate))
    return [candidate for _, candidate in sorted(ranked)]


def select(kind: str, name: str | None, ctx: DriverContext, register: bool = True) -> Driver:
    """The driver instance to use: the named one, or the first workable by priority.

    The instance is registered as a hook plugin so it can take part in hooks
    (``register=False``: only if its class implements a hook; a command that only
    reads, loading no plugin, asks so).
    """
    if name:
        cls = driver_class(kind, name)
        cls.probe(ctx)
    else:
        reasons = []
        for candidate in auto_order(kind, reasons):
            try:
                cls = driver_class(kind, candidate)
                cls.probe(ctx)
                break
            except SKIPPABLE as e:
                reasons.append(f"{candidate}: {e}")
        else:
            raise DriverNotFound(f"no usable {kind} driver here ({'; '.join(reasons) or 'none installed'})")
    instance = cls(ctx)
    if register or has_hooks(cls):
        from pyctr.core.plugins import plugins

        dists = distributions(kind, cls.name)
        plugins.register(instance, name=f"{kind}:{cls.name}", source=dists[0] if dists else None)
    return instance


def has_hooks(cls: type) -> bool:
    """Whether a driver class implements any hook: a ``pyctr_*`` method marked as one
    (pyctr's marker and pluggy's both leave ``pyctr_impl`` on it)."""
    return any(name.startswith("pyctr_") and hasattr(getattr(cls, name, None), "pyctr_impl") for name in dir(cls))
