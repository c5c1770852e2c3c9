"""``commit``: a container's writable layer on top of its image, as a new image.

The layer is the storage driver's diff of the container (overlay2's upper
directory: whiteouts become ``.wh.`` entries, as a pulled layer has them),
written as a tar, hashed, and added like any pulled layer; the config is the
image's with the container's settings (or the ones given) and one more
history entry.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import time
from typing import TYPE_CHECKING, Any

from pyctr.core.errors import UsageError
from pyctr.images.store import apply_changes, image_store

if TYPE_CHECKING:
    from pyctr.core.container import Container
    from pyctr.core.engine import Engine
    from pyctr.images.store import Image


def commit(engine: Engine, c: Container, repository: str | None, *, config: dict[str, Any] | None = None,
           changes: list[str] | None = None, comment: str = "", author: str = "") -> Image:
    from pyctr.images import reference
    from pyctr.layers.create import create_layer_tar

    store = image_store(engine)
    base = store.resolve(c.image_id)
    paths = engine.storage_for(c).metadata(c.id)
    upper = paths.get("UpperDir")
    if not upper or not os.path.isdir(upper):
        raise UsageError(f"the {c.drivers.get('storage')} storage driver cannot tell a container's changes")
    tags = [str(reference.parse(repository))] if repository else []
    tmpdir = engine.config.root / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=tmpdir, prefix="commit-") as tmp:
        create_layer_tar(upper, tmp)
        tmp.flush()
        tmp.seek(0)
        digest = hashlib.sha256()
        while chunk := tmp.read(1 << 20):
            digest.update(chunk)
        diff_id = "sha256:" + digest.hexdigest()
        parent = "sha256:" + base.layers[-1] if base.layers else None
        layer_id = store.add_layer(diff_id, parent, lambda: open(tmp.name, "rb"))
    cfg = copy.deepcopy(base.config)
    container_config = dict(cfg.get("config") or {})
    spec = c.spec
    container_config.update({"Env": list(spec.env), "Cmd": list(spec.cmd) or None,
                             "Entrypoint": list(spec.entrypoint) or None, "WorkingDir": spec.workdir,
                             "User": spec.user, "Labels": dict(spec.labels) or None})
    if config:
        container_config.update({k: v for k, v in config.items() if v is not None})
    container_config = apply_changes(container_config, list(changes or []))
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
    cfg["config"] = container_config
    cfg["container"] = c.id
    cfg["created"] = now
    if author:
        cfg["author"] = author
    cfg.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"] = \
        list((base.config.get("rootfs") or {}).get("diff_ids") or []) + [diff_id]
    cfg["history"] = list(cfg.get("history") or []) + [
        {"created": now, "created_by": " ".join(spec.argv), **({"comment": comment} if comment else {}),
         **({"author": author} if author else {})}]
    raw = json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()
    return store.register(raw, list(base.layers) + [layer_id], tags)
