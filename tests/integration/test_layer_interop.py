"""Layers against an independent implementation (umoci) and the kernel's overlayfs.

* umoci writes layers (with whiteouts, from its own diff); pyctr applies them
  in "delete" mode and must produce the tree ``umoci unpack`` produces.
* The same layers extracted in "overlay" mode and stacked with a real
  overlay mount must show that tree too (whiteout devices, opaque xattrs).
* A layer written by ``create_layer_tar`` must unpack with umoci to the tree
  it was made from.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from pyctr.layers.extract import extract_layer
from pyctr.testing.images import build_busybox_rootfs, image_config, image_manifest, layer_from_dir, write_oci_layout

pytestmark = [pytest.mark.root, pytest.mark.skipif(not shutil.which("umoci"), reason="umoci not installed")]


def umoci(*args: str) -> None:
    subprocess.run(["umoci", *args], check=True, capture_output=True, timeout=120)


def tree(root: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            digest = None
            if stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(Path(p).read_bytes()).hexdigest()
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            mode = stat.S_IMODE(st.st_mode) if not stat.S_ISLNK(st.st_mode) else None
            out[rel] = (stat.S_IFMT(st.st_mode), mode, st.st_uid, st.st_gid, digest, link)
    return out


@pytest.fixture
def umoci_image(tmp_path):
    """An image made by umoci: three layers with deletions, a replaced directory and a setuid file."""
    lay = tmp_path / "img"
    umoci("init", "--layout", str(lay))
    umoci("new", "--image", f"{lay}:t")
    steps = [
        lambda r: (build_busybox_rootfs(r), (r / "etc/d").mkdir(), (r / "etc/d/a").write_text("a"),
                   (r / "etc/f").write_text("f"), (r / "opt").mkdir(), (r / "opt/keep").write_text("k"),
                   os.chmod(r / "bin/busybox", 0o4755)),
        lambda r: ((r / "etc/f").unlink(), shutil.rmtree(r / "etc/d"), (r / "etc/d").mkdir(),
                   (r / "etc/d/new").write_text("new"), (r / "bin/ls").unlink(), os.symlink("busybox", r / "bin/l2")),
        lambda r: (shutil.rmtree(r / "opt"), (r / "opt").write_text("now a file"), (r / "etc/hostname").write_text("x")),
    ]
    for i, step in enumerate(steps):
        b = tmp_path / f"bundle{i}"
        umoci("unpack", "--image", f"{lay}:t", str(b))
        step(b / "rootfs")
        umoci("repack", "--image", f"{lay}:t", str(b))
        shutil.rmtree(b)
    final = tmp_path / "final"
    umoci("unpack", "--image", f"{lay}:t", str(final))
    index = json.loads((lay / "index.json").read_text())
    man = json.loads((lay / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    cfg = json.loads((lay / "blobs/sha256" / man["config"]["digest"][7:]).read_bytes())
    blobs = [lay / "blobs/sha256" / la["digest"][7:] for la in man["layers"]]
    return blobs, cfg["rootfs"]["diff_ids"], final / "rootfs"


def test_delete_mode_matches_umoci(umoci_image, tmp_path):
    blobs, diff_ids, expected = umoci_image
    root = tmp_path / "ours"
    root.mkdir()
    for blob, diff_id in zip(blobs, diff_ids, strict=True):
        with open(blob, "rb") as f:
            extract_layer(f, root, whiteouts="delete", diff_id=diff_id)
    assert tree(root) == tree(expected)


def _mount_overlay(lowers: list[Path], target: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    opts = "lowerdir=" + ":".join(str(p) for p in reversed(lowers))
    if libc.mount(b"overlay", str(target).encode(), b"overlay", 1, opts.encode()) != 0:  # MS_RDONLY
        err = ctypes.get_errno()
        pytest.skip(f"overlay mount failed: {os.strerror(err)}")


def test_overlay_mode_stacks_like_umoci(umoci_image, tmp_path):
    blobs, diff_ids, expected = umoci_image
    lowers = []
    for i, (blob, diff_id) in enumerate(zip(blobs, diff_ids, strict=True)):
        d = tmp_path / f"layer{i}"
        d.mkdir()
        with open(blob, "rb") as f:
            extract_layer(f, d, whiteouts="overlay", diff_id=diff_id)
        lowers.append(d)
    merged = tmp_path / "merged"
    merged.mkdir()
    _mount_overlay(lowers, merged)
    try:
        assert tree(merged) == tree(expected)
    finally:
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.umount2(str(merged).encode(), 0) == 0


def test_create_layer_tar_unpacks_with_umoci(tmp_path):
    src = build_busybox_rootfs(tmp_path / "src")
    os.chmod(src / "bin/busybox", 0o4755)
    os.link(src / "etc/passwd", src / "etc/passwd.hard")
    layer = layer_from_dir(src)
    cfg = image_config([layer])
    man = image_manifest([layer], cfg)
    lay = write_oci_layout(tmp_path / "layout", "t", [layer.blob, cfg], man)
    umoci("unpack", "--image", f"{lay}:t", str(tmp_path / "bundle"))
    got = tmp_path / "bundle/rootfs"
    assert tree(got) == tree(src)
    assert os.path.samefile(got / "etc/passwd", got / "etc/passwd.hard")


def _gnu_tar_layer(src: Path, work: Path) -> list[bytes]:
    out = work / "gnu.tar"
    subprocess.run(["tar", "-C", str(src), "-cf", str(out), "."], check=True, capture_output=True, timeout=60)
    return [out.read_bytes()]


def _podman_build_layers(src: Path, work: Path) -> list[bytes]:
    """Layers that containers/storage writes with Go's archive/tar (podman build, then save)."""
    import tarfile
    import tempfile

    if not shutil.which("podman"):
        pytest.skip("podman not installed")
    (src / "Containerfile").write_text("FROM scratch\nCOPY etc /etc\nCOPY bin /bin\n")
    run = tempfile.mkdtemp(prefix="interop-pod-")  # podman wants a runroot under 50 characters
    pod = ["podman", "--root", str(work / "pod"), "--runroot", run, "--storage-driver", "vfs"]
    try:
        subprocess.run(pod + ["build", "-q", "-t", "interop/built", str(src)], check=True, capture_output=True,
                       timeout=300)
        archive = work / "saved.tar"
        subprocess.run(pod + ["save", "--format", "docker-archive", "-o", str(archive), "interop/built"],
                       check=True, capture_output=True, timeout=120)
        with tarfile.open(archive) as tf:
            manifest = json.load(tf.extractfile("manifest.json"))
            return [tf.extractfile(tf.getmember(name)).read() for name in manifest[0]["Layers"]]
    finally:
        subprocess.run(pod + ["system", "reset", "-f"], capture_output=True, timeout=120)
        shutil.rmtree(run, ignore_errors=True)


def _umoci_layers(src: Path, work: Path) -> list[bytes]:
    import gzip

    lay = work / "umoci"
    umoci("init", "--layout", str(lay))
    umoci("new", "--image", f"{lay}:t")
    umoci("unpack", "--image", f"{lay}:t", str(work / "bundle"))
    shutil.copytree(src, work / "bundle/rootfs", dirs_exist_ok=True, symlinks=True)
    umoci("repack", "--image", f"{lay}:t", str(work / "bundle"))
    index = json.loads((lay / "index.json").read_text())
    man = json.loads((lay / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    return [gzip.decompress((lay / "blobs/sha256" / la["digest"][7:]).read_bytes()) for la in man["layers"]]


@pytest.mark.parametrize("producer", [_gnu_tar_layer, _podman_build_layers, _umoci_layers],
                         ids=["gnu-tar", "podman-build", "umoci"])
def test_real_producers_write_the_end_of_archive_marker(producer, tmp_path):
    """Extraction refuses a tar without a closing zero block; every tool whose
    layers the tests use (Python's tarfile is tested in tests/unit) writes one,
    so none of their layers is refused, even unpacked with no diff_id."""
    src = build_busybox_rootfs(tmp_path / "src")
    blobs = producer(src, tmp_path)
    assert blobs
    dest = tmp_path / "unpacked"
    dest.mkdir()
    for tar in blobs:
        assert len(tar) % 512 == 0 and tar[-512:] == bytes(512), "no zero block at the end"
        extract_layer(io.BytesIO(tar), dest, whiteouts="delete")
    assert (dest / "bin/busybox").read_bytes() == (src / "bin/busybox").read_bytes()
    assert (dest / "etc/passwd").read_bytes() == (src / "etc/passwd").read_bytes()
