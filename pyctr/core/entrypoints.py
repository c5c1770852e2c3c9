"""An index of the installed entry points, so a command need not scan every distribution.

``importlib.metadata`` (which stevedore uses) costs about 100 ms per command
here: importing it pulls in the email package, and listing a group reads the
metadata of every installed distribution. pyctr instead keeps the entry
points of its groups in one JSON file, keyed, as stevedore's own cache is, by
the interpreter, ``sys.path`` and the path and modification time of every
``*.dist-info``/``*.egg-info`` ``entry_points.txt`` on it: installing,
upgrading or removing a distribution changes the key and the index is rebuilt
from ``importlib.metadata``.
"""

from __future__ import annotations

import json
import os
import sys

from pyctr.core.filekeys import name_for

GROUPS = ("pyctr", "pyctr.storage", "pyctr.network", "pyctr.volume", "pyctr.cgroup", "pyctr.runtime")


class EntryPoint(tuple):
    """(group, name, value "module:attr", dist, version): a tuple, so it goes to JSON as a list.

    Written out rather than a NamedTuple: making that class costs ~2 ms on every command.
    """

    __slots__ = ()

    def __new__(cls, group: str, name: str, value: str, dist: str, version: str) -> EntryPoint:
        return tuple.__new__(cls, (group, name, value, dist, version))

    group = property(lambda self: self[0])
    name = property(lambda self: self[1])
    value = property(lambda self: self[2])
    dist = property(lambda self: self[3])
    version = property(lambda self: self[4])

    def load(self) -> object:
        import importlib

        module, _, attr = self.value.partition(":")
        obj: object = importlib.import_module(module.strip())
        for part in attr.strip().split(".") if attr else ():
            obj = getattr(obj, part)
        return obj


_index: dict[str, list[EntryPoint]] | None = None


#: the standard library's own directories: no installer puts a distribution there, and
#: listing them (~300 entries) was most of the key's cost
_STDLIB = frozenset({os.path.dirname(os.__file__), os.path.join(os.path.dirname(os.__file__), "lib-dynload")})


def _key() -> str:
    """What the index depends on: the interpreter, pyctr's groups, sys.path, and each distribution's
    entry_points.txt (path and mtime). Unrelated files appearing in a path entry,
    such as the current directory, do not invalidate it. (os.scandir, not glob and
    hashlib: those imports cost more than the scan on every command.)"""
    # The groups too: code that reads a group the index was written without (a newer pyctr on the
    # same sys.path and distributions, an editable checkout) must not take it for "none installed".
    parts = [sys.executable, ",".join(GROUPS)]
    for entry in sys.path:
        parts.append("\0" + entry)
        if entry in _STDLIB:
            continue
        try:
            names = sorted(e.name for e in os.scandir(entry or ".") if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
        for name in names:
            path = os.path.join(entry or ".", name, "entry_points.txt")
            try:
                parts.append(path + str(os.stat(path).st_mtime_ns))
            except OSError:
                pass
    return "".join(parts)


def _cache_file() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    # One file per interpreter and sys.path (a short name; the whole key, with the
    # distributions' mtimes, is stored inside and compared on read).
    name = name_for(sys.executable + "\0" + "\0".join(sys.path))
    return os.path.join(base, "pyctr", f"entry-points-{name}.json")


def _scan() -> dict[str, list[EntryPoint]]:
    from importlib.metadata import entry_points

    out: dict[str, list[EntryPoint]] = {g: [] for g in GROUPS}
    for group in GROUPS:
        seen = set()
        for ep in entry_points(group=group):
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            # the same distribution found twice on sys.path (an editable install) is one claim
            if (ep.name, ep.value, dist) in seen:
                continue
            seen.add((ep.name, ep.value, dist))
            out[group].append(EntryPoint(group, ep.name, ep.value, dist, version))
    return out


def index() -> dict[str, list[EntryPoint]]:
    """Every entry point of pyctr's groups, from the cache when it is current."""
    global _index
    if _index is not None:
        return _index
    key = _key()
    path = _cache_file()
    try:
        with open(path) as f:
            raw = json.load(f)
        if raw.get("key") == key:
            _index = {g: [EntryPoint(*e) for e in raw.get("groups", {}).get(g, [])] for g in GROUPS}
            return _index
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    _index = _scan()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({"key": key, "groups": {g: [list(e) for e in eps] for g, eps in _index.items()}}, f)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs speed
    return _index


def group(name: str) -> list[EntryPoint]:
    return list(index().get(name, []))
