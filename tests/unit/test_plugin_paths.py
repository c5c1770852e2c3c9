"""The facade's two ways to call hooks (pyctr.core.plugins): pluggy's PluginManager, and the direct
calls it makes when no third-party hook plugin is loaded. Both must call the same implementations,
in the same order, with the same arguments, and give the same results and errors."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from pyctr import hookimpl
from pyctr.core import hookspecs
from pyctr.core.plugins import PyctrPlugins

HOOKS = sorted(n for n in vars(hookspecs) if n.startswith("pyctr_"))


class Plugin:
    """A plain object (hashable, as pluggy needs its plugins to be)."""


def recorder(log: list, name: str, fail_on: tuple[str, ...] = (), **opts) -> Plugin:
    """A plugin implementing every hook: it records its calls and returns something of its own."""
    ns = Plugin()
    for hook in HOOKS:
        spec = getattr(hookspecs, hook)
        args = spec.__code__.co_varnames[:spec.__code__.co_argcount]

        def impl(*values, _hook=hook, _args=args):
            log.append((name, _hook, dict(zip(_args, values))))
            if _hook in fail_on:
                raise RuntimeError(f"{name} fails in {_hook}")
            if _hook == "pyctr_namespace_flags":
                return 1 << len(log)
            if _hook in ("pyctr_cleanup_orphans",):
                return [f"{name} removed something"]
            if _hook == "pyctr_report_status":
                return [(name, "ok")]
            return None

        # pluggy passes each implementation only the arguments it names: give every
        # function exactly its spec's arguments (some: fewer)
        src = f"def {hook}({', '.join(args)}):\n    return _impl({', '.join(args)})\n"
        scope = {"_impl": impl}
        exec(src, scope)  # noqa: S102  (a function with real named parameters, as a plugin writes one)
        setattr(ns, hook, hookimpl(**opts)(scope[hook]) if opts else hookimpl(scope[hook]))
    return ns


class Subset:
    """Methods naming fewer arguments than their specs, tryfirst and trylast."""

    def __init__(self, log: list) -> None:
        self.log = log

    @hookimpl(tryfirst=True)
    def pyctr_namespace_flags(self, spec):
        self.log.append(("subset", "pyctr_namespace_flags", {"spec": spec}))
        return 1 << 20

    @hookimpl
    def pyctr_create_runtime(self, pid):
        self.log.append(("subset", "pyctr_create_runtime", {"pid": pid}))

    @hookimpl(trylast=True)
    def pyctr_cleanup_orphans(self, live_container_ids):
        self.log.append(("subset", "pyctr_cleanup_orphans", {"live_container_ids": live_container_ids}))
        return ["subset last"]

    @hookimpl(trylast=True)
    def pyctr_poststop(self, container):
        self.log.append(("subset", "pyctr_poststop", {"container": container}))
        raise OSError("subset's poststop fails")


def exercise(facade: PyctrPlugins, log: list) -> list:
    """Every facade method, with the same arguments; what each returned or raised."""
    spec = SimpleNamespace(namespaces={"network": "host"}, uid_map=[], labels={})
    container = SimpleNamespace(id="c1", name="n", spec=spec)
    facade.configure({"root": "/r"})
    out = []
    calls = [
        ("register_commands", lambda: facade.register_commands(print)),
        ("modify_container_spec", lambda: facade.modify_container_spec(spec)),
        ("namespace_flags", lambda: facade.namespace_flags(spec)),
        ("create_container", lambda: facade.create_container(container)),
        ("create_runtime", lambda: facade.create_runtime(container, 42)),
        ("setup_child", lambda: facade.setup_child(spec, "/rootfs")),
        ("start_container", lambda: facade.start_container(spec)),
        ("poststart", lambda: facade.poststart(container, 42)),
        ("poststop", lambda: facade.poststop(container)),
        ("cleanup_orphans", lambda: facade.cleanup_orphans({"c1"})),
        ("report_status", lambda: facade.report_status()),
    ]
    for name, call in calls:
        try:
            out.append((name, call()))
        except Exception as e:  # noqa: BLE001
            out.append((name, f"raised {type(e).__name__}: {e}"))
    out.append(("log", list(log)))
    return out


def build(use_pluggy: bool, monkeypatch: pytest.MonkeyPatch, failing: bool = False):
    monkeypatch.setenv("PYCTR_DISABLE_PLUGIN_AUTOLOAD", "1")  # the built-ins and these only
    monkeypatch.delenv("PYCTR_TRACE_PLUGINS", raising=False)
    log: list = []
    facade = PyctrPlugins(use_pluggy=use_pluggy)
    facade.register(recorder(log, "first", fail_on=("pyctr_poststop",) if failing else ()), name="first")
    facade.register(Subset(log), name="subset")
    facade.register(recorder(log, "early", tryfirst=True), name="early")
    facade.register(recorder(log, "late", trylast=True), name="late")
    facade.register(recorder(log, "second", fail_on=("pyctr_start_container",) if failing else ()),
                    name="second")
    return facade, log


@pytest.mark.parametrize("failing", [False, True], ids=["plain", "with failures"])
def test_both_paths_call_the_same_implementations_in_the_same_order(monkeypatch, failing):
    direct, dlog = build(False, monkeypatch, failing)
    through_pluggy, plog = build(True, monkeypatch, failing)
    assert not direct.uses_pluggy and through_pluggy.uses_pluggy
    d, p = exercise(direct, dlog), exercise(through_pluggy, plog)
    assert d == p
    log = dict(d)["log"]
    # (the built-in namespace plugins answered too, and the order is pluggy's)
    order = [name for name, hook, _ in log if hook == "pyctr_namespace_flags"]
    assert order == ["early", "subset", "second", "first", "late"]  # tryfirst: the later registered first
    assert dict(d)["namespace_flags"] & ~((1 << 21) - 1)  # the built-ins' CLONE_NEW* flags are in
    assert [n for n, h, _ in log if h == "pyctr_configure"] == ["early", "second", "first", "late"]
    assert ("subset", "pyctr_create_runtime", {"pid": 42}) in log
    if failing:
        # a plain hook stops at the first failure; poststop runs every implementation
        assert dict(d)["start_container"] == "raised RuntimeError: second fails in pyctr_start_container"
        assert dict(d)["poststop"] == ["first: first fails in pyctr_poststop", "subset: subset's poststop fails"]
        assert [n for n, h, _ in log if h == "pyctr_poststop"] == ["early", "second", "first", "subset", "late"]


def test_a_wrapper_hands_every_registration_over_to_pluggy_in_order(monkeypatch):
    facade, log = build(False, monkeypatch)
    facade.configure({"root": "/r"})
    assert not facade.uses_pluggy

    class Wrapper:
        @hookimpl(wrapper=True)
        def pyctr_namespace_flags(self, spec):
            log.append(("wrapper", "pyctr_namespace_flags", {}))
            return (yield)

    facade.register(Wrapper(), name="wrapper")
    assert facade.uses_pluggy
    log.clear()
    facade.namespace_flags(SimpleNamespace(namespaces={}, uid_map=[]))
    assert [n for n, *_ in log] == ["wrapper", "early", "subset", "second", "first", "late"]
    # configure went to every plugin once, and not again at the hand-over
    facade2, log2 = build(False, monkeypatch)
    facade2.configure({"root": "/r"})
    facade2.register(Wrapper(), name="wrapper")
    assert [n for n, h, _ in log2 if h == "pyctr_configure"] == ["early", "second", "first", "late"]


def _fresh(code: str, **env: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, **env}).stdout.strip()


def test_plain_hook_plugins_do_not_import_pluggy_and_tracing_does():
    code = ("import sys\nfrom types import SimpleNamespace as S\nfrom pyctr.core.plugins import plugins\n"
            "print(plugins.namespace_flags(S(namespaces={}, uid_map=[])) > 0, plugins.uses_pluggy, "
            "'pluggy' in sys.modules, 'inspect' in sys.modules)")
    assert _fresh(code, PYCTR_DISABLE_PLUGIN_AUTOLOAD="1") == "True False False False"
    # an installed third-party hook plugin of plain implementations (tests install pyctr-example)
    # is called directly too, and is called: its spec change is there
    example = code + "\nfrom pyctr.core.spec import ContainerSpec\ns = ContainerSpec()\n" \
        "plugins.modify_container_spec(s)\nprint(s.labels, plugins.sources['example-labels'][0])"
    assert _fresh(example, PYCTR_LOAD_PLUGINS="pyctr-example").splitlines() == [
        "True False False False", "{'org.pyctr.example': 'yes'} pyctr-example"]
    assert _fresh(code, PYCTR_DISABLE_PLUGIN_AUTOLOAD="1", PYCTR_TRACE_PLUGINS="1").endswith("True True True")


def test_pyctr_markers_are_read_by_pluggy_and_pluggys_by_pyctr(monkeypatch):
    import pluggy

    monkeypatch.setenv("PYCTR_DISABLE_PLUGIN_AUTOLOAD", "1")
    seen = []

    class ByPluggysMarker:
        @pluggy.HookimplMarker("pyctr")
        def pyctr_report_status(self):
            seen.append("pluggy's marker")
            return [("x", "y")]

    for use_pluggy in (False, True):
        facade = PyctrPlugins(use_pluggy=use_pluggy)
        facade.register(ByPluggysMarker(), name="m")
        assert facade.report_status() == [("x", "y")]
    assert seen == ["pluggy's marker"] * 2


def test_a_hook_called_while_another_thread_loads_waits_for_the_load(tmp_path, monkeypatch):
    # The API service's request threads: the second caller once saw a facade that had begun
    # loading but had neither direct hooks nor pluggy yet ("'NoneType' object has no attribute 'hook'")
    import threading
    import time

    name = f"slow_plugin_{os.getpid()}"
    (tmp_path / f"{name}.py").write_text(
        "import time\ntime.sleep(0.3)  # (a plugin module whose import takes a while)\n"
        "from pyctr import hookimpl\n\n@hookimpl\ndef pyctr_namespace_flags(spec):\n    return 4\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("pyctr.core.plugins.BUILTIN_PLUGINS", (name,))
    monkeypatch.setenv("PYCTR_DISABLE_PLUGIN_AUTOLOAD", "1")
    facade = PyctrPlugins()
    loader = threading.Thread(target=facade.load)
    loader.start()
    deadline = time.monotonic() + 10
    while not facade._loaded and time.monotonic() < deadline:
        time.sleep(0.001)
    assert facade._loaded and not facade._ready  # (the other thread is inside the load now)
    assert facade.namespace_flags(SimpleNamespace(namespaces={}, uid_map=[])) == 4
    loader.join()
    assert facade.namespace_flags(SimpleNamespace(namespaces={}, uid_map=[])) == 4
