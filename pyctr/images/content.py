"""Content-addressed blob store: ``ROOT/sha256/<hex>``.

Every blob enters through :meth:`ContentStore.ingest`: bytes go to
``ROOT/ingest/<hex>.partial``, and only after fsync and a check of size *and*
sha256 is the file renamed into place (then the directory is fsynced). So a
blob path that exists always holds the right bytes, and a download killed
half way leaves only a partial that the next attempt resumes from.

Digests come from registries and image files, i.e. from strangers:
:func:`validate_digest` runs before any path is built from one
(CVE-2024-3727 was a digest used as a path).
"""

from __future__ import annotations

import builtins
import fcntl
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from pyctr.core.errors import ImageError, NotFound

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import IO

_DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")
_CHUNK = 1 << 20


def validate_digest(digest: object) -> str:
    """Return the hex part of ``sha256:<64 lowercase hex>``; raise :class:`ImageError` otherwise."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        shown = repr(digest)[:80]
        raise ImageError(f"invalid digest {shown}: want sha256:<64 lowercase hex>")
    return digest[7:]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IngestWriter:
    """Writes one blob; use as a context manager from :meth:`ContentStore.ingest`.

    ``offset`` is how many bytes are already there (a partial from an earlier
    attempt); write the rest. Leaving the ``with`` block normally commits
    (verify, rename); leaving it by an exception keeps the partial so a retry
    can resume. :meth:`reset` starts over (a server that ignored ``Range``).
    """

    def __init__(self, store: ContentStore, digest: str, size: int | None) -> None:
        self.store = store
        self.digest = digest
        self.hex = validate_digest(digest)
        if size is not None and size < 0:
            raise ImageError(f"invalid size {size} for blob {digest}")
        self.size = size
        self.partial = store.root / "ingest" / f"{self.hex}.partial"
        self.done = False
        self._fd = -1
        self._hash = hashlib.sha256()
        self.offset = 0

    # -- opening: lock, then pick up what an earlier attempt left ----------
    def _open(self) -> None:
        if self.store.has(self.digest):
            self._already_there()
            return
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.partial, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            # Two pulls of the same layer at once: the second waits here.
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(self.partial, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder committed or discarded it; take the new one
        self._fd = fd
        if self.store.has(self.digest):
            # Someone else finished it while we waited for the lock; the
            # partial we hold is an empty one we just created.
            os.unlink(self.partial)
            self._already_there()
            return
        have = os.fstat(fd).st_size
        if self.size is not None and have > self.size:
            have = 0
            os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        left = have
        while left:
            chunk = os.read(fd, min(_CHUNK, left))
            if not chunk:
                break
            self._hash.update(chunk)
            left -= len(chunk)
        self.offset = have - left
        os.ftruncate(fd, self.offset)
        os.lseek(fd, self.offset, os.SEEK_SET)

    def _already_there(self) -> None:
        self.done = True
        self.offset = self.size if self.size is not None else os.path.getsize(self.store.path(self.digest))

    def reset(self) -> None:
        """Discard what is there and start from byte 0."""
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        self._hash = hashlib.sha256()
        self.offset = 0

    def write(self, data: bytes) -> int:
        if self.done:
            return len(data)
        if self.size is not None and self.offset + len(data) > self.size:
            self._discard()
            raise ImageError(f"blob {self.digest} is larger than the {self.size} bytes announced")
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._hash.update(data)
        self.offset += len(data)
        return len(data)

    def _discard(self) -> None:
        try:
            os.unlink(self.partial)
        except FileNotFoundError:
            pass
        self.done = True

    def commit(self) -> Path:
        final = self.store.path(self.digest)
        if self.done:
            if final.exists():
                return final
            raise ImageError(f"blob {self.digest} was discarded")
        os.fsync(self._fd)
        if self.size is not None and self.offset != self.size:
            self._discard()
            raise ImageError(f"blob {self.digest}: got {self.offset} bytes, expected {self.size}")
        got = "sha256:" + self._hash.hexdigest()
        if got != self.digest:
            self._discard()
            raise ImageError(f"blob {self.digest}: content has digest {got}")
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.partial, final)
        _fsync_dir(final.parent)
        self.done = True
        return final

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # also drops the flock
            self._fd = -1

    def __enter__(self) -> IngestWriter:
        self._open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.close()


class NewBlobWriter:
    """Writes a blob whose digest is not known yet (a layer being made): hashed as it is
    written, renamed into place by :meth:`commit`, which returns the digest. The
    partial is flocked while written, so ``system check`` leaves it alone; an
    exception inside the ``with`` block removes it."""

    def __init__(self, store: ContentStore) -> None:
        self.store = store
        store.root.joinpath("ingest").mkdir(parents=True, exist_ok=True)
        self.partial = store.root / "ingest" / f"new-{os.getpid()}-{os.urandom(6).hex()}.partial"
        self._fd = os.open(self.partial, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    def commit(self) -> str:
        digest = "sha256:" + self._hash.hexdigest()
        final = self.store.path(digest)
        if final.exists():
            os.unlink(self.partial)
        else:
            os.fsync(self._fd)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.partial, final)
            _fsync_dir(final.parent)
        return digest

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> NewBlobWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            try:
                os.unlink(self.partial)
            except FileNotFoundError:
                pass
        self.close()


class ContentStore:
    """Blobs by digest under ``root``. Safe to share between threads and processes."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        return self.root / "sha256" / validate_digest(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def open(self, digest: str) -> IO[bytes]:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def read(self, digest: str, limit: int | None = None) -> bytes:
        """The whole blob; with ``limit``, refuse blobs larger than that many bytes."""
        with self.open(digest) as f:
            if limit is not None:
                data = f.read(limit + 1)
                if len(data) > limit:
                    raise ImageError(f"blob {digest} is larger than {limit} bytes")
                return data
            return f.read()

    def new_blob(self) -> NewBlobWriter:
        """A writer for a blob of unknown digest; see :class:`NewBlobWriter`."""
        return NewBlobWriter(self)

    def ingest(self, digest: str, size: int | None = None) -> IngestWriter:
        """A writer for one blob; see :class:`IngestWriter`."""
        return IngestWriter(self, digest, size)

    def put_bytes(self, data: bytes) -> str:
        digest = sha256_digest(data)
        if self.has(digest):
            return digest
        with self.ingest(digest, len(data)) as w:
            if not w.done:
                w.reset()
                w.write(data)
        return digest

    def put_file(self, src: str | os.PathLike[str]) -> str:
        """Copy a file in (hashing it first) and return its digest."""
        h = hashlib.sha256()
        with open(src, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
        digest = "sha256:" + h.hexdigest()
        if self.has(digest):
            return digest
        with self.ingest(digest, os.path.getsize(src)) as w, open(src, "rb") as f:
            if not w.done:
                w.reset()
                for chunk in iter(lambda: f.read(_CHUNK), b""):
                    w.write(chunk)
        return digest

    def delete(self, digest: str) -> bool:
        """Remove a blob; False if it was not there."""
        try:
            os.unlink(self.path(digest))
            return True
        except FileNotFoundError:
            return False

    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob; False if missing or modified."""
        h = hashlib.sha256()
        try:
            with open(self.path(digest), "rb") as f:
                for chunk in iter(lambda: f.read(_CHUNK), b""):
                    h.update(chunk)
        except FileNotFoundError:
            return False
        return "sha256:" + h.hexdigest() == digest

    def list(self) -> list[str]:
        return sorted(self._iter())

    def _iter(self) -> Iterator[str]:
        try:
            names = os.listdir(self.root / "sha256")
        except FileNotFoundError:
            return
        for name in names:
            if _DIGEST_RE.fullmatch("sha256:" + name):
                yield "sha256:" + name

    def partials(self) -> builtins.list[Path]:
        """Leftover ``.partial`` files (for ``system check`` / prune)."""
        try:
            return sorted((self.root / "ingest").glob("*.partial"))
        except FileNotFoundError:
            return []
