"""The image store: configs and manifests in the content store, layers in the
storage driver, names and layer records in the state database.

A layer's storage id is its chain id (hex), so a layer that is already
present — from any image — is never fetched or unpacked again. A layer row is
written with ``complete = 0`` before unpacking starts (the intent) and set to
1 after; an image row is written only when all its layers are complete, so a
killed pull or import never leaves a listed image with missing layers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from pyctr.core.errors import Conflict, ImageError, NotFound, UsageError
from pyctr.core.records import Record, factory
from pyctr.core.state import transaction

TYPE_CHECKING = False  # (typing's import is ~3 ms of every command; annotations are strings here)
if TYPE_CHECKING:
    from typing import IO, Any

    from pyctr.core.engine import Engine
    from pyctr.images.content import ContentStore


class Image(Record):
    id: str  #: sha256:<hex> of the config
    config: dict[str, Any]
    layers: list[str]  #: storage layer ids, base first
    size: int
    created: float
    manifest_digest: str = ""
    tags: list[str] = factory(list)

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[-1][:12]


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI chain ids: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out: list[str] = []
    from hashlib import sha256

    for diff_id in diff_ids:
        out.append(diff_id if not out else "sha256:" + sha256(f"{out[-1]} {diff_id}".encode()).hexdigest())
    return out


def image_store(engine: Engine) -> ImageStore:
    """The command's image store (one per Engine)."""
    store = engine.services.get("images")
    if store is None:
        store = engine.services["images"] = ImageStore(engine)
    return store


class ImageStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def content(self) -> ContentStore:
        from pyctr.images.content import ContentStore

        return ContentStore(self.engine.config.root / "blobs")

    # -- lookup --------------------------------------------------------------

    def _from_row(self, row: Any) -> Image:
        tags = [r[0] for r in self.engine.db.execute("SELECT name FROM tags WHERE image_id = ? ORDER BY name", (row["id"],))]
        return Image(id=row["id"], config=json.loads(row["config"]), layers=json.loads(row["layers"]),
                     size=row["size"], created=row["created"], manifest_digest=row["manifest_digest"], tags=tags)

    def resolve(self, name: str) -> Image:
        """An image by reference (``busybox``, ``localhost:5000/x:1``), id or unique id prefix."""
        db = self.engine.db
        ref = name
        hexpart = name[7:] if name.startswith("sha256:") else name
        if hexpart and len(hexpart) <= 64 and all(c in "0123456789abcdef" for c in hexpart):
            rows = db.execute("SELECT * FROM images WHERE id LIKE ?", (f"sha256:{hexpart}%",)).fetchall()
            if len(rows) == 1:
                return self._from_row(rows[0])
            if len(rows) > 1:
                raise Conflict(f"image id prefix {name!r} is ambiguous; give more characters")
        from pyctr.images import reference

        try:
            ref = str(reference.parse(name))
        except UsageError:
            raise NotFound(f"no such image: {name}") from None
        row = db.execute("SELECT images.* FROM tags JOIN images ON images.id = tags.image_id WHERE tags.name = ?",
                         (ref,)).fetchone()
        if row is None:
            raise NotFound(f"no such image: {name}")
        return self._from_row(row)

    def list(self) -> list[Image]:
        return [self._from_row(r) for r in self.engine.db.execute("SELECT * FROM images ORDER BY created DESC")]

    # -- layers ----------------------------------------------------------------

    def layer_present(self, chain_id: str) -> bool:
        row = self.engine.db.execute("SELECT complete FROM layers WHERE driver = ? AND id = ?",
                                     (self.engine.storage_driver_name(), chain_id.split(":", 1)[1])).fetchone()
        return bool(row and row[0]) and self.engine.storage.exists(chain_id.split(":", 1)[1])

    def begin_layer(self, layer_id: str, diff_id: str, parent_id: str | None) -> None:
        """Record the intent to build a layer (``complete = 0``) before touching the driver."""
        db = self.engine.db
        with transaction(db):
            db.execute("INSERT OR REPLACE INTO layers(driver, id, diff_id, parent, complete) VALUES (?, ?, ?, ?, 0)",
                       (self.engine.storage_driver_name(), layer_id, diff_id, parent_id))

    def finish_layer(self, layer_id: str, size: int) -> None:
        db = self.engine.db
        with transaction(db):
            db.execute("UPDATE layers SET complete = 1, size = ? WHERE driver = ? AND id = ?",
                       (size, self.engine.storage_driver_name(), layer_id))

    def add_layer(self, diff_id: str, parent_chain: str | None, open_stream: Callable[[], IO[bytes]]) -> str:
        """Unpack one layer unless present; return its storage layer id."""
        chain = chain_ids([parent_chain, diff_id])[1] if parent_chain else diff_id
        layer_id = chain.split(":", 1)[1]
        parent_id = parent_chain.split(":", 1)[1] if parent_chain else None
        if self.layer_present(chain):
            return layer_id
        self.begin_layer(layer_id, diff_id, parent_id)
        storage = self.engine.storage
        storage.remove(layer_id)  # a leftover from a killed attempt
        try:
            with open_stream() as stream:
                size = storage.apply_diff(layer_id, parent_id, stream, diff_id=diff_id)
        except BaseException:
            # the driver left nothing; neither does the record of the attempt
            with transaction(self.engine.db):
                self.engine.db.execute("DELETE FROM layers WHERE driver = ? AND id = ? AND complete = 0",
                                       (self.engine.storage_driver_name(), layer_id))
            raise
        self.finish_layer(layer_id, size)
        return layer_id

    # -- images ------------------------------------------------------------------

    def register(self, config_raw: bytes, layer_ids: list[str], tags: list[str], manifest_digest: str = "") -> Image:
        """Record an image whose layers are all complete, and point ``tags`` at it."""
        image_id = self.content.put_bytes(config_raw)
        config = json.loads(config_raw)
        driver = self.engine.storage_driver_name()
        db = self.engine.db
        with transaction(db):
            size = 0
            for layer_id in layer_ids:
                row = db.execute("SELECT size, complete FROM layers WHERE driver = ? AND id = ?", (driver, layer_id)).fetchone()
                if not row or not row["complete"]:
                    raise ImageError(f"layer {layer_id[:12]} is not complete; pull again")
                size += row["size"]
            created = _parse_time(config.get("created")) or time.time()
            # an image registered again (a load of what was pulled) keeps its pulled manifest: save and push
            # give the pulled layers' bytes from it, so the image keeps its id through a save and load
            db.execute("INSERT INTO images(id, config, manifest_digest, layers, size, created)"
                       " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET config = excluded.config,"
                       " layers = excluded.layers, size = excluded.size, created = excluded.created,"
                       " manifest_digest = CASE WHEN excluded.manifest_digest != '' THEN excluded.manifest_digest"
                       " ELSE images.manifest_digest END",
                       (image_id, config_raw.decode(), manifest_digest, json.dumps(layer_ids), size, created))
            for tag in tags:
                db.execute("INSERT OR REPLACE INTO tags(name, image_id) VALUES (?, ?)", (tag, image_id))
        return self.resolve(image_id)

    def import_rootfs(self, source: str, repository: str | None, changes: list[str], message: str = "",
                      config: dict[str, Any] | None = None, platform: str | None = None) -> Image:
        """``pyctr import``: a directory or a tar (plain, gzip, zstd; ``-`` for stdin) becomes a one-layer image.

        ``config``: the image's ``config`` part, already made from the changes (the
        front ends use pyctr.build.instructions, Dockerfile semantics); without it the
        changes are applied by the simpler :func:`apply_changes` here. ``platform``: whose
        image it is (the host's by default)."""
        from pyctr.images import reference
        from pyctr.layers.create import create_layer_tar
        from pyctr.layers.streams import open_layer_stream

        tags = [str(reference.parse(repository))] if repository else []
        content = self.content
        import contextlib
        import tempfile

        with tempfile.NamedTemporaryFile(dir=_tmpdir(self.engine.config.root), prefix="import-") as tmp:
            if source != "-" and os.path.isdir(source):
                create_layer_tar(source, tmp)
            else:
                try:
                    raw = open(source, "rb") if source != "-" else os.fdopen(os.dup(0), "rb")
                except OSError as e:
                    raise UsageError(f"cannot read {source}: {e.strerror}") from None
                import zlib

                try:
                    with raw, contextlib.closing(open_layer_stream(raw)) as stream:
                        for chunk in iter(lambda: stream.read(1 << 20), b""):
                            tmp.write(chunk)
                except (EOFError, zlib.error) as e:  # a cut or corrupt gzip stream: one line, no traceback
                    raise ImageError(f"broken layer: {e or type(e).__name__}") from None
                except OSError as e:
                    if e.errno is not None:
                        raise
                    raise ImageError(f"broken layer: {e}") from None  # gzip.BadGzipFile and relatives
            tmp.flush()
            _refuse_unterminated(tmp.name)  # no digest vouches for a local file: it must be a whole tar
            diff_id = content.put_file(tmp.name)
        try:
            layer_id = self.add_layer(diff_id, None, lambda: content.open(diff_id))
        except BaseException:
            # a broken or truncated tar: its blob goes too, unless an image has that content
            if not any(diff_id in (i.config.get("rootfs") or {}).get("diff_ids", []) for i in self.list()):
                content.delete(diff_id)
            raise
        now = _now_rfc3339()
        from pyctr.images.platforms import split

        os_, arch, variant = split(platform or "")
        config: dict[str, Any] = {
            "architecture": arch, "os": os_, **({"variant": variant} if variant else {}), "created": now,
            "config": config if config is not None else apply_changes({}, changes),
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": now, "comment": message or f"Imported from {source}"}],
        }
        return self.register(json.dumps(config, sort_keys=True).encode(), [layer_id], tags)


def _refuse_unterminated(path: str) -> None:
    """A tar that stops without its end-of-archive marker (or in its last member's padding) is
    refused for ``import``: only a registry digest can vouch that nothing is missing."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(max(0, size - 512))
        last = f.read(512)
    if size % 512:
        raise ImageError(f"{size} bytes is not a whole tar (its last member is not padded to 512 bytes): "
                         "layer truncated: no end-of-archive marker")
    if size and last.count(0) != len(last):
        raise ImageError("a local tar must end with a zero block, or it may be cut short: "
                         "layer truncated: no end-of-archive marker")


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """Dockerfile instructions allowed by ``import --change``."""
    for change in changes:
        word, _, rest = change.strip().partition(" ")
        word, rest = word.upper(), rest.strip()
        if word in ("CMD", "ENTRYPOINT"):
            value = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
            config["Cmd" if word == "CMD" else "Entrypoint"] = value
        elif word == "ENV":
            key, sep, val = rest.partition("=")
            if not sep:
                key, _, val = rest.partition(" ")
            config.setdefault("Env", []).append(f"{key}={val.strip()}")
        elif word == "WORKDIR":
            config["WorkingDir"] = rest
        elif word == "USER":
            config["User"] = rest
        elif word == "LABEL":
            key, _, val = rest.partition("=")
            config.setdefault("Labels", {})[key] = val.strip('"')
        elif word == "EXPOSE":
            for port in rest.split():
                config.setdefault("ExposedPorts", {})[port if "/" in port else f"{port}/tcp"] = {}
        elif word == "VOLUME":
            paths = json.loads(rest) if rest.startswith("[") else rest.split()
            for path in paths:
                config.setdefault("Volumes", {})[path] = {}
        elif word == "STOPSIGNAL":
            config["StopSignal"] = rest
        else:
            raise UsageError(f"{word} is not a valid change command")
    return config


def _tmpdir(root: Path) -> Path:
    path = root / "tmp"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() % 1 * 1e9):09d}Z"


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    import datetime

    try:
        base = text.rstrip("Z").split(".")[0]
        return datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC).timestamp()
    except ValueError:
        return None
