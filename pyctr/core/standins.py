"""Import a module without the standard modules it needs only on rare paths.

Some modules on the start path import others only for a corner: pathlib
imports urllib.parse for ``as_uri()`` (and urllib.parse imports ipaddress),
inspect (under pluggy) imports tokenize, linecache and ast for ``getsource()``,
pyroute2's codecs import logging, threading and traceback for their error
paths. Together that is 10-20 ms of every ``pyctr run``.

While :func:`import_with` imports a module, such names are *stand-ins*: a
module object holding what the importing code reads at import time
("eager" attributes, the real objects or thin wrappers of them) and, for any
other attribute, the real module's, imported on that first use. Once the
import is done the stand-ins leave ``sys.modules``: every later import gets
the real module, and the modules imported meanwhile keep a stand-in that
answers with the real module's attributes. A name already imported is
used as it is.
"""

from __future__ import annotations

import sys
from types import ModuleType


class StandIn(ModuleType):
    """A module's eager attributes; any other one is the real module's."""

    def __init__(self, name: str, eager: dict[str, object]) -> None:
        super().__init__(name)
        self.__dict__.update(eager)

    def __getattr__(self, attr: str) -> object:
        if attr.startswith("__"):
            raise AttributeError(attr)  # the import system asks for __path__ and the like
        return getattr(real_module(self.__name__), attr)


def real_module(name: str) -> ModuleType:
    """The module ``name`` itself, even while a stand-in for it is in place."""
    if isinstance(sys.modules.get(name), StandIn):
        del sys.modules[name]
    __import__(name)
    return sys.modules[name]


def import_with(stand_ins: dict[str, dict[str, object]], *names: str) -> list[ModuleType]:
    """Import the modules ``names`` while the modules named in ``stand_ins`` are stand-ins."""
    placed = []
    for other, eager in stand_ins.items():
        if other not in sys.modules:
            sys.modules[other] = StandIn(other, eager)
            placed.append(other)
    try:
        for name in names:
            __import__(name)
        return [sys.modules[name] for name in names]
    finally:
        for other in placed:
            if isinstance(sys.modules.get(other), StandIn):
                del sys.modules[other]


def _quote_from_bytes(*args: object, **kwargs: object) -> object:
    return real_module("urllib.parse").quote_from_bytes(*args, **kwargs)


#: pathlib reads ``quote_from_bytes`` at import and calls it only in ``as_uri()``
PATHLIB = {"urllib.parse": {"quote_from_bytes": _quote_from_bytes}, "ipaddress": {}}
class _NodeVisitor:
    """``ast.NodeVisitor`` as the base of inspect's one class that reads source
    code (``_ClassFinder``): its methods are the real class's, looked up on use."""

    def visit(self, node: object) -> object:
        return real_module("ast").NodeVisitor.visit(self, node)

    def generic_visit(self, node: object) -> object:
        return real_module("ast").NodeVisitor.generic_visit(self, node)

    def visit_Constant(self, node: object) -> object:  # noqa: N802  (ast's name)
        return real_module("ast").NodeVisitor.visit_Constant(self, node)


#: dis's, read by inspect at import (its CO_* names): CPython's code flags, as in dis.py
#: (tests/unit/test_standins.py compares them with the real module's)
_CODE_FLAGS = {1: "OPTIMIZED", 2: "NEWLOCALS", 4: "VARARGS", 8: "VARKEYWORDS", 16: "NESTED", 32: "GENERATOR",
               64: "NOFREE", 128: "COROUTINE", 256: "ITERABLE_COROUTINE", 512: "ASYNC_GENERATOR"}

#: inspect (pluggy's) uses these only to read source code (linecache, tokenize,
#: token, ast) or to disassemble (dis, which inspect's import reads the code
#: flags of); pluggy calls only isclass, isfunction, unwrap, getattr_static and
#: the like. ~5 ms of imports. (dis only where its flags are the ones above.)
INSPECT: dict[str, dict[str, object]] = {"linecache": {}, "tokenize": {}, "token": {},
                                         "ast": {"NodeVisitor": _NodeVisitor}}
if sys.version_info[:2] == (3, 11):
    INSPECT["dis"] = {"COMPILER_FLAG_NAMES": _CODE_FLAGS}
