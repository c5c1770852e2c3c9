"""``--network container:NAME``: join another container's network namespace.

Nothing is plugged in: the container shares the target's interfaces,
addresses and published ports. The driver only names the namespace to join
(``spec.namespaces["network"] = "container:<id>"``; the runtime resolves
the target's running init to ``/proc/<pid>/ns/net`` when it starts, so a
target restarted between ``create`` and ``start`` still works) and gives
the container the target's ``/etc/hosts`` and ``/etc/resolv.conf``, as
Docker does.

The target is read from ``spec.network["container"]``, or from
``spec.network["network"]``/``["mode"]`` of the form ``container:NAME``, or
from an already set ``spec.namespaces["network"] = "container:NAME"``.
"""

from __future__ import annotations

from pathlib import Path

from pyctr import hookimpl
from pyctr.core.drivers import NetworkAttachment, NetworkDriver
from pyctr.core.errors import UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.core.spec import ContainerSpec


def target_of(spec: ContainerSpec) -> str:
    net = spec.network or {}
    for value in (net.get("container"), net.get("network"), net.get("mode"), spec.namespaces.get("network")):
        if not value:
            continue
        value = str(value)
        if value.startswith("container:"):
            value = value[len("container:"):]
        elif value == net.get("mode") or value == spec.namespaces.get("network"):
            continue  # a mode that is not container:... names no target
        if value:
            return value
    raise UsageError("--network container: needs a container name or id (container:NAME)")


class ContainerNetworkDriver(NetworkDriver):
    wants_network_namespace = False

    def _lookup(self, ref: str) -> Any:
        from pyctr.core import state
        from pyctr.core.container import lookup

        conn = state.connect(self.ctx.root)
        try:
            return lookup(conn, Path(self.ctx.root), ref)
        finally:
            conn.close()

    @hookimpl
    def pyctr_modify_container_spec(self, spec: ContainerSpec) -> None:
        # Registered as a hook plugin when selected: the network namespace
        # plugin then returns no CLONE_NEWNET and the runtime joins instead.
        target = self._lookup(target_of(spec))  # NotFound for a name that does not exist
        spec.network["container"] = target.id
        spec.namespaces["network"] = f"container:{target.id}"
        if spec.hostname == "":
            # Docker: the joining container has the target's hostname
            spec.hostname = target.spec.hostname

    def connect(self, container: Any, pid: int) -> NetworkAttachment | None:
        from pyctr.network_plugins.bridge.files import write_in_place

        target = self._lookup(target_of(container.spec))
        for name in ("hosts", "resolv.conf"):
            try:
                text = (target.dir / name).read_text()
            except OSError:
                continue
            Path(container.dir).mkdir(parents=True, exist_ok=True)
            write_in_place(Path(container.dir) / name, text)
        return NetworkAttachment(network=f"container:{target.id}", extra={"container": target.id})

    def disconnect(self, container: Any) -> None:
        """Nothing was made: the namespace belongs to the target."""
