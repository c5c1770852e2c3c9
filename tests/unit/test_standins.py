"""pyctr.core.standins: modules imported with stand-ins work as with the real modules,
and the stand-ins never outlive the import in sys.modules."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pyctr.core import standins


def _fresh(code: str) -> list[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.splitlines()


def test_importing_pyctr_loads_neither_source_reading_nor_url_modules() -> None:
    # (an environment may have imported some of them before: setuptools' editable finder imports pathlib)
    # (dis is stood in for only where its code flags are 3.11's)
    out = _fresh("import sys\nbefore = set(sys.modules)\nimport pyctr.core.hookspecs\n"
                 "print(sorted(m for m in ('linecache', 'tokenize', 'ast', 'ipaddress', 'urllib.parse',\n"
                 "                         *(('dis',) if sys.version_info[:2] == (3, 11) else ()))\n"
                 "             if m in sys.modules and m not in before))")
    assert out == ["[]"]


def test_what_was_imported_through_stand_ins_still_works() -> None:
    out = _fresh(
        "import sys, pyctr, pathlib, inspect\n"
        "print(pathlib.Path('/a b').as_uri())\n"
        "print(inspect.getsource(pyctr.core.standins.real_module).splitlines()[0])\n"
        "print(inspect.getsource(pyctr.core.standins.StandIn).splitlines()[0])\n"  # (a class: ast's visitor)
        "print(inspect.isgeneratorfunction(lambda: (yield)), inspect.iscoroutinefunction(lambda: 0))\n"
        "import linecache, ipaddress, urllib.parse\n"
        "print(type(linecache).__name__, type(ipaddress).__name__, ipaddress.ip_address('10.0.0.1').version)\n"
        "print(urllib.parse.urlsplit('http://[::1]:8/').hostname)\n"
        "print(any(type(m).__name__ == 'StandIn' for m in sys.modules.values()))")
    assert out == ["file:///a%20b", "def real_module(name: str) -> ModuleType:", "class StandIn(ModuleType):",
                   "True False", "module module 4", "::1", "False"]


def test_the_code_flags_stood_in_for_dis_are_the_real_ones() -> None:
    import dis

    if "dis" in standins.INSPECT:
        assert standins.INSPECT["dis"]["COMPILER_FLAG_NAMES"] == dis.COMPILER_FLAG_NAMES


def test_a_stand_in_answers_with_the_real_module_and_then_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    # a module of the standard library this test process has not imported
    name = next(m for m in ("colorsys", "graphlib", "sched", "netrc") if m not in sys.modules)
    monkeypatch.delitem(sys.modules, "pyctr_standin_probe", raising=False)
    seen: dict[str, object] = {}

    class Finder:  # a module "imported" under the stand-in: it keeps a reference, as pathlib does
        @staticmethod
        def find_spec(fullname: str, path: object = None, target: object = None) -> object:
            if fullname != "pyctr_standin_probe":
                return None
            import importlib.util

            class Loader:
                def create_module(self, spec: object) -> None:
                    return None

                def exec_module(self, module: object) -> None:
                    seen["during"] = type(sys.modules[name]).__name__
                    module.dep = __import__(name)  # type: ignore[attr-defined]
                    module.eager = module.dep.EAGER  # type: ignore[attr-defined]

            return importlib.util.spec_from_loader(fullname, Loader())

    monkeypatch.setattr(sys, "meta_path", [Finder(), *sys.meta_path])
    try:
        (probe,) = standins.import_with({name: {"EAGER": 42}}, "pyctr_standin_probe")
        assert seen["during"] == "StandIn"
        assert probe.eager == 42
        assert name not in sys.modules  # the stand-in left; nothing real was needed yet
        assert probe.dep.__name__ == name
        real_attr = next(a for a in dir(standins.real_module(name)) if not a.startswith("_"))
        assert getattr(probe.dep, real_attr) is getattr(sys.modules[name], real_attr)
        assert type(sys.modules[name]).__name__ == "module"
    finally:
        sys.modules.pop("pyctr_standin_probe", None)
        sys.modules.pop(name, None)


def test_a_module_already_imported_is_used_as_it_is() -> None:
    before = sys.modules["json"]
    standins.import_with({"json": {}}, "json")
    assert sys.modules["json"] is before
