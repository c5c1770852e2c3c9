"""``pyctr push``: layers, then the config, then the manifest.

Where the layer blobs come from:

* a pulled image: its manifest and compressed blobs are in the content
  store, so they are pushed byte for byte and the manifest digest is the
  one it was pulled with;
* an imported (or loaded) image: the uncompressed layer tar is in the
  content store under its diff_id; it is gzipped into a new blob;
* otherwise the layer is re-created from the storage driver's ``diff/`` with
  :func:`create_layer_tar`; its diff_id then differs from the original, so
  the config is rewritten with the new diff_ids (a new image id, as when
  Docker pushes an image whose tar-split data is lost).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pyctr.core.errors import ImageError
from pyctr.images.progress import Progress
from pyctr.images.store import image_store

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.core.engine import Engine
    from pyctr.images.content import ContentStore
    from pyctr.images.store import Image

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass
class Blob:
    media_type: str
    digest: str
    size: int
    path: Path


def stored_manifest(content: ContentStore, image: Image) -> dict[str, Any] | None:
    """The pulled manifest of ``image`` if it and all its layer blobs are in the content store."""
    from pyctr.images.distribution import INDEX_TYPES

    if not image.manifest_digest or not content.has(image.manifest_digest):
        return None
    candidates = [image.manifest_digest]
    try:
        doc = json.loads(content.read(image.manifest_digest, limit=4 << 20))
        if doc.get("mediaType") in INDEX_TYPES or "manifests" in doc:
            candidates = [m.get("digest") for m in doc.get("manifests") or [] if isinstance(m, dict)]
    except (ValueError, ImageError):
        return None
    for digest in candidates:
        try:
            if not content.has(digest):
                continue
            raw = content.read(digest, limit=4 << 20)
            doc = json.loads(raw)
        except (ValueError, ImageError):
            continue
        if (doc.get("config") or {}).get("digest") != image.id:
            continue
        if all(content.has(layer.get("digest", "")) for layer in doc.get("layers") or []):
            return {"raw": raw, "doc": doc}
    return None


def layer_blobs(engine: Engine, image: Image, workdir: Path) -> tuple[list[Blob], list[str]]:
    """Compressed blobs for the image's layers, and the diff_ids they unpack to."""
    content = image_store(engine).content
    diff_ids = list((image.config.get("rootfs") or {}).get("diff_ids") or [])
    blobs, new_ids = [], []
    for i, layer_id in enumerate(image.layers):
        diff_id = diff_ids[i] if i < len(diff_ids) else ""
        out = workdir / f"layer{i}.tar.gz"
        h_tar = hashlib.sha256()
        with open(out, "wb") as raw_out:
            hashing = _HashingWriter(raw_out)
            with gzip.GzipFile(fileobj=hashing, mode="wb", compresslevel=1, mtime=0) as gz:
                if diff_id and content.has(diff_id):
                    with content.open(diff_id) as src:
                        for chunk in iter(lambda: src.read(1 << 20), b""):
                            h_tar.update(chunk)
                            gz.write(chunk)
                else:
                    _tar_from_driver(engine, layer_id, _Tee(gz, h_tar))
        blobs.append(Blob(OCI_LAYER_GZIP, "sha256:" + hashing.h.hexdigest(), out.stat().st_size, out))
        new_ids.append("sha256:" + h_tar.hexdigest())
    return blobs, new_ids


def _tar_from_driver(engine: Engine, layer_id: str, out: Any) -> None:
    from pyctr.layers.create import create_layer_tar

    meta = engine.storage.metadata(layer_id)
    src = meta.get("UpperDir")
    if not src:
        raise ImageError(f"layer {layer_id[:12]}: the {engine.storage_driver_name()} driver keeps no layer diff "
                         "and its blob is gone; pull the image again")
    create_layer_tar(src, out)


class _HashingWriter:
    def __init__(self, f: Any) -> None:
        self.f = f
        self.h = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.h.update(data)
        return self.f.write(data)

    def flush(self) -> None:
        self.f.flush()


class _Tee:
    def __init__(self, f: Any, h: Any) -> None:
        self.f, self.h = f, h

    def write(self, data: bytes) -> int:
        self.h.update(data)
        return self.f.write(data)

    def tell(self) -> int:
        return self.f.tell()


def push(engine: Engine, name: str, *, tls_verify: bool = True, progress: Progress | None = None,
         cert_dir: str | None = None) -> tuple[str, int]:
    """Push image ``name`` to the registry it names; returns (manifest digest, manifest size)."""
    from pyctr.core.errors import UsageError
    from pyctr.images import reference, registries

    progress = progress or Progress()
    ref = reference.parse(name)
    if ref.digest:
        raise UsageError("cannot push a digest reference; push a tag")
    image = image_store(engine).resolve(name)
    content = image_store(engine).content
    client = registries.client(engine, ref.registry, tls_verify=tls_verify, cert_dir=cert_dir)
    progress.message(f"The push refers to repository [{ref.name}]")
    try:
        stored = stored_manifest(content, image)
        if stored:
            doc = stored["doc"]
            raw, media_type = stored["raw"], doc.get("mediaType") or OCI_MANIFEST
            blobs = [Blob(d.get("mediaType", ""), d["digest"], d["size"], content.path(d["digest"]))
                     for d in doc["layers"]]
            config_raw = content.read(image.id)
            _push_blobs(client, ref.repository, blobs, progress)
            client.push_blob(ref.repository, image.id, content.path(image.id))
        else:
            with tempfile.TemporaryDirectory(prefix="push-", dir=_tmp(engine)) as tmp:
                for layer_id in image.layers:
                    progress.layer(layer_id[:12], "Preparing")
                blobs, diff_ids = layer_blobs(engine, image, Path(tmp))
                config = dict(image.config)
                if diff_ids != (config.get("rootfs") or {}).get("diff_ids"):
                    config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
                    config_raw = json.dumps(config, sort_keys=True).encode()
                else:
                    config_raw = content.read(image.id)
                _push_blobs(client, ref.repository, blobs, progress)
                config_digest = "sha256:" + hashlib.sha256(config_raw).hexdigest()
                client.push_blob(ref.repository, config_digest, config_raw)
            media_type = OCI_MANIFEST
            raw = json.dumps({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_raw)},
                "layers": [{"mediaType": b.media_type, "digest": b.digest, "size": b.size} for b in blobs],
            }, separators=(",", ":")).encode()
        digest = client.put_manifest(ref.repository, ref.tag or "latest", raw, media_type)
        content.put_bytes(raw)
    finally:
        client.close()
    progress.close()
    from pyctr.core import events

    events.record(engine, "image", "push", ref.familiar, {"name": ref.familiar})  # (the CLI's push and the API's)
    return digest, len(raw)


def _push_blobs(client: Any, repository: str, blobs: list[Blob], progress: Progress) -> None:
    def one(b: Blob) -> None:
        short = b.digest[7:19]
        progress.layer(short, "Pushing", 0, b.size)
        sent = client.push_blob(repository, b.digest, b.path)
        progress.layer(short, "Pushed" if sent else "Layer already exists")

    for b in blobs:
        progress.layer(b.digest[7:19], "Preparing")
    with ThreadPoolExecutor(max_workers=max(1, min(4, len(blobs)))) as pool:
        list(pool.map(one, blobs))


def _tmp(engine: Engine) -> str:
    path = engine.config.root / "tmp"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.fspath(path)
