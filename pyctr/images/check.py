"""``system df`` figures and ``system check [--repair]``.

check looks for:

* blobs whose content no longer hashes to their name (modified) — repair
  deletes them, then refetches what an image needs from its registry;
* blobs an image needs that are missing (its config, its pulled manifest's
  layer blobs) — repair rewrites a config from the state database and
  refetches layer blobs;
* layer rows whose ``complete`` flag is 0 (an unpacking that was killed) and
  complete rows whose layer directory is gone — repair removes them, and an
  image left with a missing layer is pulled again (or removed if it cannot be);
* staging directories of killed extractions and partial downloads — removed.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field

from pyctr.core.state import transaction
from pyctr.images.store import image_store

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.core.engine import Engine


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    unrepaired: list[str] = field(default_factory=list)


def check(engine: Engine, repair: bool = False) -> Report:
    from pyctr.core.drivers import staging_in_use
    from pyctr.images.operations import image_blobs

    rep = Report()
    store = image_store(engine)
    content = store.content
    storage = engine.storage
    driver = engine.storage_driver_name()
    db = engine.db
    images = store.list()

    # -- blobs -------------------------------------------------------------------
    for digest in content.list():
        if not content.verify(digest):
            rep.problems.append(f"blob {digest} is modified")
            if repair:
                content.delete(digest)
                rep.repaired.append(f"deleted modified blob {digest}")
    needed: dict[str, list] = {}
    for image in images:
        for digest in image_blobs(engine, image):
            needed.setdefault(digest, []).append(image)
    broken_images: dict[str, object] = {}
    for image in images:
        if not content.has(image.id):
            rep.problems.append(f"image {image.short_id}: config blob {image.id} is missing")
            if repair:
                row = db.execute("SELECT config FROM images WHERE id = ?", (image.id,)).fetchone()
                if content.put_bytes(row[0].encode()) == image.id:
                    rep.repaired.append(f"rewrote config blob {image.id} from the state database")
                else:
                    rep.unrepaired.append(f"config of image {image.short_id} cannot be rebuilt")
    for image in images:
        if not image.manifest_digest:
            continue
        manifests, blobs = _manifest_layers(engine, image)
        lacking = manifests + [d for d in blobs if not content.has(d)]
        for digest in lacking:
            rep.problems.append(f"image {image.short_id}: blob {digest} is missing")
        if lacking and repair:
            if _refetch(engine, image):
                rep.repaired.append(f"refetched {len(lacking)} blob(s) of image {image.short_id}")
            else:
                rep.unrepaired.append(f"blobs of image {image.short_id} could not be refetched")

    # -- layers ------------------------------------------------------------------
    in_images: dict[str, list] = {}
    for image in images:
        for layer_id in image.layers:
            in_images.setdefault(layer_id, []).append(image)
    for row in db.execute("SELECT id, complete FROM layers WHERE driver = ?", (driver,)).fetchall():
        layer_id, complete = row[0], row[1]
        if not complete:
            rep.problems.append(f"layer {layer_id[:12]} is incomplete (an unpacking was killed)")
        elif not storage.exists(layer_id):
            rep.problems.append(f"layer {layer_id[:12]} is missing from the {driver} driver")
        else:
            continue
        for image in in_images.get(layer_id, []):
            broken_images[image.id] = image
        if repair:
            storage.remove(layer_id)
            with transaction(db):
                db.execute("DELETE FROM layers WHERE driver = ? AND id = ?", (driver, layer_id))
            rep.repaired.append(f"removed layer {layer_id[:12]}")
    for image in images:
        for layer_id in image.layers:
            if not db.execute("SELECT 1 FROM layers WHERE driver = ? AND id = ?", (driver, layer_id)).fetchone() \
                    and image.id not in broken_images:
                rep.problems.append(f"image {image.short_id}: layer {layer_id[:12]} is not recorded")
                broken_images[image.id] = image
    if repair:
        for image in broken_images.values():
            rep_line = _repull(engine, image)  # type: ignore[arg-type]
            if rep_line.startswith("pulled"):
                rep.repaired.append(rep_line)
                continue
            # No image with a missing layer stays listed: it goes, with a note why.
            from pyctr.images.operations import _untag, delete

            _untag(engine, image.tags, image.id)  # type: ignore[attr-defined]
            delete(engine, image)  # type: ignore[arg-type]
            rep.unrepaired.append(rep_line + "; the image was removed")

    # -- orphaned layers ---------------------------------------------------------
    _orphaned_layers(engine, rep, repair, driver, storage)

    # -- leftovers ---------------------------------------------------------------
    leftovers = [n for n in storage.layers() if n.startswith(".tmp-") and not staging_in_use(n)]
    for name in leftovers:
        what = "a layer whose removal failed" if name.startswith(".tmp-rm-") else "a killed extraction"
        rep.problems.append(f"staging directory {name} left by {what}")
    if repair and hasattr(storage, "cleanup_staging"):
        # retried here; whatever still resists stays listed, with the reason
        gone = set(storage.cleanup_staging())
        stuck = getattr(storage, "stuck_staging", [])
        for name in leftovers:
            if name in gone:
                rep.repaired.append(f"removed staging directory {name}")
        rep.unrepaired.extend(stuck)
    for partial in content.partials():
        if _locked(partial):
            continue
        rep.problems.append(f"partial download {partial.name}")
        if repair:
            partial.unlink(missing_ok=True)
            rep.repaired.append(f"removed partial download {partial.name}")
    return rep


def _orphaned_layers(engine: Engine, rep: Report, repair: bool, driver: str, storage) -> None:  # noqa: ANN001
    """Layers no command of this store reaches: recorded in another storage driver than the
    store's (the driver was switched under them), or in the driver but recorded nowhere."""
    db = engine.db
    containers = {r[0]: json.loads(r[1]).get("storage") for r in db.execute("SELECT id, drivers FROM containers")}
    for other, count in db.execute("SELECT driver, COUNT(*) FROM layers WHERE driver != ? GROUP BY driver",
                                   (driver,)).fetchall():
        rep.problems.append(f"{count} layer(s) recorded in the {other} storage driver, which this store no longer "
                            f"uses (it uses {driver}): orphaned")
        if not repair:
            continue
        if other in containers.values():
            rep.unrepaired.append(f"layers of the {other} driver kept: containers of this store still use it")
            continue
        try:
            old = engine.driver("storage", other)
        except Exception as e:  # noqa: BLE001  (a driver that cannot load: its rows stay, said so)
            rep.unrepaired.append(f"layers of the {other} driver kept: {e}")
            continue
        for (layer_id,) in db.execute("SELECT id FROM layers WHERE driver = ?", (other,)).fetchall():
            if old.exists(layer_id):
                old.remove(layer_id)
            with transaction(db):
                db.execute("DELETE FROM layers WHERE driver = ? AND id = ?", (other, layer_id))
        rep.repaired.append(f"removed {count} layer(s) of the {other} storage driver")
    recorded = {r[0] for r in db.execute("SELECT id FROM layers WHERE driver = ?", (driver,))}
    for name in storage.layers():
        if name.startswith(".") or name in recorded or name in containers:
            continue
        rep.problems.append(f"layer {name[:12]} in the {driver} driver is recorded nowhere: orphaned")
        if repair:
            storage.remove(name)
            rep.repaired.append(f"removed orphaned layer {name[:12]}")


def _manifest_layers(engine: Engine, image) -> tuple[list[str], list[str]]:  # noqa: ANN001
    """(missing manifest digests, layer blob digests) of the image's pulled manifest (or index)."""
    from pyctr.images.distribution import INDEX_TYPES

    content = image_store(engine).content
    digests = [image.manifest_digest]
    out: list[str] = []
    missing: list[str] = []
    seen = set()
    while digests:
        d = digests.pop()
        if d in seen:
            continue
        seen.add(d)
        if not content.has(d):
            missing.append(d)
            continue
        try:
            doc = json.loads(content.read(d, limit=4 << 20))
        except ValueError:
            continue
        if doc.get("mediaType") in INDEX_TYPES or "manifests" in doc:
            # only the child that is this image's platform matters; a missing
            # sibling (another platform) was never pulled
            children = [m.get("digest") for m in doc.get("manifests") or [] if isinstance(m, dict)]
            present = [c for c in children if content.has(c)]
            digests += present or children[:0]
            if not present:
                missing.append(f"{d} (platform manifest)")
        elif (doc.get("config") or {}).get("digest") == image.id:
            out += [layer.get("digest") for layer in doc.get("layers") or []]
    return missing, out


def _registry_ref(image) -> str | None:  # noqa: ANN001
    for tag in image.tags:
        return tag
    return None


def _refetch(engine: Engine, image) -> bool:  # noqa: ANN001
    """Fetch the image's manifest(s) and layer blobs again from the registry of its first tag."""
    from pyctr.images import reference, registries

    name = _registry_ref(image)
    if not name:
        return False
    ref = reference.parse(name)
    content = image_store(engine).content
    try:
        client = registries.client(engine, ref.registry)
        try:
            result = client.resolve(ref.repository, image.manifest_digest)
            content.put_bytes(result.raw)
            if result.index_raw:
                content.put_bytes(result.index_raw)
            missing, blobs = _manifest_layers(engine, image)
            for digest in blobs:
                client.fetch_blob(ref.repository, digest, None, content)
        finally:
            client.close()
        return not _manifest_layers(engine, image)[0]
    except Exception:  # noqa: BLE001  (reported as not repaired)
        return False


def _repull(engine: Engine, image) -> str:  # noqa: ANN001
    name = _registry_ref(image)
    if name:
        try:
            from pyctr.images.pull import pull

            pull(engine, name)
            return f"pulled {name} again"
        except Exception as e:  # noqa: BLE001
            return f"image {image.short_id} has missing layers and {name} could not be pulled: {e}"
    return f"image {image.short_id} had missing layers and no registry to pull from"


def _locked(path) -> bool:  # noqa: ANN001
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


# ------------------------------------------------------------------- df --

def disk_usage(engine: Engine) -> list[dict]:
    """Docker's ``system df`` rows: Images, Containers, Local Volumes, Build Cache."""
    from pyctr.images.operations import used_image_ids

    db = engine.db
    driver = engine.storage_driver_name()
    sizes = {r[0]: r[1] for r in db.execute("SELECT id, size FROM layers WHERE driver = ?", (driver,))}
    images = image_store(engine).list()
    used = used_image_ids(engine)
    all_layers, active_layers = set(), set()
    for image in images:
        all_layers.update(image.layers)
        if image.id in used:
            active_layers.update(image.layers)
    img_size = sum(sizes.get(x, 0) for x in all_layers)
    img_reclaim = sum(sizes.get(x, 0) for x in all_layers - active_layers)
    rows = [{"Type": "Images", "TotalCount": len(images), "Active": sum(1 for i in images if i.id in used),
             "Size": img_size, "Reclaimable": img_reclaim}]
    c_total = c_active = c_size = c_reclaim = 0
    for cid, status, drivers in db.execute("SELECT id, status, drivers FROM containers"):
        c_total += 1
        try:
            size = engine.driver("storage", json.loads(drivers).get("storage")).diff_size(cid)
        except Exception:  # noqa: BLE001  (a driver that cannot load: count 0)
            size = 0
        c_size += size
        if status in ("running", "paused"):
            c_active += 1
        else:
            c_reclaim += size
    rows.append({"Type": "Containers", "TotalCount": c_total, "Active": c_active, "Size": c_size,
                 "Reclaimable": c_reclaim})
    rows.append({"Type": "Local Volumes", "TotalCount": 0, "Active": 0, "Size": 0, "Reclaimable": 0})
    rows.append({"Type": "Build Cache", "TotalCount": 0, "Active": 0, "Size": 0, "Reclaimable": 0})
    return rows
