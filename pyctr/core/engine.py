"""The Engine: one command's view of pyctr — settings, state database, drivers.

Everything is created on first use, so a command pays only for what it
touches (``pyctr ps`` never imports a driver). A read-only Engine (the read
commands: ``ps``, ``images``, ``inspect``) opens the state database read-only
and loads plugins only if it selects a driver, telling them the settings first.
"""

from __future__ import annotations

import functools

from pyctr.core.config import DEFAULT_LAYER_MAX_SIZE
from pyctr.core.state import sqlite3

TYPE_CHECKING = False  # (typing's import is ~3 ms of every read command)
if TYPE_CHECKING:
    from typing import Any

    from pyctr.core.config import Config
    from pyctr.core.container import Container
    from pyctr.core.drivers import CgroupDriver, Driver, DriverContext, NetworkDriver, RuntimeDriver, StorageDriver


class Engine:
    def __init__(self, config: Config, read_only: bool = False) -> None:
        self.config = config
        #: the state database opened read-only; plugins loaded with the first driver
        self.read_only = read_only
        self._plugins_told = False
        self._storage_recorded: str | None = None
        self._drivers: dict[tuple[str, str | None], Driver] = {}
        #: container id -> its cgroups being made in a thread since ``create`` (pyctr.core.lifecycle)
        self.cgroups_ahead: dict[str, Any] = {}
        #: one object per subsystem above the host (the image store: pyctr.images.store.image_store),
        #: made on first use by that subsystem; the host never looks inside
        self.services: dict[str, Any] = {}

    @functools.cached_property
    def db(self) -> sqlite3.Connection:
        from pyctr.core import state

        if self.read_only:
            return state.connect_reader(self.config.root)
        return state.connect(self.config.root)

    @functools.cached_property
    def ctx(self) -> DriverContext:
        from pyctr.core.drivers import DriverContext

        return DriverContext(root=self.config.root, runroot=self.config.runroot)

    def ctx_for(self, kind: str) -> DriverContext:
        """The context a driver of ``kind`` gets: settings that are that kind's options."""
        if kind == "cgroup" and self.config.cgroup_subtree:
            return self.ctx.replace(options={"parent": self.config.cgroup_subtree})
        if kind == "storage" and self.config.layer_max_size != DEFAULT_LAYER_MAX_SIZE:
            return self.ctx.replace(options={"layer_max_size": str(self.config.layer_max_size)})
        return self.ctx

    def driver(self, kind: str, name: str | None = None) -> Driver:
        """The driver of ``kind`` named ``name`` (or auto-selected), created once."""
        key = (kind, name)
        if key not in self._drivers:
            from pyctr.core.selection import select

            if self.read_only:
                # Reading loads no plugin: the driver registers as a hook plugin only if it
                # implements a hook, and then the plugins hear the settings first (configure
                # only keeps them while none is loaded).
                if not self._plugins_told:
                    from pyctr.core.plugins import plugins

                    plugins.configure(self.config.as_dict())
                    self._plugins_told = True
                self._drivers[key] = select(kind, name, self.ctx_for(kind), register=False)
            else:
                self._drivers[key] = select(kind, name, self.ctx_for(kind))
            # the auto-selected instance also answers for its own name
            self._drivers.setdefault((kind, self._drivers[key].name), self._drivers[key])
        return self._drivers[key]

    # -- storage: one driver per root, remembered once chosen ---------------

    def storage_driver_name(self) -> str:
        """The root's storage driver: the one its images' layers are in; for a root without
        layers, the flag (``--storage-driver``, PYCTR_STORAGE_DRIVER, the config's), else the one
        recorded, else the first usable. A flag naming another driver than the one holding the
        root's layers is refused: that driver has none of them (``run`` would fail with "no such
        layer" while ``images`` lists them)."""
        if self._storage_recorded is not None:
            return self._storage_recorded  # (asked per layer by a pull: once per command is enough)
        wanted = self.config.storage_driver
        if wanted:
            row = self.db.execute("SELECT driver FROM layers WHERE driver != ? LIMIT 1", (wanted,)).fetchone()
            if row:
                from pyctr.core.errors import UsageError
                from pyctr.core.selection import driver_class

                driver_class("storage", wanted)  # (a name no driver has: that error first)

                raise UsageError(
                    f"the images of {self.config.root} are in the {row[0]} storage driver, not {wanted}: use it "
                    f"(no --storage-driver, or --storage-driver={row[0]}), give {wanted} a store of its own (--root), "
                    f"or remove its images first (pyctr image prune -a -f, without the flag) to switch it")
            self._record_storage_driver(wanted)
            return wanted
        row = self.db.execute("SELECT value FROM settings WHERE key = 'storage_driver'").fetchone()
        if row:
            self._storage_recorded = row[0]
            return row[0]
        # (a root made before the choice was recorded: where its layers are)
        row = self.db.execute("SELECT driver FROM layers LIMIT 1").fetchone()
        chosen = row[0] if row else self.driver("storage", None).name
        self._record_storage_driver(chosen)
        return chosen

    def _record_storage_driver(self, name: str) -> None:
        self._storage_recorded = name
        if self.read_only:
            return  # (a read-only engine leaves it to the first command that writes)
        row = self.db.execute("SELECT value FROM settings WHERE key = 'storage_driver'").fetchone()
        if row is None or row[0] != name:
            self.db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES ('storage_driver', ?)", (name,))

    @property
    def storage(self) -> StorageDriver:
        return self.driver("storage", self.storage_driver_name())  # type: ignore[return-value]

    def storage_for(self, container: Container) -> StorageDriver:
        return self.driver("storage", container.drivers["storage"])  # type: ignore[return-value]

    def cgroups_for(self, container: Container) -> CgroupDriver | None:
        name = container.drivers.get("cgroup")
        return self.driver("cgroup", name) if name else None  # type: ignore[return-value]

    def network_for(self, container: Container) -> NetworkDriver:
        return self.driver("network", container.drivers["network"])  # type: ignore[return-value]

    def runtime_for(self, container: Container) -> RuntimeDriver:
        """The runtime driver that made (or will make) the container's processes: the one
        recorded at create, else (a record older than the runtime kind) the configured one."""
        return self.driver("runtime", container.drivers.get("runtime") or self.config.runtime)  # type: ignore[return-value]
