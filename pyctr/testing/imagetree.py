"""Image comparison for build tests: the root filesystem an image's layers make, and
the parts of its config that a Dockerfile decides.

Written independently of pyctr's own layer code: layers are read with
``tarfile`` and applied to an in-memory tree (``.wh.NAME`` removes NAME,
``.wh..wh..opq`` empties its directory of what lower layers put there), so
a test compares what a reference builder (podman/buildah) and pyctr made as
*trees*, never as tar bytes.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tarfile
from collections.abc import Iterable
from typing import Any

#: the config fields a Dockerfile decides (buildah's conformance checker compares the same)
CONFIG_FIELDS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts", "Volumes",
                 "StopSignal", "Healthcheck", "OnBuild", "Shell")


def _clean(name: str) -> str:
    name = posixpath.normpath("/" + name).lstrip("/")
    return "" if name == "." else name


def apply_layers(layers: Iterable[bytes]) -> dict[str, dict[str, Any]]:
    """path -> {type, mode, uid, gid, size, sha256, link, xattrs, mtime} after all layers."""
    tree: dict[str, dict[str, Any]] = {}
    for raw in layers:
        import io

        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tf:
            members = tf.getmembers()
            # whiteouts and opaque markers hide what lower layers had, never this layer's entries
            for m in members:
                name = _clean(m.name)
                base = posixpath.basename(name)
                parent = posixpath.dirname(name)
                if base == ".wh..wh..opq":
                    for path in [p for p in tree if p.startswith(parent + "/" if parent else "")]:
                        if path != parent:
                            del tree[path]
                elif base.startswith(".wh."):
                    gone = posixpath.join(parent, base[4:])
                    for path in [p for p in tree if p == gone or p.startswith(gone + "/")]:
                        del tree[path]
            for m in members:
                name = _clean(m.name)
                base = posixpath.basename(name)
                if base.startswith(".wh.") or not name:
                    continue
                old = tree.get(name)
                if old is not None and not (old["type"] == "dir" and m.isdir()):
                    for path in [p for p in tree if p == name or p.startswith(name + "/")]:
                        del tree[path]
                entry: dict[str, Any] = {"mode": m.mode & 0o7777, "uid": m.uid, "gid": m.gid, "mtime": int(m.mtime),
                                         "xattrs": {k[len("SCHILY.xattr."):]: v for k, v in m.pax_headers.items()
                                                    if k.startswith("SCHILY.xattr.")}}
                if m.isdir():
                    entry["type"] = "dir"
                elif m.issym():
                    entry.update(type="symlink", link=m.linkname)
                elif m.islnk():
                    target = tree.get(_clean(m.linkname))
                    if target is None:
                        raise AssertionError(f"hard link {name} -> {m.linkname}: no such file before it")
                    entry = dict(target)
                    entry["hardlink"] = _clean(m.linkname)
                elif m.isreg():
                    data = tf.extractfile(m).read()  # type: ignore[union-attr]
                    entry.update(type="file", size=len(data), sha256=hashlib.sha256(data).hexdigest())
                elif m.ischr() or m.isblk():
                    entry.update(type="chr" if m.ischr() else "blk", dev=(m.devmajor, m.devminor))
                elif m.isfifo():
                    entry["type"] = "fifo"
                tree[name] = entry
    return tree


def link_groups(tree: dict[str, dict[str, Any]]) -> set[frozenset[str]]:
    """Sets of paths that are one file (hard links)."""
    groups: dict[str, set[str]] = {}
    for path, entry in tree.items():
        first = entry.get("hardlink")
        if first:
            groups.setdefault(first, {first}).add(path)
    return {frozenset(g) for g in groups.values()}


def config_view(config: dict[str, Any]) -> dict[str, Any]:
    """What a Dockerfile decides in an image config (and the count of history entries with layers)."""
    cfg = config.get("config") or {}
    out = {k: cfg.get(k) or None for k in CONFIG_FIELDS}
    labels = dict(out["Labels"] or {})
    labels.pop("io.buildah.version", None)
    out["Labels"] = labels or None
    out["architecture"] = config.get("architecture")
    out["os"] = config.get("os")
    out["author"] = config.get("author") or None
    out["layers"] = sum(1 for h in config.get("history") or [] if not h.get("empty_layer"))
    out["diff_ids"] = len((config.get("rootfs") or {}).get("diff_ids") or [])
    return out


def read_docker_archive(path: str) -> tuple[dict[str, Any], list[bytes]]:
    """(config, layer tars) of the only image in a ``docker save`` archive."""
    with tarfile.open(path) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
        config = json.load(tf.extractfile(manifest["Config"]))  # type: ignore[arg-type]
        layers = [tf.extractfile(name).read() for name in manifest["Layers"]]  # type: ignore[union-attr]
    return config, layers


def compare_trees(ours: dict[str, dict[str, Any]], theirs: dict[str, dict[str, Any]], *, since: int,
                  ignore: Iterable[str] = (), skip_mtime: Iterable[str] = ("", "dev", "proc", "sys", "etc")) \
        -> list[str]:
    """The differences, one line each; mtimes only where both are older than ``since`` (made from
    the context or the base image, not at build time)."""
    ignored = set(ignore)
    no_mtime = set(skip_mtime)
    problems = []
    for path in sorted(set(ours) | set(theirs)):
        if path in ignored or any(path.startswith(i.rstrip("/") + "/") for i in ignored if i.endswith("/")):
            continue
        a, b = ours.get(path), theirs.get(path)
        if a is None or b is None:
            problems.append(f"/{path}: only in {'the reference' if a is None else 'pyctr'}'s image "
                            f"({(b or a)['type']})")
            continue
        for key in ("type", "mode", "uid", "gid", "size", "sha256", "link", "dev", "xattrs"):
            if a.get(key) != b.get(key):
                problems.append(f"/{path}: {key} {a.get(key)!r} (pyctr) != {b.get(key)!r} (reference)")
        if path not in no_mtime and a["mtime"] < since and b["mtime"] < since and a["mtime"] != b["mtime"]:
            problems.append(f"/{path}: mtime {a['mtime']} (pyctr) != {b['mtime']} (reference)")
    return problems
