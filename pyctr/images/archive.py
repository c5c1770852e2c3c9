"""``save`` and ``load``: docker-archive tars (and OCI-layout tars for load).

``save`` writes the classic docker-archive layout that ``docker load``,
``podman load`` and ``skopeo ... docker-archive:`` read::

    manifest.json                [{"Config": "<hex>.json", "RepoTags": [...], "Layers": ["<hex>/layer.tar", ...]}]
    <config hex>.json
    <diff_id hex>/layer.tar      uncompressed, hashing to the config's diff_id
    repositories                 the legacy {"repo": {"tag": "<top layer>"}} map

``load`` reads that, or an OCI image layout (``oci-layout``, ``index.json``,
``blobs/sha256/...``). The outer tar is read through :mod:`tarfile` without
ever writing its names to disk: members are looked up by the names the
manifests give, and layers go through the safe extractor.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

from pyctr.core.errors import ImageError, UsageError
from pyctr.images.content import validate_digest
from pyctr.images.store import image_store

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import IO, Any

    from pyctr.core.engine import Engine
    from pyctr.images.store import Image

MAX_JSON = 8 << 20


# ---------------------------------------------------------------- save --

def _layer_tar(engine: Engine, image: Image, index: int, workdir: Path) -> tuple[Path, str]:
    """An uncompressed tar of layer ``index`` and its diff_id (the original bytes when we have them)."""
    from pyctr.images.push import _tar_from_driver, stored_manifest

    content = image_store(engine).content
    diff_ids = (image.config.get("rootfs") or {}).get("diff_ids") or []
    diff_id = diff_ids[index] if index < len(diff_ids) else ""
    if diff_id and content.has(diff_id):
        return content.path(diff_id), diff_id
    out = workdir / f"layer{index}.tar"
    found = stored_manifest(content, image)
    if found and index < len(found["doc"].get("layers") or []):
        from pyctr.layers.streams import open_layer_stream

        with content.open(found["doc"]["layers"][index]["digest"]) as blob, open(out, "wb") as f:
            stream = open_layer_stream(blob)
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                f.write(chunk)
    else:
        with open(out, "wb") as f:
            _tar_from_driver(engine, image.layers[index], f)
    return out, _sha256_file(out)


def _sha256_file(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def save(engine: Engine, names: list[str], out: IO[bytes]) -> None:
    from pyctr.images.reference import parse

    store = image_store(engine)
    images: dict[str, tuple[Image, list[str]]] = {}
    for name in names:
        image = store.resolve(name)
        tags = images.setdefault(image.id, (image, []))[1]
        try:
            ref = str(parse(name))
        except UsageError:
            ref = ""
        if ref in image.tags:
            wanted = [ref]
        elif _names_the_id(name, image.id):
            wanted = []  # as docker save: an image saved by its id goes without its tags (loads as an id)
        else:
            wanted = image.tags
        tags.extend(t for t in wanted if t not in tags and "@" not in t)
    tmpdir = engine.config.root / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    manifest, repositories, written = [], {}, set()
    with tempfile.TemporaryDirectory(prefix="save-", dir=tmpdir) as tmp, \
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for image, tags in images.values():
            layer_names, diff_ids = [], []
            for i in range(len(image.layers)):
                path, diff_id = _layer_tar(engine, image, i, Path(tmp))
                name = f"{diff_id[7:]}/layer.tar"
                if name not in written:
                    _add_dir(tf, diff_id[7:])
                    _add_file(tf, name, path)
                    written.add(name)
                layer_names.append(name)
                diff_ids.append(diff_id)
            config = dict(image.config)
            if diff_ids != (config.get("rootfs") or {}).get("diff_ids"):
                config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
                config_raw = json.dumps(config, sort_keys=True).encode()
            else:
                config_raw = store.content.read(image.id) if store.content.has(image.id) else \
                    _config_raw(engine, image)
            import hashlib

            config_name = hashlib.sha256(config_raw).hexdigest() + ".json"
            _add_bytes(tf, config_name, config_raw)
            familiar = [parse(t).familiar for t in tags]
            manifest.append({"Config": config_name, "RepoTags": familiar or None, "Layers": layer_names})
            for t in tags:
                ref = parse(t)
                if layer_names:
                    repositories.setdefault(ref.familiar_name, {})[ref.tag or "latest"] = layer_names[-1].split("/")[0]
        _add_bytes(tf, "manifest.json", json.dumps(manifest).encode())
        if repositories:
            _add_bytes(tf, "repositories", json.dumps(repositories).encode())


def _names_the_id(name: str, image_id: str) -> bool:
    hexpart = name.removeprefix("sha256:")
    return bool(hexpart) and all(c in "0123456789abcdef" for c in hexpart) and image_id[7:].startswith(hexpart)


def _config_raw(engine: Engine, image: Image) -> bytes:
    row = engine.db.execute("SELECT config FROM images WHERE id = ?", (image.id,)).fetchone()
    return row[0].encode()


def _info(name: str, size: int = 0, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size, ti.type, ti.mode, ti.mtime = size, kind, 0o644 if kind == tarfile.REGTYPE else 0o755, 0
    return ti


def _add_dir(tf: tarfile.TarFile, name: str) -> None:
    tf.addfile(_info(name, 0, tarfile.DIRTYPE))


def _add_file(tf: tarfile.TarFile, name: str, path: Path) -> None:
    with open(path, "rb") as f:
        tf.addfile(_info(name, os.fstat(f.fileno()).st_size), f)


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    tf.addfile(_info(name, len(data)), io.BytesIO(data))


# ---------------------------------------------------------------- load --

def _member(tf: tarfile.TarFile, name: str) -> IO[bytes]:
    name = name.lstrip("./") if name.startswith("./") else name
    try:
        ti = tf.getmember(name)
    except KeyError:
        try:
            ti = tf.getmember("./" + name)
        except KeyError:
            raise ImageError(f"archive has no {name!r}") from None
    if not ti.isfile():
        raise ImageError(f"{name!r} in the archive is not a regular file")
    f = tf.extractfile(ti)
    assert f is not None
    return f


def _json(tf: tarfile.TarFile, name: str) -> Any:
    data = _member(tf, name).read(MAX_JSON + 1)
    if len(data) > MAX_JSON:
        raise ImageError(f"{name} in the archive is too large")
    try:
        return json.loads(data)
    except ValueError:
        raise ImageError(f"{name} in the archive is not JSON") from None


def load(engine: Engine, source: IO[bytes]) -> list[str]:
    """Load every image in a docker-archive or OCI-layout tar; returns ``Loaded image...`` lines."""
    tmpdir = engine.config.root / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.NamedTemporaryFile(dir=tmpdir, prefix="load-") as spool:
        # Random access needs a seekable file; gzip'd archives are unpacked once here.
        head = source.read(2)
        stream: IO[bytes] = gzip.GzipFile(fileobj=_Prefixed(head, source)) if head == b"\x1f\x8b" \
            else _Prefixed(head, source)  # type: ignore[assignment]
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            spool.write(chunk)
        spool.flush()
        spool.seek(0)
        try:
            tf = tarfile.open(fileobj=spool, mode="r:")
        except tarfile.TarError as e:
            raise ImageError(f"not an image archive: {e}") from None
        with tf:
            names = set(tf.getnames())
            if "manifest.json" in names or "./manifest.json" in names:
                return _load_docker(engine, tf)
            if "index.json" in names or "./index.json" in names:
                return _load_oci(engine, tf)
            raise ImageError("not an image archive: no manifest.json or index.json")


class _Prefixed:
    def __init__(self, head: bytes, f: IO[bytes]) -> None:
        self.head, self.f = head, f

    def read(self, n: int = -1) -> bytes:
        if self.head:
            data, self.head = self.head, b""
            if n < 0:
                return data + self.f.read()
            return data + self.f.read(max(0, n - len(data)))
        return self.f.read(n)

    def readable(self) -> bool:
        return True


def _import_layers(engine: Engine, tf: tarfile.TarFile, diff_ids: list[str], layer_names: list[str]) -> list[str]:
    from pyctr.images.store import chain_ids

    store = image_store(engine)
    content = store.content
    layer_ids, parent = [], None
    for diff_id, name in zip(diff_ids, layer_names):
        validate_digest(diff_id)
        chain = chain_ids([parent, diff_id])[1] if parent else diff_id
        if not store.layer_present(chain):
            # keep the member as a blob (push and save reuse it), then unpack from there
            digest = _ingest(content, _member(tf, name))
            store.add_layer(diff_id, parent, lambda d=digest: content.open(d))  # type: ignore[misc]
        layer_ids.append(chain[7:])
        parent = chain
    return layer_ids


def _ingest(content: Any, f: IO[bytes]) -> str:
    import hashlib

    tmp = tempfile.NamedTemporaryFile(dir=content.root.parent / "tmp", prefix="blob-", delete=False)
    h = hashlib.sha256()
    try:
        with tmp:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
                tmp.write(chunk)
        digest = "sha256:" + h.hexdigest()
        if not content.has(digest):
            content.put_file(tmp.name)
        return digest
    finally:
        os.unlink(tmp.name)


def _load_docker(engine: Engine, tf: tarfile.TarFile) -> list[str]:
    from pyctr.images.distribution import parse_diff_ids
    from pyctr.images.reference import parse

    doc = _json(tf, "manifest.json")
    if not isinstance(doc, list):
        raise ImageError("manifest.json is not a list")
    lines = []
    for entry in doc:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) or \
                not isinstance(entry.get("Layers"), list):
            raise ImageError("manifest.json entry lacks Config or Layers")
        config_raw = _member(tf, entry["Config"]).read(MAX_JSON + 1)
        if len(config_raw) > MAX_JSON:
            raise ImageError("image config in the archive is too large")
        diff_ids = parse_diff_ids(config_raw, len(entry["Layers"]))
        layer_ids = _import_layers(engine, tf, diff_ids, [str(n) for n in entry["Layers"]])
        tags = [str(parse(t)) for t in entry.get("RepoTags") or []]
        image = image_store(engine).register(config_raw, layer_ids, tags)
        lines += [f"Loaded image: {parse(t).familiar}" for t in tags] or [f"Loaded image ID: {image.id}"]
    return lines


def _load_oci(engine: Engine, tf: tarfile.TarFile) -> list[str]:
    from pyctr.images.distribution import INDEX_TYPES, parse_diff_ids, parse_image_manifest, platform_matches
    from pyctr.images.reference import parse

    content = image_store(engine).content
    index = _json(tf, "index.json")
    lines = []

    def blob(digest: str) -> str:
        return f"blobs/sha256/{validate_digest(digest)}"

    for entry in (index.get("manifests") or []) if isinstance(index, dict) else []:
        if not isinstance(entry, dict):
            continue
        annotations = entry.get("annotations") or {}
        name = annotations.get("io.containerd.image.name") or annotations.get("org.opencontainers.image.ref.name")
        if name and "/" not in name and ":" not in name:
            name = None  # a bare tag ("latest") names no repository
        raw = _member(tf, blob(entry.get("digest", ""))).read(MAX_JSON + 1)
        doc = json.loads(raw)
        if doc.get("mediaType") in INDEX_TYPES or "manifests" in doc:
            child = next((m for m in doc.get("manifests") or [] if platform_matches(m, "linux/amd64")), None)
            if child is None:
                raise ImageError("OCI index in the archive has no linux/amd64 image")
            raw = _member(tf, blob(child.get("digest", ""))).read(MAX_JSON + 1)
        manifest = parse_image_manifest(raw)
        config_raw = _member(tf, blob(manifest.config.digest)).read(MAX_JSON + 1)
        diff_ids = parse_diff_ids(config_raw, len(manifest.layers))
        layer_ids = _import_layers(engine, tf, diff_ids, [blob(d.digest) for d in manifest.layers])
        manifest_digest = content.put_bytes(raw)
        tags = []
        if name:
            try:
                tags = [str(parse(name))]
            except UsageError:
                tags = []  # a bare tag ("latest") names no repository
        image = image_store(engine).register(config_raw, layer_ids, tags, manifest_digest=manifest_digest)
        lines += [f"Loaded image: {parse(t).familiar}" for t in tags] or [f"Loaded image ID: {image.id}"]
    if not lines:
        raise ImageError("index.json lists no images")
    return lines
