"""Images from every producer pyctr can meet, each compared with the producer's own unpacked view.

One source tree (busybox plus the awkward things layers carry: hard links, absolute and relative
symlinks, a fifo, setuid and odd modes, foreign owners, an empty 0700 directory, a unicode name, a
name longer than 100 bytes) is packed by:

* GNU tar (gnu, posix/pax; plain, gzip, zstd) and Python's tarfile (gnu, pax, ustar): `pyctr import`,
  compared with `tar -xp` / `tarfile.extractall` of the same file;
* umoci 0.4.7 (`insert`: layers with no padding and no end-of-archive marker; `repack`): pushed by
  skopeo, `pyctr pull`, compared with `umoci unpack`;
* podman build (FROM scratch, COPY) with a private storage root: pushed by podman, `pyctr pull`,
  compared with `podman image mount`;
* skopeo copy of an OCI layout to a docker-archive: `pyctr load`, compared with the source.

`docker save` (Debian's dockerd 20.10 on private roots) is in test_docker_engine.py.
Each comparison is over type, mode, owner, size, content and link target of every entry, and
over which entries are hard links of each other.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from pyctr.core.trees import remove_tree
from pyctr.testing.disktree import LONG_NAME, assert_same, awkward_tree
from pyctr.testing.images import layer_from_dir, push_layout, write_oci_layout

pytestmark = [pytest.mark.registry, pytest.mark.root]

LONG = LONG_NAME


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return awkward_tree(tmp_path_factory.mktemp("interop") / "src")


def upper_dir(pyctr, ref: str) -> str:
    return pyctr("image", "inspect", "--format", "{{.GraphDriver.Data.UpperDir}}", ref, check=True).stdout.strip()


# -- tar producers ---------------------------------------------------------------------------
GNU_TAR = [("gnu", ""), ("posix", ""), ("gnu", "--gzip"), ("posix", "--zstd")]


@pytest.mark.parametrize("fmt,compress", GNU_TAR, ids=[f"{f}{c or '-plain'}" for f, c in GNU_TAR])
def test_gnu_tar(pyctr, source, tmp_path, fmt, compress):
    out = tmp_path / "layer.tar"
    args = ["tar", f"--format={fmt}", "--numeric-owner", "-C", str(source), "-cf", str(out), "."]
    if compress:
        args.insert(1, compress)
    subprocess.run(args, check=True)
    producer = tmp_path / "tar-view"
    producer.mkdir()
    subprocess.run(["tar", "--numeric-owner", "-C", str(producer), "-xpf", str(out)], check=True)
    pyctr("import", str(out), f"gnutar:{fmt}", check=True)
    assert_same(producer, upper_dir(pyctr, f"gnutar:{fmt}"))


@pytest.mark.parametrize("fmt", ["gnu", "pax", "ustar"])
def test_python_tarfile(pyctr, source, tmp_path, fmt):
    out = tmp_path / "layer.tar"
    tfmt = {"gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT, "ustar": tarfile.USTAR_FORMAT}[fmt]
    def keep(ti: tarfile.TarInfo) -> tarfile.TarInfo | None:
        # ustar cannot hold a 100+ byte file name outside its prefix field: leave it out
        return None if fmt == "ustar" and ti.name.endswith(LONG) else ti

    with tarfile.open(out, "w", format=tfmt) as tf:
        tf.add(str(source), arcname=".", filter=keep)
    producer = tmp_path / "tarfile-view"
    producer.mkdir()
    with tarfile.open(out) as tf:
        tf.extractall(producer, numeric_owner=True, filter="fully_trusted")
    pyctr("import", str(out), f"pytar:{fmt}", check=True)
    assert_same(producer, upper_dir(pyctr, f"pytar:{fmt}"))


# -- umoci -------------------------------------------------------------------------------------
def umoci(*args: str) -> None:
    r = subprocess.run(["umoci", *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(not shutil.which("umoci") or not shutil.which("skopeo"), reason="umoci/skopeo not installed")
def test_umoci_insert_and_repack(pyctr, registry, source, tmp_path):
    layout = tmp_path / "oci"
    umoci("init", "--layout", str(layout))
    umoci("new", "--image", f"{layout}:t")
    umoci("insert", "--image", f"{layout}:t", str(source), "/")
    # umoci's layers end without padding or end-of-archive marker: check that this one does
    index = json.loads((layout / "index.json").read_text())
    man = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    import gzip

    raw = gzip.decompress((layout / "blobs/sha256" / man["layers"][0]["digest"][7:]).read_bytes())
    assert raw[-1024:] != b"\0" * 1024
    push_layout(layout, "t", registry, "interop/umoci")
    ref = f"{registry.host}/interop/umoci:t"
    r = pyctr("pull", "-q", ref)
    assert r.returncode == 0, r.stderr
    bundle = tmp_path / "bundle"
    umoci("unpack", "--image", f"{layout}:t", str(bundle))
    assert_same(bundle / "rootfs", upper_dir(pyctr, ref))
    assert pyctr("run", "--rm", ref, "cat", "/opt/owned", check=True).stdout == "owned by 1000\n"
    # repack: a second layer with a new file and a deleted one
    (bundle / "rootfs/opt/added").write_text("added by repack\n")
    os.unlink(bundle / "rootfs/opt/setuid")
    umoci("repack", "--image", f"{layout}:t2", str(bundle))
    push_layout(layout, "t2", registry, "interop/umoci")
    ref2 = f"{registry.host}/interop/umoci:t2"
    pyctr("pull", "-q", ref2, check=True)
    r = pyctr("run", "--rm", ref2, "sh", "-c", "cat /opt/added; test -e /opt/setuid || echo gone", check=True)
    assert r.stdout == "added by repack\ngone\n"
    remove_tree(bundle)


# -- podman build -----------------------------------------------------------------------------
@pytest.mark.skipif(not shutil.which("podman"), reason="podman not installed")
def test_podman_build(pyctr, registry, source, tmp_path):
    import tempfile

    root = tmp_path / "podman-root"
    runroot = Path(tempfile.mkdtemp(prefix="pyctr-pm-"))  # podman wants a runroot under 50 characters
    base = ["podman", "--root", str(root), "--runroot", str(runroot), "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs", "--events-backend", "none"]
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    subprocess.run(["cp", "-a", str(source), str(ctx / "rootfs")], check=True)  # fifos, owners, links kept
    (ctx / "Containerfile").write_text("FROM scratch\nCOPY rootfs/ /\nCMD [\"/bin/sh\"]\n")
    ref = f"{registry.host}/interop/podman:t"
    try:
        r = subprocess.run(base + ["build", "--format", "oci", "-t", ref, str(ctx)], capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        r = subprocess.run(base + ["push", "--tls-verify=false", ref], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        mounted = subprocess.run(base + ["image", "mount", ref], capture_output=True, text=True, check=True,
                                 timeout=120).stdout.strip()
        try:
            pyctr("pull", "-q", ref, check=True)
            assert_same(mounted, upper_dir(pyctr, ref))
        finally:
            subprocess.run(base + ["image", "unmount", ref], capture_output=True, timeout=120)
    finally:
        subprocess.run(base + ["rmi", "-a", "-f"], capture_output=True, timeout=300)
        subprocess.run(base + ["system", "reset", "-f"], capture_output=True, timeout=300)
        remove_tree(root)
        remove_tree(runroot)


# -- skopeo: OCI layout -> docker-archive ----------------------------------------------------------
@pytest.mark.skipif(not shutil.which("skopeo"), reason="skopeo not installed")
@pytest.mark.parametrize("compression", ["gzip", "none"])  # skopeo 1.9 cannot write zstd into a docker-archive
def test_skopeo_docker_archive(pyctr, source, tmp_path, compression):
    from pyctr.testing.images import image_config, image_manifest

    layer = layer_from_dir(source, compression)
    config = image_config([layer])
    layout = write_oci_layout(tmp_path / "oci", "t", [layer.blob, config], image_manifest([layer], config))
    archive = tmp_path / "docker-archive.tar"
    subprocess.run(["skopeo", "copy", "--quiet", f"oci:{layout}:t", f"docker-archive:{archive}:interop/skopeo:t"],
                   check=True, timeout=300)
    r = pyctr("load", "-i", str(archive))
    assert r.returncode == 0, r.stderr
    assert_same(source, upper_dir(pyctr, "interop/skopeo:t"))
