"""The build cache: content keys to image states, in the state database.

Each step's key is the parent step's key, the platform, the instruction with
its arguments expanded, its flags, and what else decides its result: the
ARG values a RUN sees, the checksum of exactly the files a COPY/ADD selects
(content and metadata, never their times). The value is the state after the
step (the image config and the storage layers), so a hit reuses the step's
layer and its history entry, and a fully cached build gives the same image
id again.

A cached layer is an ordinary image layer (a complete ``layers`` row); an
entry whose layers have gone (``rmi`` removed the last image that had them)
is a miss. ``pyctr builder prune`` removes the entries and the layers no image
uses.
"""

from __future__ import annotations

import json
import time

from pyctr.images.store import image_store
from pyctr.core.state import register_migration, transaction

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.core.engine import Engine

register_migration("build-cache-1", """
CREATE TABLE build_cache (
    key TEXT PRIMARY KEY,          -- sha256 hex of the step's inputs
    state TEXT NOT NULL,           -- JSON {"config": image config, "layers": [storage ids]}
    created REAL NOT NULL,
    used REAL NOT NULL
);
""")


def step_key(parent: str, *parts: Any) -> str:
    """The key of a step: its parent's key and everything else that decides its result."""
    blob = json.dumps([parent, *parts], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    from hashlib import sha256

    return sha256(blob.encode("utf-8", "surrogateescape")).hexdigest()


class Cache:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        from pyctr.core.state import apply_pending_migrations

        apply_pending_migrations(engine.db)

    def get(self, key: str) -> dict[str, Any] | None:
        """The state stored under ``key`` if all its layers are still there."""
        row = self.engine.db.execute("SELECT state FROM build_cache WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        state = json.loads(row[0])
        diff_ids = (state["config"].get("rootfs") or {}).get("diff_ids") or []
        from pyctr.images.store import chain_ids

        chains = chain_ids(diff_ids)
        if [c.split(":", 1)[1] for c in chains] != state["layers"]:
            return None
        if chains:
            # the database's word (complete layers only), not the driver's: a fully cached build
            # then loads no storage driver at all; `system check` finds a layer removed behind
            # pyctr's back
            row = self.engine.db.execute("SELECT complete FROM layers WHERE driver = ? AND id = ?",
                                         (self.engine.storage_driver_name(), state["layers"][-1])).fetchone()
            if not (row and row[0]):
                return None
        return state

    def touch(self, key: str) -> None:
        db = self.engine.db
        with transaction(db):
            db.execute("UPDATE build_cache SET used = ? WHERE key = ?", (time.time(), key))

    def put(self, key: str, state: dict[str, Any]) -> None:
        db = self.engine.db
        now = time.time()
        with transaction(db):
            db.execute("INSERT OR REPLACE INTO build_cache(key, state, created, used) VALUES (?, ?, ?, ?)",
                       (key, json.dumps(state, sort_keys=True), now, now))

    def prune(self, keep_used_since: float | None = None) -> tuple[int, list[str]]:
        """Remove entries (all, or those unused since ``keep_used_since``), then the layers no
        image or entry uses any more; (entries removed, layer lines)."""
        db = self.engine.db
        with transaction(db):
            if keep_used_since is None:
                n = db.execute("DELETE FROM build_cache").rowcount
            else:
                n = db.execute("DELETE FROM build_cache WHERE used < ?", (keep_used_since,)).rowcount
        return n, remove_unused_layers(self.engine)


def used_layers(engine: Engine) -> set[str]:
    """Storage layer ids some image, cache entry or container stands on."""
    db = engine.db
    used: set[str] = set()
    for (layers,) in db.execute("SELECT layers FROM images"):
        used.update(json.loads(layers))
    try:
        for (state,) in db.execute("SELECT state FROM build_cache"):
            used.update(json.loads(state).get("layers") or [])
    except Exception:  # noqa: BLE001  (no cache table yet)
        pass
    return used


def remove_unused_layers(engine: Engine) -> list[str]:
    """Layers (and their layer blobs) that no image, cache entry or container uses."""
    from pyctr.core.container import list_all

    db = engine.db
    driver = engine.storage_driver_name()
    used = used_layers(engine)
    for c in list_all(db, engine.config.root):
        image = db.execute("SELECT layers FROM images WHERE id = ?", (c.image_id,)).fetchone()
        if image:
            used.update(json.loads(image[0]))
    kept_blobs: set[str] = set()
    for (config,) in db.execute("SELECT config FROM images"):
        kept_blobs.update((json.loads(config).get("rootfs") or {}).get("diff_ids") or [])
    lines = []
    rows = db.execute("SELECT id, diff_id FROM layers WHERE driver = ? AND complete = 1", (driver,)).fetchall()
    storage = engine.storage
    content = image_store(engine).content
    for layer_id, diff_id in rows:
        if layer_id in used:
            continue
        storage.remove(layer_id)
        with transaction(db):
            db.execute("DELETE FROM layers WHERE driver = ? AND id = ?", (driver, layer_id))
        if diff_id and diff_id not in kept_blobs:
            try:
                content.delete(diff_id)
            except Exception:  # noqa: BLE001  (an invalid digest: nothing to delete)
                pass
        lines.append(f"deleted: sha256:{layer_id}")
    return lines
