"""``pyctr pull``: manifest → config → layers, into the content store and the storage driver.

Order of things, and why it is crash safe:

1. The manifest (an index is followed to the platform's entry) and the
   config are fetched into the content store; the config's diff_ids must
   match the manifest's layer count.
2. Layers whose chain id is already a complete layer are skipped entirely —
   not even their blob is fetched ("Already exists").
3. The missing layers' intent rows (``complete = 0``) are written, then their
   blobs are fetched by a pool of threads (each thread its own connection)
   into the content store, verified by digest as they land.
4. Unpacking: with a driver whose layers are independent directories
   (overlay2) every layer is unpacked as soon as its blob is there, in
   parallel, into a staging directory (diff_id checked while unpacking); the
   staged layers are then committed base first. vfs copies the parent, so
   there each layer is unpacked after its parent, while later blobs still
   download.
5. The image row and its tag are written last, in one transaction
   (:meth:`ImageStore.register` refuses incomplete layers).

Killed anywhere, what is left is partial blobs (resumed next time), staging
directories (removed next time: the owning pid is dead) and layer rows with
``complete = 0`` (rebuilt next time); no image row points at any of them.
"""

from __future__ import annotations

import fcntl
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from pyctr.core.errors import ImageError
from pyctr.images.progress import CountingReader, Progress
from pyctr.images.store import image_store

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.core.engine import Engine
    from pyctr.images.store import Image

#: layers downloading at once (Docker's default max-concurrent-downloads is 3; a
#: local registry and a multi-core machine do better with a few more)
MAX_DOWNLOADS = 6
MAX_CONFIG = 8 << 20


@dataclass
class PullResult:
    image: Image
    reference: str  #: normalised, e.g. docker.io/library/busybox:latest
    familiar: str  #: as Docker prints it, e.g. busybox:latest
    digest: str  #: the manifest (or index) digest
    fresh: bool  #: something new was downloaded


class _Lock:
    """An exclusive lock on the root's layer store while layers are committed and images registered."""

    def __init__(self, engine: Engine) -> None:
        path = engine.config.root / "layers.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def __enter__(self) -> _Lock:
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self.fd)


def pull(engine: Engine, name: str, *, platform: str | None = None, tls_verify: bool = True,
         progress: Progress | None = None, cert_dir: str | None = None) -> PullResult:
    from pyctr.images import reference, registries
    from pyctr.images.distribution import parse_diff_ids, parse_image_manifest
    from pyctr.images.store import chain_ids

    progress = progress or Progress()
    ref = reference.parse(name)
    engine.storage_driver_name()  # (a storage driver that cannot take this store's layers: said before any fetch)
    client, result = registries.resolve(engine, ref.registry, ref.repository, ref.reference, platform,
                                        tls_verify=tls_verify, cert_dir=cert_dir)
    store = image_store(engine)
    content = store.content
    try:
        manifest = parse_image_manifest(result.raw)
        progress.message(f"{ref.tag or ref.digest}: Pulling from {ref.repository}")
        cfg = manifest.config
        if cfg.size > MAX_CONFIG:
            raise ImageError(f"image config is larger than {MAX_CONFIG} bytes")
        client.fetch_blob(ref.repository, cfg.digest, cfg.size, content)
        config_raw = content.read(cfg.digest, limit=MAX_CONFIG)
        diff_ids = parse_diff_ids(config_raw, len(manifest.layers))
        content.put_bytes(result.raw)  # push and save find the manifest here
        if result.index_raw:
            content.put_bytes(result.index_raw)
        chains = chain_ids(diff_ids)
        layer_ids = [c.split(":", 1)[1] for c in chains]
        _cleanup_stale(engine)
        missing = [i for i, chain in enumerate(chains) if not store.layer_present(chain)]
        for i, d in enumerate(manifest.layers):
            progress.layer(d.digest[7:19], "Already exists" if i not in missing else "Pulling fs layer")
        if missing:
            _fetch_and_unpack(engine, client, ref.repository, manifest.layers, diff_ids, layer_ids, missing, progress)
        digest = result.index_digest or result.digest
        tags = [str(ref)]
        lock = _Lock(engine)
        try:
            with lock:
                existing = _existing(engine, content.path(cfg.digest).name, tags)
                image = store.register(config_raw, layer_ids, tags, manifest_digest=digest)
        finally:
            lock.close()
        progress.close()
        from pyctr.core import events

        events.record(engine, "image", "pull", ref.familiar, {"name": ref.familiar})  # (the CLI's pull and the API's)
        return PullResult(image, str(ref), ref.familiar, digest, fresh=bool(missing) or not existing)
    finally:
        client.close()


def _existing(engine: Engine, config_hex: str, tags: list[str]) -> bool:
    """The image already exists under these tags (Docker then says "Image is up to date")."""
    row = engine.db.execute("SELECT name FROM tags WHERE image_id = ? AND name = ?",
                            (f"sha256:{config_hex}", tags[0])).fetchone()
    return row is not None


def _cleanup_stale(engine: Engine) -> None:
    """Staging directories and layer dirs of killed pulls (their pid is dead)."""
    storage = engine.storage
    cleanup = getattr(storage, "cleanup_staging", None)
    if cleanup is not None:
        cleanup()


def _fetch_and_unpack(engine: Engine, client: Any, repository: str, descriptors: Any, diff_ids: list[str],
                      layer_ids: list[str], missing: list[int], progress: Progress) -> None:
    store = image_store(engine)
    content = store.content
    storage = engine.storage
    parallel = storage.independent_layers
    lock = _Lock(engine)
    with lock:
        for i in missing:
            if not store.layer_present("sha256:" + layer_ids[i]):
                store.begin_layer(layer_ids[i], diff_ids[i], layer_ids[i - 1] if i else None)
    cancelled = threading.Event()

    def fetch(i: int) -> Any:
        d = descriptors[i]
        short = d.digest[7:19]
        if cancelled.is_set():
            raise ImageError("pull cancelled")
        if not content.has(d.digest):
            client.fetch_blob(repository, d.digest, d.size, content,
                              progress=lambda cur, tot: progress.layer(short, "Downloading", cur, tot))
            progress.layer(short, "Verifying Checksum")
        progress.layer(short, "Download complete")
        if not parallel:
            return None
        if procs is not None:
            progress.layer(short, "Extracting")
            return procs.submit(_stage_in_child, layer_ids[i], str(content.path(d.digest)), diff_ids[i]).result()
        return _unpack(i, lambda stream: storage.stage_diff(layer_ids[i], stream, diff_ids[i]))

    def _unpack(i: int, apply: Any) -> Any:
        d = descriptors[i]
        short = d.digest[7:19]
        if cancelled.is_set():
            raise ImageError("pull cancelled")
        progress.layer(short, "Extracting", 0, d.size)
        with CountingReader(content.open(d.digest), lambda n: progress.layer(short, "Extracting", n, d.size)) as f:
            return apply(f)

    workers = max(1, min(MAX_DOWNLOADS, len(missing)))
    procs = _unpack_processes(storage, len(missing)) if parallel else None
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pull")
    futures: dict[int, Future] = {i: pool.submit(fetch, i) for i in missing}
    try:
        for i in missing:
            handle = futures[i].result()
            parent = layer_ids[i - 1] if i else None
            short = descriptors[i].digest[7:19]
            with lock:
                if store.layer_present("sha256:" + layer_ids[i]):
                    # another pull built it meanwhile
                    if handle is not None:
                        storage.discard_staged(handle[0])
                    progress.layer(short, "Pull complete")
                    continue
                storage.remove(layer_ids[i])  # a leftover of a killed attempt
                if parallel:
                    storage.commit_staged(handle[0], layer_ids[i], parent)
                    size = handle[1]
                else:
                    size = _unpack(i, lambda stream, i=i, parent=parent: storage.apply_diff(layer_ids[i], parent, stream, diff_id=diff_ids[i]))
                store.finish_layer(layer_ids[i], size)
            progress.layer(short, "Pull complete")
    except BaseException:
        cancelled.set()
        pool.shutdown(wait=True, cancel_futures=True)
        for fut in futures.values():
            # staged but not committed (a committed one was renamed away: no-op)
            if fut.done() and not fut.cancelled() and fut.exception() is None and fut.result() is not None:
                storage.discard_staged(fut.result()[0])
        raise
    finally:
        pool.shutdown(wait=True)
        if procs is not None:
            # only now: a staging directory is "in use" while its worker lives
            procs.shutdown(wait=True)
        lock.close()


#: the storage driver, for unpacking processes forked from a pull
_CHILD_STORAGE: Any = None


def _unpack_processes(storage: Any, layers: int) -> Any:
    """Worker processes for unpacking independent layers, or None for one layer or one CPU.

    Unpacking is a syscall per file step, and each one gives up the GIL;
    threads then queue for it behind the ones decompressing (measured: most
    of a thread-only pull's time was futex waits). Processes do not share a
    GIL. They are forked before any download thread exists (fork after
    threads is unsafe), and die with the pull (PR_SET_PDEATHSIG), so a
    killed pull leaves no worker writing into a staging directory.
    """
    global _CHILD_STORAGE
    cpus = len(os.sched_getaffinity(0))
    if layers < 2 or cpus < 2 or os.environ.get("PYCTR_PULL_THREADS_ONLY"):
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import pyctr.layers.extract  # noqa: F401  (imported before the fork, not in each child)

    _CHILD_STORAGE = storage
    procs = ProcessPoolExecutor(max_workers=min(layers, cpus), mp_context=multiprocessing.get_context("fork"),
                                initializer=_die_with_parent, initargs=(os.getpid(),))
    procs.submit(int).result()  # fork every worker now, while this process has one thread
    return procs


def _die_with_parent(parent: int) -> None:
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the pull died before prctl: orphans go to a reaper, not always pid 1
        os._exit(1)


def _stage_in_child(layer_id: str, blob: str, diff_id: str) -> Any:
    with open(blob, "rb") as f:
        return _CHILD_STORAGE.stage_diff(layer_id, f, diff_id)
