"""A store that survives hostile images, measured: every layer of a generated corpus (more than
200: path, link and whiteout tricks, devices, huge and sparse members, xattrs, duplicates, deep
and wide trees, bad headers, compression bombs) goes through `import`'s code path into a real
overlay2 store. After each, the victim directory outside the store is unchanged (checked by its
own walk, not by pyctr's code), nothing but the store changed under the test's directory, and the
store checks clean; at the end a good image still pulls and runs."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from pyctr.core.errors import PyctrError
from pyctr.testing.corpus import compression_bombs, hostile_layers
from pyctr.testing.trees import remove_deep_trees  # noqa: F401 (autouse fixture)

pytestmark = [pytest.mark.registry, pytest.mark.root]


def snapshot(top: str) -> dict[str, tuple]:
    """Everything under ``top``: type, mode, owner, size, content hash, link target."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            extra: object = None
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    extra = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            out[os.path.relpath(p, top)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                                            st.st_size, extra)
    return out


def test_hostile_corpus_leaves_the_host_and_the_store_intact(pyctr, registry_images, tmp_path):
    from pyctr.core.config import Config
    from pyctr.core.engine import Engine
    from pyctr.images.check import check
    from pyctr.images.store import image_store
    from pyctr.layers import extract_layer

    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "keep").write_text("keep me\n")
    (victim / "sub" / "also").write_text("and me\n")
    before = snapshot(str(victim))
    etc_passwd = hashlib.sha256(open("/etc/passwd", "rb").read()).hexdigest()
    work = tmp_path / "corpus"
    work.mkdir()
    corpus = hostile_layers(str(victim)) + compression_bombs()
    assert len(corpus) >= 200
    eng = Engine(Config(root=pyctr.root, runroot=pyctr.runroot, storage_driver="overlay2"))
    store = image_store(eng)
    outside = set(os.listdir(tmp_path)) | {"root"}  # the store itself is made by the first import
    accepted = refused = 0
    for i, (name, blob) in enumerate(corpus):
        path = work / f"{i:03d}.layer"
        path.write_bytes(blob)
        try:
            store.import_rootfs(str(path), f"hostile:{i}", [])
            accepted += 1
        except PyctrError:  # one clear line; anything else (a traceback) fails the test
            refused += 1
        path.unlink()
        assert snapshot(str(victim)) == before, name
        assert set(os.listdir(tmp_path)) == outside, name
        if i % 40 == 39 or i == len(corpus) - 1:
            rep = check(eng, False)
            assert rep.problems == [], (name, rep.problems)
    # the bombs, with a limit below what they unpack to: refused, nothing left behind
    for _name, blob in compression_bombs():
        dest = tmp_path / "bomb"
        dest.mkdir()
        import io

        with pytest.raises(PyctrError, match="larger than|more than"):
            extract_layer(io.BytesIO(blob), dest, max_size=64 << 20)
        from pyctr.core.trees import remove_tree

        remove_tree(dest)
    assert hashlib.sha256(open("/etc/passwd", "rb").read()).hexdigest() == etc_passwd
    print(f"\nhostile corpus: {len(corpus)} layers, {accepted} accepted, {refused} refused, 0 escapes, "
          f"0 bricked stores")
    eng.db.close()
    # every hostile image goes, and the store still works for a good one
    for image in [line for line in pyctr("images", "-q", check=True).stdout.split()]:
        pyctr("rmi", "-f", image)
    assert pyctr("system", "check", check=True).stdout.strip() == "no problems found"
    good = registry_images["busybox"]
    pyctr("pull", "-q", good.ref, check=True)
    assert pyctr("run", "--rm", good.ref, "cat", "/etc/hostname").returncode == 0
    assert snapshot(str(victim)) == before
