"""The plugin manager facade: the only place that touches ``pm.hook``.

Loading is lazy (the first hook call loads plugins) and idempotent. Built-in
hook plugins register even when autoload is off; third-party ones come from
the ``pyctr`` entry point group, filtered by ``PYCTR_LOAD_PLUGINS`` and
switched off by ``PYCTR_DISABLE_PLUGIN_AUTOLOAD``. ``PYCTR_TRACE_PLUGINS=1``
prints every hook call and result to stderr.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyctr.core import hookspecs
from pyctr.core.hookspecs import pluggy

if TYPE_CHECKING:
    from pyctr.core.container import Container
    from pyctr.core.spec import ContainerSpec

#: pyctr's own hook plugins, imported on first use (module paths)
BUILTIN_PLUGINS = (
    "pyctr.plugins.namespaces",
    "pyctr.network_plugins.bridge_prune",
)

ENTRY_POINT_GROUP = "pyctr"


class _PluginManager(pluggy.PluginManager):
    def parse_hookimpl_opts(self, plugin: object, name: str):  # noqa: ANN201
        # pluggy inspects every attribute of every plugin it registers; a driver
        # instance has dozens. Only pyctr_* names can be hooks, so skip the rest
        # before the (slow) static attribute lookup.
        if not name.startswith("pyctr_"):
            return None
        return super().parse_hookimpl_opts(plugin, name)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


class PyctrPlugins:
    """One typed method per hook, so no one else calls ``pm.hook.*``."""

    def __init__(self) -> None:
        self._pm: pluggy.PluginManager | None = None
        self._config: dict[str, Any] | None = None
        #: (plugin name, distribution, version) for ``pyctr plugins``
        self.sources: dict[str, tuple[str, str]] = {}

    # -- loading -----------------------------------------------------------

    @property
    def pm(self) -> pluggy.PluginManager:
        if self._pm is None:
            self._pm = self._load()
        return self._pm

    def _load(self) -> pluggy.PluginManager:
        pm = _PluginManager("pyctr")
        pm.add_hookspecs(hookspecs)
        for modname in BUILTIN_PLUGINS:
            module = importlib.import_module(modname)
            for plugin in getattr(module, "PLUGINS", [module]):
                name = getattr(plugin, "plugin_name", modname)
                pm.register(plugin, name=name)
                self.sources[name] = ("pyctr", _own_version())
        if not _truthy(os.environ.get("PYCTR_DISABLE_PLUGIN_AUTOLOAD")):
            self._load_entry_points(pm)
        pm.check_pending()
        if _truthy(os.environ.get("PYCTR_TRACE_PLUGINS")):
            pm.trace.root.setwriter(lambda msg: sys.stderr.write(f"pyctr-trace: {msg}"))
            pm.enable_tracing()
        if self._config is not None:
            pm.hook.pyctr_configure.call_historic(kwargs={"config": self._config})
        return pm

    def _load_entry_points(self, pm: pluggy.PluginManager) -> None:
        from pyctr.core import entrypoints

        wanted = os.environ.get("PYCTR_LOAD_PLUGINS")
        allowed = {d.strip().lower().replace("_", "-") for d in wanted.split(",")} if wanted else None
        for ep in entrypoints.group(ENTRY_POINT_GROUP):
            if allowed is not None and ep.dist.lower().replace("_", "-") not in allowed:
                continue
            if pm.get_plugin(ep.name) is not None:
                continue
            pm.register(ep.load(), name=ep.name)
            self.sources[ep.name] = (ep.dist, ep.version)

    def register(self, plugin: object, name: str | None = None, source: tuple[str, str] | None = None) -> None:
        """Register an object (a selected driver, a test plugin) for hooks."""
        if self.pm.is_registered(plugin):
            return
        if name is not None and self.pm.get_plugin(name) is not None:
            # A new instance of the same driver (a fresh Engine after fork) replaces the old one.
            self.pm.unregister(name=name)
        registered = self.pm.register(plugin, name=name)
        self.pm.check_pending()
        if source and registered:
            self.sources[registered] = source

    def unregister(self, plugin: object) -> None:
        if self._pm is not None and self._pm.is_registered(plugin):
            self._pm.unregister(plugin)

    def list(self) -> list[tuple[str, str, str]]:
        """(name, distribution, version) of every hook plugin."""
        out = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            dist, version = self.sources.get(name, ("?", "?"))
            out.append((name, dist, version))
        return sorted(out)

    def hooks_of(self, name: str) -> list[str]:
        plugin = self.pm.get_plugin(name)
        return sorted(h.name for h in (self.pm.get_hookcallers(plugin) or [])) if plugin else []

    # -- hooks, in lifecycle order -----------------------------------------

    def configure(self, config: dict[str, Any]) -> None:
        """Remember the settings; plugins hear of them when they load (``pyctr ps`` loads none)."""
        if self._pm is None:
            self._config = config
        else:
            self._pm.hook.pyctr_configure.call_historic(kwargs={"config": config})

    def register_commands(self, register: Callable[[Any], None]) -> None:
        self.pm.hook.pyctr_register_commands(register=register)

    def modify_container_spec(self, spec: ContainerSpec) -> None:
        self.pm.hook.pyctr_modify_container_spec(spec=spec)

    def namespace_flags(self, spec: ContainerSpec) -> int:
        flags = 0
        for flag in self.pm.hook.pyctr_namespace_flags(spec=spec):
            flags |= flag or 0
        return flags

    def create_container(self, container: Container) -> None:
        self.pm.hook.pyctr_create_container(container=container)

    def create_runtime(self, container: Container, pid: int) -> None:
        self.pm.hook.pyctr_create_runtime(container=container, pid=pid)

    def setup_child(self, spec: ContainerSpec, rootfs: str) -> None:
        self.pm.hook.pyctr_setup_child(spec=spec, rootfs=rootfs)

    def start_container(self, spec: ContainerSpec) -> None:
        self.pm.hook.pyctr_start_container(spec=spec)

    def poststart(self, container: Container, pid: int) -> None:
        self.pm.hook.pyctr_poststart(container=container, pid=pid)

    def poststop(self, container: Container) -> list[str]:
        """Run every implementation even when one fails; return the failures."""
        errors = []
        for impl in reversed(self.pm.hook.pyctr_poststop.get_hookimpls()):
            try:
                impl.function(container=container)
            except Exception as e:  # noqa: BLE001  (each plugin's failure is reported, none stops the rest)
                errors.append(f"{impl.plugin_name}: {e}")
        return errors

    def cleanup_orphans(self, live_container_ids: set[str]) -> list[str]:
        lines: list[str] = []
        for result in self.pm.hook.pyctr_cleanup_orphans(live_container_ids=live_container_ids):
            lines.extend(result or [])
        return lines

    def report_status(self) -> list[tuple[str, str]]:
        lines: list[tuple[str, str]] = []
        for result in self.pm.hook.pyctr_report_status():
            lines.extend(result or [])
        return lines


def _own_version() -> str:
    from pyctr import __version__

    return __version__


#: the process-wide facade
plugins = PyctrPlugins()
