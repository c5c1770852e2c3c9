"""Removing images the way Docker does (``rmi``, ``image prune``), and what they use.

An image's layers are removed only when no other image lists them; its blobs
(config, manifests, layer blobs) only when no remaining image refers to them.
Removal order: tags and the image row first (one transaction), then layers
top down, then blobs — so a crash half way leaves unreferenced leftovers
that ``system check --repair`` removes, never an image with a missing layer.
"""

from __future__ import annotations

import json

from pyctr.core.errors import Conflict, NotFound, UsageError
from pyctr.core.state import transaction
from pyctr.images.store import image_store

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.core.engine import Engine
    from pyctr.images.store import Image


def containers_using(engine: Engine, image_id: str) -> list[str]:
    return [r[0] for r in engine.db.execute("SELECT id FROM containers WHERE image_id = ?", (image_id,))]


def used_image_ids(engine: Engine) -> set[str]:
    return {r[0] for r in engine.db.execute("SELECT DISTINCT image_id FROM containers")}


def _familiar(name: str) -> str:
    from pyctr.images.reference import parse

    return parse(name).familiar


def remove(engine: Engine, name: str, force: bool = False) -> list[str]:
    """``rmi NAME``: Docker's untag-or-delete; returns the ``Untagged:``/``Deleted:`` lines."""
    from pyctr.images import reference

    store = image_store(engine)
    image = store.resolve(name)
    by_ref = None
    try:
        parsed = reference.parse(name)
        if str(parsed) in image.tags:
            by_ref = str(parsed)
    except Exception:  # noqa: BLE001  (an id prefix is not a reference)
        by_ref = None
    users = containers_using(engine, image.id)
    lines: list[str] = []
    if by_ref and len(image.tags) > 1:
        _untag(engine, [by_ref], image.id)
        return [f"Untagged: {_familiar(by_ref)}"]
    if users and not force:
        what = f'repository reference "{name}"' if by_ref else image.short_id
        raise Conflict(f"conflict: unable to remove {what} (must force) - container {users[0][:12]} "
                       f"is using its referenced image {image.short_id}")
    if not by_ref and len(image.tags) > 1 and not force:
        raise Conflict(f"conflict: unable to delete {image.short_id} (must be forced) - "
                       "image is referenced in multiple repositories")
    _untag(engine, image.tags, image.id)
    lines += [f"Untagged: {_familiar(t)}" for t in image.tags]
    if users:
        return lines  # like Docker: forced, the image stays (dangling) for its containers
    lines += delete(engine, image)
    return lines


def _untag(engine: Engine, names: list[str], image_id: str) -> None:
    from pyctr.core import events

    db = engine.db
    with transaction(db):
        for n in names:
            db.execute("DELETE FROM tags WHERE name = ?", (n,))
    for n in names:  # the journal: from the CLI and the API alike
        events.record(engine, "image", "untag", image_id, {"name": _familiar(n)})


def tag(engine: Engine, image: Image, target: str) -> str:
    """``tag SOURCE TARGET`` (the CLI's and the API's): the reference made, fully qualified."""
    from pyctr.core import events
    from pyctr.images.reference import parse

    ref = parse(target)
    if ref.digest:
        raise UsageError("refusing to create a tag with a digest reference")
    with transaction(engine.db):
        engine.db.execute("INSERT OR REPLACE INTO tags(name, image_id) VALUES (?, ?)", (str(ref), image.id))
    events.record(engine, "image", "tag", image.id, {"name": ref.familiar})
    return str(ref)


def delete(engine: Engine, image: Image) -> list[str]:
    """Delete an untagged image row, then its unshared layers and blobs."""
    db = engine.db
    driver = engine.storage_driver_name()
    with transaction(db):
        if db.execute("SELECT 1 FROM tags WHERE image_id = ?", (image.id,)).fetchone():
            raise Conflict(f"image {image.short_id} is still tagged")
        db.execute("DELETE FROM images WHERE id = ?", (image.id,))
        kept = set()
        for row in db.execute("SELECT layers FROM images"):
            kept.update(json.loads(row[0]))
        doomed = [layer for layer in reversed(image.layers) if layer not in kept]
    lines = [f"Deleted: {image.id}"]
    storage = engine.storage
    for layer_id in doomed:
        storage.remove(layer_id)
        with transaction(db):
            db.execute("DELETE FROM layers WHERE driver = ? AND id = ?", (driver, layer_id))
        lines.append(f"Deleted: sha256:{layer_id}")
    _delete_blobs(engine, image)
    from pyctr.core import events

    events.record(engine, "image", "delete", image.id, {"name": image.id})
    return lines


def image_blobs(engine: Engine, image: Image) -> set[str]:
    """Every content-store digest that belongs to ``image``."""
    from pyctr.images.push import stored_manifest

    content = image_store(engine).content
    out = {image.id}
    out.update((image.config.get("rootfs") or {}).get("diff_ids") or [])
    if image.manifest_digest:
        out.add(image.manifest_digest)
    found = stored_manifest(content, image)
    if found:
        doc = found["doc"]
        from pyctr.images.content import sha256_digest

        out.add(sha256_digest(found["raw"]))
        out.update(d.get("digest", "") for d in doc.get("layers") or [])
    return {d for d in out if isinstance(d, str) and d.startswith("sha256:")}


def _delete_blobs(engine: Engine, image: Image) -> None:
    content = image_store(engine).content
    mine = image_blobs(engine, image)
    for other in image_store(engine).list():
        mine -= image_blobs(engine, other)
    for digest in mine:
        try:
            content.delete(digest)
        except Exception:  # noqa: BLE001  (an invalid digest in a hostile config: nothing to delete)
            pass


def prune(engine: Engine, all_images: bool) -> tuple[list[str], int]:
    """``image prune``: dangling images (``-a``: every image no container uses)."""
    used = used_image_ids(engine)
    lines: list[str] = []
    reclaimed = 0
    for image in image_store(engine).list():
        if image.id in used or (image.tags and not all_images):
            continue
        try:
            image = image_store(engine).resolve(image.id)
        except NotFound:
            continue
        _untag(engine, image.tags, image.id)
        lines += [f"untagged: {_familiar(t)}" for t in image.tags]
        before = _layer_bytes(engine)
        lines += [line.replace("Deleted:", "deleted:") for line in delete(engine, image)]
        reclaimed += before - _layer_bytes(engine)
    return lines, reclaimed


def _layer_bytes(engine: Engine) -> int:
    row = engine.db.execute("SELECT COALESCE(SUM(size), 0) FROM layers WHERE driver = ?",
                            (engine.storage_driver_name(),)).fetchone()
    return int(row[0])


def history(engine: Engine, image: Image) -> list[dict]:
    """Rows of ``history``, newest first, as Docker computes them."""
    from pyctr.images.store import _parse_time, chain_ids

    cfg = image.config
    diff_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
    sizes = []
    driver = engine.storage_driver_name()
    for chain in chain_ids(diff_ids):
        row = engine.db.execute("SELECT size FROM layers WHERE driver = ? AND id = ?", (driver, chain[7:])).fetchone()
        sizes.append(row[0] if row else 0)
    entries = cfg.get("history") or [{"created": cfg.get("created")} for _ in diff_ids]
    rows = []
    layer = 0
    for entry in entries:
        size = 0
        if not entry.get("empty_layer"):
            size = sizes[layer] if layer < len(sizes) else 0
            layer += 1
        rows.append({"Created": _parse_time(entry.get("created")) or image.created,
                     "CreatedBy": entry.get("created_by", ""), "Size": size,
                     "Comment": entry.get("comment", ""), "ID": "<missing>"})
    rows.reverse()
    if rows:
        rows[0]["ID"] = image.id
    return rows
