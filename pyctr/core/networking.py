"""Connecting a container to a user network and disconnecting it (``network connect``/``disconnect``,
``POST /networks/{id}/connect``): Docker's rules, then the container's network driver, then the record.

A created container is connected too (the driver records the wish and wires it at the start), as
Docker does and compose relies on (it connects before it starts).
"""

from __future__ import annotations

import json

from pyctr.core.errors import Conflict

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.core.container import Container
    from pyctr.core.engine import Engine


def _check(c: Container, network: str) -> None:
    mode = c.drivers.get("network", "")
    if mode == "host" or network == "host":
        raise Conflict("container cannot be disconnected from host network or connected to host network")
    if mode == "none" or network == "none":
        raise Conflict("container cannot be connected to multiple networks with one of the networks "
                       "in private (none) mode")
    if mode == "container" or c.spec.namespaces.get("network", "").startswith("container:"):
        raise Conflict("container sharing network namespace with another container or host cannot be "
                       "connected to any other network")


def _running_pid(c: Container) -> int:
    from pyctr.core.lifecycle import is_alive

    return c.pid if c.status in ("running", "paused") and is_alive(c.pid, c.runtime.get("starttime")) else 0


def connect(engine: Engine, c: Container, network: str, aliases: list[str] | tuple[str, ...] = (),
            ip: str | None = None) -> None:
    _check(c, network)
    driver = engine.network_for(c)
    att = driver.connect_network(c, network, _running_pid(c), aliases=list(aliases), ip=ip)  # type: ignore[attr-defined]
    _store(engine, c, att)
    _event(engine, driver, c, network, "connect")


def disconnect(engine: Engine, c: Container, network: str, force: bool = False) -> None:
    _check(c, network)
    driver = engine.network_for(c)
    att = driver.disconnect_network(c, network, _running_pid(c), force=force)  # type: ignore[attr-defined]
    _store(engine, c, att)
    _event(engine, driver, c, network, "disconnect")


def _store(engine: Engine, c: Container, att: Any) -> None:
    """Only the ``network`` key of the runtime record: the container may be stopping meanwhile."""
    if att is None:
        return
    from pyctr.core.state import transaction

    with transaction(engine.db):
        row = engine.db.execute("SELECT runtime FROM containers WHERE id = ?", (c.id,)).fetchone()
        if row is not None:
            runtime = json.loads(row[0])
            runtime["network"] = vars(att)
            engine.db.execute("UPDATE containers SET runtime = ? WHERE id = ?", (json.dumps(runtime), c.id))


def _event(engine: Engine, driver: Any, c: Container, network: str, action: str) -> None:
    from pyctr.core import events

    try:
        info = driver.inspect_network(network)
        ident, name = info.get("Id", network), info.get("Name", network)
    except Exception:  # noqa: BLE001  (the event names what it can)
        ident, name = network, network
    events.record(engine, "network", action, ident, {"container": c.id, "name": name, "type": "bridge"})
