"""pyroute2's rtnetlink message codecs (ifinfmsg, ifaddrmsg, rtmsg), without its package ``__init__``.

Importing any ``pyroute2.*`` module runs ``pyroute2/__init__.py``, which
imports every protocol the library knows (asyncio, NDB, IPDB, wireguard,
...): about 136 ms (230+ ms on a loaded machine) on every bridged ``pyctr
run``; and ``pyroute2.config`` imports multiprocessing and platform (~7 ms)
for IPDB/NDB settings. The bridge driver needs only three codecs, so this
module, and only this one, loads exactly those submodules: the ``pyroute2``
and ``pyroute2.config`` packages are placeholders in ``sys.modules`` while
they import (the codecs read nothing else of them at import), then leave, so
a later ``import pyroute2`` gets the real package. The standard modules the
codecs import are the real ones.

This leans on how pyroute2 lays out its package, so it is used only for the
versions it was checked with (:data:`CHECKED`, setup.cfg's pin), read from
the installed distribution's metadata directory; with any other version the
codecs come through a plain ``import pyroute2`` (slower, always right).
``tests/unit/test_netlink_codecs.py`` fails, naming the version, when the
installed pyroute2 is outside that range or the light import no longer
gives the package's own codecs.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

#: pyroute2 versions this light import was checked with: >= the first, < the second
CHECKED = ((0, 9), (0, 10))

_messages: dict[str, Any] | None = None


def installed_version() -> tuple[int, ...] | None:
    """pyroute2's version from its ``pyroute2-X.Y.Z.dist-info`` beside the package (no importlib.metadata:
    its import is ~30 ms), or None when it cannot be read."""
    spec = importlib.util.find_spec("pyroute2") if "pyroute2" not in sys.modules else sys.modules["pyroute2"].__spec__
    if spec is None or not spec.submodule_search_locations:
        return None
    site = os.path.dirname(list(spec.submodule_search_locations)[0])
    try:
        names = os.listdir(site)
    except OSError:
        return None
    for name in names:
        if name.startswith("pyroute2-") and name.endswith(".dist-info"):
            try:
                return tuple(int(p) for p in name[len("pyroute2-"):-len(".dist-info")].split(".")[:3])
            except ValueError:
                return None
    return None


def light_import_applies() -> bool:
    version = installed_version()
    return version is not None and CHECKED[0] <= version[:2] < CHECKED[1]


def messages() -> dict[str, Any]:
    """{"ifinfmsg": class, "ifaddrmsg": class, "rtmsg": class}."""
    global _messages
    if _messages is None:
        modules = ("pyroute2.netlink.rtnl.ifinfmsg", "pyroute2.netlink.rtnl.ifaddrmsg", "pyroute2.netlink.rtnl.rtmsg")
        if "pyroute2" in sys.modules or not light_import_applies():
            if importlib.util.find_spec("pyroute2") is None:
                from pyctr.core.errors import PrerequisitesMissing

                raise PrerequisitesMissing("the bridge network driver needs pyroute2: pip install 'pyroute2>=0.9,<0.10'")
            loaded = [importlib.import_module(m) for m in modules]
        else:
            loaded = _light(modules)
        ifinf, ifaddr, rt = loaded
        _messages = {"ifinfmsg": ifinf.ifinfmsg, "ifaddrmsg": ifaddr.ifaddrmsg, "rtmsg": rt.rtmsg}
    return _messages


def _light(modules: tuple[str, ...]) -> list[types.ModuleType]:
    spec = importlib.util.find_spec("pyroute2")
    placeholders: dict[str, types.ModuleType] = {}
    package = types.ModuleType("pyroute2")
    package.__path__ = list(spec.submodule_search_locations)  # type: ignore[union-attr]
    package.__spec__ = spec
    package.__file__ = spec.origin  # type: ignore[union-attr]
    placeholders["pyroute2"] = sys.modules["pyroute2"] = package  # before the next find_spec runs the real one
    try:
        if "pyroute2.config" not in sys.modules:
            placeholders["pyroute2.config"] = sys.modules["pyroute2.config"] = _config()
        return [importlib.import_module(m) for m in modules]
    finally:
        for name, placeholder in placeholders.items():
            if sys.modules.get(name) is placeholder:
                # a later plain "import pyroute2" gets the real package; the codec
                # submodules stay cached and are reused
                del sys.modules[name]


def _config() -> types.ModuleType:
    """``pyroute2.config`` as the codecs read it at import; any other attribute is the real module's,
    loaded on that first use."""
    import socket  # (the codecs import it anyway)

    spec = importlib.util.find_spec("pyroute2.config")
    config = types.ModuleType("pyroute2.config")
    config.__spec__ = spec
    config.__file__ = spec.origin if spec else None
    config.data_plugins_pkgs = []  # type: ignore[attr-defined]
    config.data_plugins_path = []  # type: ignore[attr-defined]
    config.machine = os.uname().machine  # type: ignore[attr-defined]  (platform.machine() is this)
    config.AF_BRIDGE = getattr(socket, "AF_BRIDGE", 7)  # type: ignore[attr-defined]
    config.AF_NETLINK = getattr(socket, "AF_NETLINK", 16)  # type: ignore[attr-defined]

    def real_attribute(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)  # the import system asks for __path__ and the like
        real = sys.modules.get("pyroute2.config")
        if real is None or real is config:
            real = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            spec.loader.exec_module(real)  # type: ignore[union-attr]
        return getattr(real, name)

    config.__getattr__ = real_attribute  # type: ignore[attr-defined]  (PEP 562)
    return config
