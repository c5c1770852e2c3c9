"""The plugin manager facade: the only place that calls hooks.

Loading is lazy (the first hook call loads plugins) and idempotent. Built-in
hook plugins register even when autoload is off; third-party ones come from
the ``pyctr`` entry point group, filtered by ``PYCTR_LOAD_PLUGINS`` (names of
distributions or of entry points) and switched off by
``PYCTR_DISABLE_PLUGIN_AUTOLOAD``. ``PYCTR_TRACE_PLUGINS=1`` prints every
hook call and result to stderr.

Two ways to call a hook, one behaviour. pluggy (with ``inspect`` and
``typing`` behind it) is 25-45 ms of imports, most of a container start's
import time, and is needed only for what plain implementations never do:
hook wrappers and tracing. So while tracing is off, the facade calls the
implementations itself (:class:`_DirectHooks`), pyctr's own and a third
party's (an installed hook plugin cost each command ~10 ms of pluggy), in
pluggy's order (last registered first, ``tryfirst`` ahead and ``trylast``
behind), each with the arguments it names, collecting the results that are
not None. Anything it does not do itself (a wrapper, an implementation it
cannot read the arguments of, an unknown hook, ``pyctr plugins`` asking
pluggy's view) hands every registration, in order, to pluggy's
PluginManager and goes on there. ``tests/unit/test_plugin_paths.py`` calls
every hook both ways and compares the calls and the results.
"""

from __future__ import annotations

import _thread
import importlib
import os
import sys

from pyctr.core import hookspecs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pyctr.core.container import Container
    from pyctr.core.spec import ContainerSpec

#: pyctr's own hook plugins, imported on first use (module paths)
BUILTIN_PLUGINS = (
    "pyctr.plugins.namespaces",
    "pyctr.network_plugins.bridge_prune",
)

ENTRY_POINT_GROUP = "pyctr"

#: hook name -> its argument names, from the specs (what a call passes)
_SPECS: dict[str, tuple[str, ...]] = {
    name: fn.__code__.co_varnames[:fn.__code__.co_argcount]
    for name, fn in vars(hookspecs).items() if name.startswith("pyctr_") and hasattr(fn, "pyctr_spec")
}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def _load_error(message: str) -> Exception:
    from pyctr.core.errors import PluginLoadError

    return PluginLoadError(message)


class _NeedsPluggy(Exception):
    """Something only pluggy does (a wrapper, an unreadable implementation): hand over."""


def _argnames(function: Callable[..., Any]) -> tuple[str, ...]:
    """The arguments pluggy passes to an implementation: its positional ones without
    defaults, less ``self`` of a method (pluggy's ``varnames``)."""
    func = getattr(function, "__func__", function)
    code = getattr(func, "__code__", None)
    if code is None or not isinstance(func, type(_truthy)) or hasattr(func, "__wrapped__") \
            or hasattr(func, "__signature__"):
        raise _NeedsPluggy  # a class, a partial, a decorated or C function: pluggy reads those with inspect
    names = code.co_varnames[:code.co_argcount]
    if func.__defaults__:
        names = names[:-len(func.__defaults__)]
    if names and (function is not func or ("." in func.__qualname__ and names[0] == "self")):
        names = names[1:]
    return names


class _Impl:
    __slots__ = ("plugin_name", "function", "argnames", "tryfirst", "trylast")

    def __init__(self, plugin_name: str, function: Callable[..., Any], opts: dict[str, Any]) -> None:
        self.plugin_name = plugin_name
        self.function = function
        self.argnames = _argnames(function)
        self.tryfirst = bool(opts.get("tryfirst"))
        self.trylast = bool(opts.get("trylast"))


def _impls_of(name: str, plugin: object) -> list[tuple[str, _Impl]]:
    """(hook, implementation) of a plugin, as pluggy's register would find them."""
    found = []
    for attr in dir(plugin):
        if not attr.startswith("pyctr_"):  # (as pyctr's PluginManager: only pyctr_* names are hooks)
            continue
        function = getattr(plugin, attr, None)
        opts = getattr(function, "pyctr_impl", None)
        if not callable(function) or not isinstance(opts, dict):
            continue
        if opts.get("wrapper") or opts.get("hookwrapper"):
            raise _NeedsPluggy
        hook = opts.get("specname") or attr
        impl = _Impl(name, function, opts)
        if hook not in _SPECS or not set(impl.argnames) <= set(_SPECS[hook]):
            raise _NeedsPluggy  # pluggy gives the error (unknown hook, arguments not in the spec)
        found.append((hook, impl))
    return found


class _DirectHooks:
    """Plain implementations called in pluggy's order, without pluggy."""

    def __init__(self) -> None:
        self.hooks: dict[str, list[_Impl]] = {}

    def add(self, name: str, plugin: object) -> None:
        impls = _impls_of(name, plugin)  # all or nothing: _NeedsPluggy leaves nothing half-added
        for hook, impl in impls:
            methods = self.hooks.setdefault(hook, [])
            # pluggy's HookCaller._add_hookimpl for non-wrappers
            if impl.trylast:
                methods.insert(0, impl)
            elif impl.tryfirst:
                methods.append(impl)
            else:
                i = len(methods) - 1
                while i >= 0 and methods[i].tryfirst:
                    i -= 1
                methods.insert(i + 1, impl)

    def remove(self, name: str) -> None:
        for hook, methods in self.hooks.items():
            self.hooks[hook] = [m for m in methods if m.plugin_name != name]

    def impls(self, hook: str) -> list[_Impl]:
        """In call order."""
        return list(reversed(self.hooks.get(hook, [])))

    def call(self, hook: str, kwargs: dict[str, Any], only: str | None = None) -> list[Any]:
        results = []
        for impl in self.impls(hook):
            if only is not None and impl.plugin_name != only:
                continue
            result = impl.function(*[kwargs[a] for a in impl.argnames])
            if result is not None:
                results.append(result)
        return results


class PyctrPlugins:
    """One typed method per hook, so no one else calls hooks."""

    def __init__(self, use_pluggy: bool | None = None) -> None:
        self._pm: Any = None  # pluggy's PluginManager, once one is needed
        self._direct: _DirectHooks | None = None
        self._loaded = False  # the load has begun
        self._ready = False  # the load is over: any thread may call hooks
        self._loading = _thread.allocate_lock()  # (_thread: threading's import is not on the start path)
        self._loader: int | None = None  # the thread that is loading
        #: every registration, in order: what pluggy gets when it takes over
        self._registered: list[tuple[str, object]] = []
        self._use_pluggy = use_pluggy
        self._config: dict[str, Any] | None = None
        #: plugin name -> (distribution, version) for ``pyctr plugins``
        self.sources: dict[str, tuple[str, str]] = {}
        #: hook plugins that could not be loaded: (entry point name, distribution, the error)
        self.failures: list[tuple[str, str, str]] = []
        #: a plugin that fails to load stops the command (``pyctr plugins`` lists it instead)
        self.strict = True

    # -- loading -----------------------------------------------------------

    def load(self) -> None:
        """Load the plugins now (idempotent): a process about to fork loads them first.

        Thread-safe: a thread that calls a hook while another is loading waits for the load
        (the API service's request threads; before this lock the second thread saw a facade
        with neither direct hooks nor pluggy). The loading thread itself (a plugin's
        pyctr_configure calling a hook) goes on, as before.
        """
        if self._ready or self._loader == _thread.get_ident():
            return
        with self._loading:
            if self._loaded:
                return  # (another thread loaded them meanwhile)
            self._loaded = True
            self._loader = _thread.get_ident()
            try:
                self._load()
            finally:
                self._loader = None
                self._ready = True

    def _load(self) -> None:
        entry_points = [] if _truthy(os.environ.get("PYCTR_DISABLE_PLUGIN_AUTOLOAD")) else self._wanted_entry_points()
        want_pluggy = self._use_pluggy
        if want_pluggy is None:
            # a third party's plain implementations go direct too; one that needs pluggy hands over in _add
            want_pluggy = _truthy(os.environ.get("PYCTR_TRACE_PLUGINS"))
        if not want_pluggy:
            self._direct = _DirectHooks()
        for modname in BUILTIN_PLUGINS:
            module = importlib.import_module(modname)
            for plugin in getattr(module, "PLUGINS", [module]):
                self._add(getattr(plugin, "plugin_name", modname), plugin, ("pyctr", _own_version()))
        if want_pluggy:
            self._switch_to_pluggy()
        for ep in entry_points:
            try:
                plugin = ep.load()
            except Exception as e:  # noqa: BLE001  (any error of a third party's import: named, and the rest goes on)
                self.failures.append((ep.name, ep.dist, f"{type(e).__name__}: {e}"))
                continue
            self._add(ep.name, plugin, (ep.dist, ep.version))
        if self._pm is not None:
            self._pm.check_pending()
        if self._config is not None:
            self._call("pyctr_configure", {"config": self._config})
        if self.failures and self.strict and not _truthy(os.environ.get("PYCTR_IGNORE_PLUGIN_ERRORS")):
            name, dist, error = self.failures[0]
            raise _load_error(
                f"hook plugin {name!r} (entry point {name} in group {ENTRY_POINT_GROUP!r} of distribution "
                f"{dist}) failed to load: {error}; uninstall or fix it, leave it out with "
                f"PYCTR_LOAD_PLUGINS=<the others>, or run with PYCTR_IGNORE_PLUGIN_ERRORS=1")

    def _wanted_entry_points(self) -> list[Any]:
        from pyctr.core import entrypoints

        wanted = os.environ.get("PYCTR_LOAD_PLUGINS")
        allowed = {_norm(d) for d in wanted.split(",") if d.strip()} if wanted is not None else None
        out = []
        for ep in entrypoints.group(ENTRY_POINT_GROUP):
            # PYCTR_LOAD_PLUGINS names distributions or entry points
            if allowed is not None and _norm(ep.dist) not in allowed and _norm(ep.name) not in allowed:
                continue
            out.append(ep)
        if allowed is not None:
            known = {_norm(ep.dist) for ep in entrypoints.group(ENTRY_POINT_GROUP)} | {
                _norm(ep.name) for ep in entrypoints.group(ENTRY_POINT_GROUP)}
            unknown = sorted(allowed - known)
            if unknown:
                from pyctr.core.errors import UsageError

                raise UsageError(f"PYCTR_LOAD_PLUGINS names {', '.join(unknown)}: no installed distribution or "
                                 f"entry point in group {ENTRY_POINT_GROUP!r} has that name")
        return out

    def _add(self, name: str, plugin: object, source: tuple[str, str] | None) -> None:
        if any(n == name for n, _ in self._registered):
            return
        self._registered.append((name, plugin))
        if source:
            self.sources[name] = source
        if self._direct is not None:
            try:
                self._direct.add(name, plugin)
                return
            except _NeedsPluggy:
                self._switch_to_pluggy()  # (registers it with the rest)
                return
        if self._pm is not None:
            self._pm.register(plugin, name=name)

    def _switch_to_pluggy(self) -> None:
        """pluggy's PluginManager, with every registration so far, in order."""
        if self._pm is not None:
            return
        import pluggy

        class _PluginManager(pluggy.PluginManager):
            # pyctr's markers (pyctr.core.hookspecs) keep their options where pluggy's do; read
            # them through pluggy's documented overrides. Only pyctr_* names can be hooks: a
            # driver instance has dozens of other attributes, not worth pluggy's look-up.
            def parse_hookimpl_opts(self, plugin: object, name: str):  # noqa: ANN202
                if not name.startswith("pyctr_"):
                    return None
                opts = getattr(getattr(plugin, name, None), "pyctr_impl", None)
                return dict(opts) if isinstance(opts, dict) else None

            def parse_hookspec_opts(self, module_or_class: object, name: str):  # noqa: ANN202
                opts = getattr(getattr(module_or_class, name, None), "pyctr_spec", None)
                return dict(opts) if isinstance(opts, dict) else None

        pm = _PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        for name, plugin in self._registered:
            pm.register(plugin, name=name)
        if _truthy(os.environ.get("PYCTR_TRACE_PLUGINS")):
            pm.trace.root.setwriter(lambda msg: sys.stderr.write(f"pyctr-trace: {msg}"))
            pm.enable_tracing()
        self._pm = pm
        self._direct = None

    @property
    def pm(self) -> Any:
        """pluggy's PluginManager (imports pluggy: for ``pyctr plugins`` and tests)."""
        self.load()
        self._switch_to_pluggy()
        return self._pm

    @property
    def uses_pluggy(self) -> bool:
        self.load()
        return self._pm is not None

    def register(self, plugin: object, name: str | None = None, source: tuple[str, str] | None = None) -> None:
        """Register an object (a selected driver, a test plugin) for hooks; it hears pyctr_configure now."""
        self.load()
        if any(p is plugin for _, p in self._registered):
            return
        name = name or f"{type(plugin).__name__}-{id(plugin)}"
        if any(n == name for n, _ in self._registered):
            # A new instance of the same driver (a fresh Engine after fork) replaces the old one.
            self._remove(name)
        self._add(name, plugin, source)
        if self._pm is not None:
            self._pm.check_pending()
        if self._config is not None:
            self._call("pyctr_configure", {"config": self._config}, only=name)

    def unregister(self, plugin: object) -> None:
        for name, p in list(self._registered):
            if p is plugin:
                self._remove(name)

    def _remove(self, name: str) -> None:
        self._registered = [(n, p) for n, p in self._registered if n != name]
        self.sources.pop(name, None)
        if self._direct is not None:
            self._direct.remove(name)
        if self._pm is not None and self._pm.get_plugin(name) is not None:
            self._pm.unregister(name=name)

    def failures_now(self) -> list[tuple[str, str, str]]:
        """(entry point, distribution, error) of each hook plugin that failed to load (loads them)."""
        self.load()
        return list(self.failures)

    def list(self) -> list[tuple[str, str, str]]:
        """(name, distribution, version) of every hook plugin."""
        self.load()
        out = []
        for name, _ in self._registered:
            dist, version = self.sources.get(name, ("?", "?"))
            out.append((name, dist, version))
        return sorted(out)

    def implements(self, hook: str) -> bool:
        """Whether any loaded hook plugin implements ``hook`` (a runtime that runs the init's
        hooks elsewhere need not load plugins there when none does)."""
        self.load()
        if self._direct is not None:
            return bool(self._direct.impls(hook))
        return bool(getattr(self._pm.hook, hook).get_hookimpls())

    def hooks_of(self, name: str) -> list[str]:
        pm = self.pm
        plugin = pm.get_plugin(name)
        return sorted(h.name for h in (pm.get_hookcallers(plugin) or [])) if plugin else []

    # -- calling -----------------------------------------------------------

    def _call(self, hook: str, kwargs: dict[str, Any], only: str | None = None) -> list[Any]:
        self.load()
        if self._direct is not None:
            return self._direct.call(hook, kwargs, only)
        caller = getattr(self._pm.hook, hook)
        if only is not None:
            others = [p for n, p in self._registered if n != only]
            caller = self._pm.subset_hook_caller(hook, remove_plugins=others)
        return caller(**kwargs)

    def _each(self, hook: str, kwargs: dict[str, Any]) -> tuple[list[Any], list[str]]:
        """Every implementation in order, each its own call (through pluggy when it is in use:
        argument subsets, tracing, the plugin's own wrappers), one failing not stopping the next.
        (results, failures as "plugin: error")."""
        self.load()
        results: list[Any] = []
        errors: list[str] = []
        if self._direct is not None:
            plan = [(impl.plugin_name, None) for impl in self._direct.impls(hook)]
        else:
            pm = self._pm
            plan = []
            for impl in reversed(getattr(pm.hook, hook).get_hookimpls()):
                if impl.hookwrapper or impl.wrapper:
                    continue
                keep = impl.plugin
                others = [p for p in pm.get_plugins() if p is not keep]
                plan.append((impl.plugin_name, pm.subset_hook_caller(hook, remove_plugins=others)))
        done = set()
        for name, caller in plan:
            if name in done:  # (one plugin's two implementations of a hook: one call makes both)
                continue
            done.add(name)
            try:
                if caller is None:
                    results.extend(self._direct.call(hook, kwargs, only=name))  # type: ignore[union-attr]
                else:
                    results.extend(caller(**kwargs))
            except Exception as e:  # noqa: BLE001  (each plugin's failure is reported, none stops the rest)
                errors.append(f"{name}: {e}")
        return results, errors

    # -- hooks, in lifecycle order -----------------------------------------

    def configure(self, config: dict[str, Any]) -> None:
        """Remember the settings; plugins hear of them when they load (``pyctr ps`` loads none)."""
        self._config = config
        if self._loaded:
            self._call("pyctr_configure", {"config": config})

    def register_commands(self, register: Callable[[Any], None]) -> None:
        self._call("pyctr_register_commands", {"register": register})

    def modify_container_spec(self, spec: ContainerSpec) -> None:
        self._call("pyctr_modify_container_spec", {"spec": spec})

    def namespace_flags(self, spec: ContainerSpec) -> int:
        flags = 0
        for flag in self._call("pyctr_namespace_flags", {"spec": spec}):
            flags |= flag or 0
        return flags

    def create_container(self, container: Container) -> None:
        self._call("pyctr_create_container", {"container": container})

    def create_runtime(self, container: Container, pid: int) -> None:
        self._call("pyctr_create_runtime", {"container": container, "pid": pid})

    def setup_child(self, spec: ContainerSpec, rootfs: str) -> None:
        self._call("pyctr_setup_child", {"spec": spec, "rootfs": rootfs})

    def start_container(self, spec: ContainerSpec) -> None:
        self._call("pyctr_start_container", {"spec": spec})

    def poststart(self, container: Container, pid: int) -> None:
        self._call("pyctr_poststart", {"container": container, "pid": pid})

    def poststop(self, container: Container) -> list[str]:
        """Every implementation runs even when one fails; the failures are returned."""
        return self._each("pyctr_poststop", {"container": container})[1]

    def cleanup_orphans(self, live_container_ids: set[str]) -> list[str]:
        lines: list[str] = []
        for result in self._call("pyctr_cleanup_orphans", {"live_container_ids": live_container_ids}):
            lines.extend(result or [])
        return lines

    def report_status(self) -> list[tuple[str, str]]:
        lines: list[tuple[str, str]] = []
        for result in self._call("pyctr_report_status", {}):
            lines.extend(result or [])
        return lines


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _own_version() -> str:
    from pyctr import __version__

    return __version__


#: the process-wide facade
plugins = PyctrPlugins()
