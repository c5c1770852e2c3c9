"""Build steps' layers: a writable layer on the current image, and its upper
directory made an image layer (tarred once into the content store, then the
directory itself renamed into place where the storage driver can).
"""

from __future__ import annotations

import os

from pyctr.images.store import image_store
from pyctr.build.errors import BuildError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.core.engine import Engine


class NewLayer:
    __slots__ = ("layer_id", "diff_id", "size", "empty")

    def __init__(self, layer_id: str, diff_id: str, size: int, empty: bool) -> None:
        self.layer_id = layer_id
        self.diff_id = diff_id
        self.size = size
        self.empty = empty  # the step changed nothing


def check_driver(engine: Engine) -> None:
    """Builds need a storage driver whose writable layers have an upper directory."""
    storage = engine.storage
    if not hasattr(storage, "commit_writable") or not hasattr(storage, "upper_dir"):
        raise BuildError(f"pyctr build needs the overlay2 storage driver (this root uses {storage.name})")


def writable(engine: Engine, parent: str | None) -> str:
    """A writable layer on ``parent`` (no container), mounted plain; its id. A killed
    build leaves it to ``system prune`` (a layer no image or container owns)."""
    check_driver(engine)
    rw_id = os.urandom(32).hex()
    storage = engine.storage
    storage.create_rw(rw_id, parent)
    storage.mark_plain_diff(rw_id)
    return rw_id


def commit(engine: Engine, rw_id: str, parent_chain: str | None, epoch: int | None) -> NewLayer:
    """Make the (unmounted) writable layer ``rw_id`` an image layer on ``parent_chain``.

    The tar is written straight into the content store (its digest is the diff_id);
    a layer with that chain id that is already present is reused and ``rw_id``
    removed; otherwise the upper directory is renamed into the new layer.
    """
    from pyctr.build.diff import write_layer
    from pyctr.core.state import flocked, transaction
    from pyctr.images.store import chain_ids

    storage = engine.storage
    images = image_store(engine)
    upper = str(storage.upper_dir(rw_id))
    with images.content.new_blob() as blob:
        info = write_layer(upper, blob, epoch=epoch)
        diff_id = blob.commit()
    chain = chain_ids([parent_chain, diff_id])[1] if parent_chain else diff_id
    layer_id = chain.split(":", 1)[1]
    parent_id = parent_chain.split(":", 1)[1] if parent_chain else None
    # one build at a time makes a given layer (two builds of one context race for it)
    with flocked(engine.config.runroot / "locks" / f"layer-{layer_id}"):
        if images.layer_present(chain):
            storage.remove(rw_id)
            return NewLayer(layer_id, diff_id, info.size, info.entries == 0)
        images.begin_layer(layer_id, diff_id, parent_id)
        try:
            storage.commit_writable(rw_id, layer_id)
        except BaseException:
            storage.remove(layer_id)
            with transaction(engine.db):
                engine.db.execute("DELETE FROM layers WHERE driver = ? AND id = ? AND complete = 0",
                                  (engine.storage_driver_name(), layer_id))
            raise
        images.finish_layer(layer_id, info.size)
    return NewLayer(layer_id, diff_id, info.size, info.entries == 0)
