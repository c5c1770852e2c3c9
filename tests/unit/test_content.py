"""Content store: ingest -> fsync -> verify -> rename, resume, refusal of bad digests."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from pyctr.core.errors import ImageError, NotFound
from pyctr.images.content import ContentStore, validate_digest


def dg(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path):
    return ContentStore(tmp_path / "content")


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_put_read_verify_list(store):
    d = store.put_bytes(b"hello")
    assert d == dg(b"hello")
    assert store.has(d) and store.verify(d)
    assert store.read(d) == b"hello"
    assert store.path(d) == store.root / "sha256" / d[7:]
    assert store.list() == [d]
    assert store.put_bytes(b"hello") == d
    with store.open(d) as f:
        assert f.read() == b"hello"
    assert store.delete(d) and not store.has(d) and not store.delete(d)


def test_read_limit(store):
    d = store.put_bytes(b"x" * 100)
    assert store.read(d, limit=100) == b"x" * 100
    with pytest.raises(ImageError):
        store.read(d, limit=99)


def test_missing_blob(store):
    with pytest.raises(NotFound):
        store.read(dg(b"nope"))
    assert not store.verify(dg(b"nope"))


@pytest.mark.parametrize("bad", [
    "sha256:../../../etc/passwd",
    "sha256:" + "a" * 63,
    "sha256:" + "A" * 64,
    "sha256:" + "a" * 64 + "/x",
    "sha256:" + "a" * 64 + "\n",
    "sha512:" + "a" * 128,
    "../" + "a" * 64,
    "",
    None,
])
def test_bad_digest_rejected_before_any_path(store, bad, tmp_path):
    with pytest.raises(ImageError):
        validate_digest(bad)
    for call in (store.path, store.has, store.read, store.delete, store.verify,
                 lambda d: store.ingest(d, 1)):
        with pytest.raises(ImageError):
            call(bad)
    assert tree(tmp_path) == []  # nothing was created, not even the store root


def test_ingest_commit(store):
    data = os.urandom(3 << 20)
    d = dg(data)
    with store.ingest(d, len(data)) as w:
        assert w.offset == 0
        w.write(data[:100])
        w.write(data[100:])
    assert store.verify(d)
    assert store.partials() == []


def test_ingest_resume_after_interruption(store):
    data = os.urandom(200_000)
    d = dg(data)
    with pytest.raises(ConnectionError):
        with store.ingest(d, len(data)) as w:
            w.write(data[:70_000])
            raise ConnectionError("network went away")
    assert not store.has(d)
    assert len(store.partials()) == 1
    with store.ingest(d, len(data)) as w:
        assert w.offset == 70_000  # resumes from the partial
        w.write(data[w.offset:])
    assert store.verify(d) and store.partials() == []


def test_resume_with_corrupt_partial_fails_and_cleans(store):
    data = b"a" * 1000
    d = dg(data)
    part = store.root / "ingest" / f"{d[7:]}.partial"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"b" * 500)  # wrong prefix from "an earlier attempt"
    with pytest.raises(ImageError, match="digest"):
        with store.ingest(d, len(data)) as w:
            w.write(data[w.offset:])
    assert not store.has(d) and not part.exists()


@pytest.mark.parametrize("case", ["digest", "short", "long"])
def test_mismatch_leaves_nothing(store, case):
    data = b"payload" * 100
    d = dg(data)
    with pytest.raises(ImageError):
        with store.ingest(d, len(data)) as w:
            if case == "digest":
                w.write(b"X" + data[1:])
            elif case == "short":
                w.write(data[:-1])
            else:
                w.write(data + b"!")
    assert not store.has(d)
    assert store.partials() == []
    assert store.list() == []


def test_ingest_reset(store):
    data = b"0123456789"
    d = dg(data)
    with store.ingest(d, len(data)) as w:
        w.write(b"garbage")
        w.reset()
        w.write(data)
    assert store.verify(d)


def test_verify_detects_modification(store):
    d = store.put_bytes(b"original")
    os.chmod(store.path(d), 0o644)
    store.path(d).write_bytes(b"modified")
    assert not store.verify(d)


def test_concurrent_ingest_same_digest(store):
    data = os.urandom(1 << 20)
    d = dg(data)
    errors = []

    def worker():
        try:
            with store.ingest(d, len(data)) as w:
                if not w.done:
                    w.write(data[w.offset:])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.verify(d) and store.partials() == []


def test_put_file(store, tmp_path):
    src = tmp_path / "f"
    src.write_bytes(b"file data")
    assert store.put_file(src) == dg(b"file data")
    assert store.read(dg(b"file data")) == b"file data"
