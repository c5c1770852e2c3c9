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

import glob
import hashlib
import json
import os
import sys
from typing import NamedTuple

GROUPS = ("pyctr", "pyctr.storage", "pyctr.network", "pyctr.volume", "pyctr.cgroup")


class EntryPoint(NamedTuple):
    group: str
    name: str
    value: str  #: "module:attr"
    dist: str
    version: str

    def load(self) -> object:
        import importlib

        module, _, attr = self.value.partition(":")
        obj: object = importlib.import_module(module.strip())
        for part in attr.strip().split(".") if attr else ():
            obj = getattr(obj, part)
        return obj


_index: dict[str, list[EntryPoint]] | None = None


def _key() -> str:
    """What the index depends on: the interpreter, sys.path, and each distribution's
    entry_points.txt (path and mtime). Unrelated files appearing in a path entry,
    such as the current directory, do not invalidate it."""
    h = hashlib.sha256()
    h.update(sys.executable.encode())
    for entry in sys.path:
        h.update(b"\0" + entry.encode())
        pattern = os.path.join(glob.escape(entry or "."), "*.*-info", "entry_points.txt")
        for path in sorted(glob.glob(pattern)):
            try:
                h.update(path.encode() + str(os.stat(path).st_mtime_ns).encode())
            except OSError:
                pass
    return h.hexdigest()[:32]


def _cache_file(key: str) -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pyctr", f"entry-points-{key}.json")


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
    path = _cache_file(_key())
    try:
        with open(path) as f:
            raw = json.load(f)
        _index = {g: [EntryPoint(*e) for e in raw.get(g, [])] for g in GROUPS}
        return _index
    except (OSError, ValueError, TypeError):
        pass
    _index = _scan()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({g: [list(e) for e in eps] for g, eps in _index.items()}, f)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs speed
    return _index


def group(name: str) -> list[EntryPoint]:
    return list(index().get(name, []))
