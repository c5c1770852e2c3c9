"""Test images built during the test run from Debian packages, pushed with skopeo.

Nothing is downloaded: the rootfs is ``/bin/busybox`` from ``busybox-static``
plus applet symlinks. Layers are written as OCI image layouts here and pushed
by an independent client (``skopeo copy``), so pyctr's pull is checked
against something it did not write itself.

* :func:`build_busybox_rootfs` - a directory with a working busybox rootfs.
* :func:`make_layer` / :func:`layer_from_dir` - a layer blob plus its digests.
* :func:`write_oci_layout` / :func:`push_layout` - an OCI layout, pushed.
* :func:`push_test_images` - the standard set: ``busybox`` (one layer),
  ``app1`` and ``app2`` (three and two layers sharing the busybox layer; app1
  has a whiteout and an opaque directory), ``zstd`` (zstd layers) and
  ``multi`` (an index with linux/amd64 and linux/arm64).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "ls", "cat", "echo", "true", "false", "sleep", "id", "env", "mkdir", "rm", "touch",
           "mount", "ps", "hostname", "wc", "grep", "head", "uname", "ip", "ping", "readlink", "stat", "test")
FIXED_MTIME = 1_700_000_000

OCI_LAYER = {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
             "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
             "none": "application/vnd.oci.image.layer.v1.tar"}
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass
class Layer:
    blob: bytes  # as stored in the registry (compressed)
    tar: bytes  # uncompressed
    media_type: str

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.blob).hexdigest()

    @property
    def diff_id(self) -> str:
        return "sha256:" + hashlib.sha256(self.tar).hexdigest()

    @property
    def size(self) -> int:
        return len(self.blob)


@dataclass
class TestImage:
    __test__ = False  # not a pytest class
    registry: str
    repository: str
    tag: str
    layers: list[Layer]
    config: bytes
    manifest: bytes
    index: bytes | None = None
    extra: dict = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    @property
    def config_digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.config).hexdigest()

    @property
    def manifest_digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()

    @property
    def index_digest(self) -> str | None:
        return "sha256:" + hashlib.sha256(self.index).hexdigest() if self.index else None

    @property
    def diff_ids(self) -> list[str]:
        return [layer.diff_id for layer in self.layers]


def build_busybox_rootfs(dest: str | os.PathLike[str], applets: tuple[str, ...] = APPLETS) -> Path:
    """A minimal rootfs: /bin/busybox (busybox-static) and applet symlinks, /etc files, empty dirs."""
    root = Path(dest)
    for d in ("bin", "etc", "tmp", "root", "proc", "sys", "dev", "var/log", "usr/share/doc"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "root", 0o700)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    os.chmod(root / "bin/busybox", 0o755)
    for a in applets:
        link = root / "bin" / a
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    (root / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (root / "etc/hostname").write_text("busybox\n")
    (root / "usr/share/doc/README").write_text("pyctr test image built from Debian's busybox-static\n")
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files + ["."]:
            os.utime(os.path.join(dirpath, n), ns=(FIXED_MTIME * 10**9,) * 2, follow_symlinks=False)
    return root


def compress(tar: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(tar, compresslevel=6, mtime=0)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(tar)
    return tar


def layer_from_dir(src: str | os.PathLike[str], compression: str = "gzip") -> Layer:
    from pyctr.layers.create import create_layer_tar

    buf = io.BytesIO()
    create_layer_tar(src, buf, mtime=FIXED_MTIME)
    tar = buf.getvalue()
    return Layer(compress(tar, compression), tar, OCI_LAYER[compression])


def make_layer(entries: list[tuple[tarfile.TarInfo, bytes]], compression: str = "gzip") -> Layer:
    from pyctr.testing.tarbuild import tar_bytes

    tar = tar_bytes(*entries)
    return Layer(compress(tar, compression), tar, OCI_LAYER[compression])


def image_config(layers: list[Layer], arch: str = "amd64", cmd: list[str] | None = None,
                 history: list[str] | None = None) -> bytes:
    hist = [{"created": "2026-01-01T00:00:00Z", "created_by": h} for h in (history or [])]
    while len(hist) < len(layers):
        hist.append({"created": "2026-01-01T00:00:00Z", "created_by": f"/bin/sh -c #(nop) layer {len(hist)}"})
    doc = {
        "architecture": arch, "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": cmd or ["/bin/sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": hist,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _desc(media_type: str, data: bytes, **extra) -> dict:
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data),
            **extra}


def image_manifest(layers: list[Layer], config: bytes) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _desc(OCI_CONFIG, config),
           "layers": [{"mediaType": la.media_type, "digest": la.digest, "size": la.size} for la in layers]}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def write_oci_layout(layout: str | os.PathLike[str], tag: str, blobs: list[bytes], top: bytes,
                     top_type: str = OCI_MANIFEST) -> Path:
    """An OCI image layout whose index.json tags ``top`` (a manifest or index) as ``tag``."""
    d = Path(layout)
    (d / "blobs/sha256").mkdir(parents=True, exist_ok=True)
    for b in [*blobs, top]:
        (d / "blobs/sha256" / hashlib.sha256(b).hexdigest()).write_bytes(b)
    (d / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {"schemaVersion": 2, "manifests": [_desc(top_type, top, annotations={
        "org.opencontainers.image.ref.name": tag})]}
    (d / "index.json").write_text(json.dumps(index))
    return d


def push_layout(layout: str | os.PathLike[str], tag: str, registry, repository: str, *,
                all_platforms: bool = False) -> None:
    """``skopeo copy`` the layout to ``registry`` (a :class:`~pyctr.testing.registry.LocalRegistry`)."""
    cmd = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--preserve-digests"]
    if all_platforms:
        cmd.append("--all")
    if registry.credentials:
        cmd += ["--dest-creds", f"{registry.user}:{registry.password}"]
    if getattr(registry, "cert_dir", None):
        cmd += ["--dest-cert-dir", str(registry.cert_dir)]
    cmd += [f"oci:{layout}:{tag}", f"docker://{registry.host}/{repository}:{tag}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"skopeo copy failed: {r.stderr.strip()}")


def push_image(registry, repository: str, tag: str, layers: list[Layer], *, workdir: Path,
               history: list[str] | None = None) -> TestImage:
    config = image_config(layers, history=history)
    manifest = image_manifest(layers, config)
    layout = Path(tempfile.mkdtemp(prefix=f"oci-{repository.replace('/', '-')}-", dir=workdir))
    write_oci_layout(layout, tag, [la.blob for la in layers] + [config], manifest)
    push_layout(layout, tag, registry, repository)
    return TestImage(registry.host, repository, tag, layers, config, manifest)


def push_test_images(registry, workdir: str | os.PathLike[str] | None = None) -> dict[str, TestImage]:
    """Build and push the standard test images; returns them by name.

    Build files go to ``workdir`` (a new temporary directory if omitted: the
    caller removes it, e.g. pass pytest's ``tmp_path_factory.mktemp()``).
    """
    from pyctr.testing.tarbuild import entry as E

    work = Path(workdir or tempfile.mkdtemp(prefix="pyctr-img-images-"))
    work.mkdir(parents=True, exist_ok=True)
    rootfs = build_busybox_rootfs(work / "rootfs")
    base = layer_from_dir(rootfs)
    images: dict[str, TestImage] = {}
    images["busybox"] = push_image(registry, "pyctr/busybox", "latest", [base], workdir=work,
                                   history=["COPY busybox-static /"])
    mt = FIXED_MTIME
    layer_a = make_layer([
        E("etc", "dir", mtime=mt), E("etc/motd", data=b"hello from app1\n", mtime=mt),
        E("etc/.wh.hostname", mtime=mt),  # whiteout of a base file
        E("usr/share/doc", "dir", mtime=mt), E("usr/share/doc/.wh..wh..opq", mtime=mt),  # opaque dir
        E("usr/share/doc/APP1", data=b"app1 docs\n", mtime=mt),
        E("opt/app1/run.sh", data=b"#!/bin/sh\necho app1\n", mode=0o755, mtime=mt),
    ])
    layer_b = make_layer([E("opt/app1/data", data=os.urandom(64 << 10), mtime=mt),
                          E("opt/app1/data.link", "hardlink", link="opt/app1/data", mtime=mt)])
    images["app1"] = push_image(registry, "pyctr/app1", "v1", [base, layer_a, layer_b], workdir=work,
                                history=["COPY busybox-static /", "RUN rm /etc/hostname", "ADD data /opt/app1"])
    layer_c = make_layer([E("etc/motd", data=b"hello from app2\n", mtime=mt)])
    images["app2"] = push_image(registry, "pyctr/app2", "v1", [base, layer_c], workdir=work)

    zbase = layer_from_dir(rootfs, "zstd")
    zextra = make_layer([E("etc/zstd", data=b"zstd layer\n", mtime=mt)], "zstd")
    images["zstd"] = push_image(registry, "pyctr/zstd", "latest", [zbase, zextra], workdir=work)

    # A two-platform index: amd64 is the busybox image, arm64 a stand-in layer.
    arm_layer = make_layer([E("etc/arch", data=b"arm64\n", mtime=mt)])
    arm_cfg = image_config([arm_layer], arch="arm64")
    arm_man = image_manifest([arm_layer], arm_cfg)
    amd_cfg = images["busybox"].config
    amd_man = images["busybox"].manifest
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        _desc(OCI_MANIFEST, arm_man, platform={"architecture": "arm64", "os": "linux", "variant": "v8"}),
        _desc(OCI_MANIFEST, amd_man, platform={"architecture": "amd64", "os": "linux"}),
    ]}, sort_keys=True, separators=(",", ":")).encode()
    layout = work / "oci-multi"
    write_oci_layout(layout, "latest", [base.blob, amd_cfg, amd_man, arm_layer.blob, arm_cfg, arm_man], index,
                     OCI_INDEX)
    push_layout(layout, "latest", registry, "pyctr/multi", all_platforms=True)
    images["multi"] = TestImage(registry.host, "pyctr/multi", "latest", [base], amd_cfg, amd_man, index=index,
                                extra={"arm64": TestImage(registry.host, "pyctr/multi", "latest", [arm_layer],
                                                          arm_cfg, arm_man)})
    return images


def large_layer(seed: int, unpacked_bytes: int, files: int = 400, compression: str = "gzip") -> Layer:
    """A layer of about ``unpacked_bytes`` in ``files`` files, half random and half text, like real binaries."""
    import random

    from pyctr.testing.tarbuild import entry as E

    rnd = random.Random(seed)
    per = max(1, unpacked_bytes // files)
    text = (b"pyctr benchmark layer line with some repeated words and numbers 0123456789\n" * (per // 76 + 1))
    entries = [E(f"data{seed}", "dir", mtime=FIXED_MTIME)]
    for i in range(files):
        d = f"data{seed}/d{i % 20}"
        if i < 20:
            entries.append(E(d, "dir", mtime=FIXED_MTIME))
        body = rnd.randbytes(per // 2) + text[: per - per // 2]
        entries.append(E(f"{d}/f{i}", data=body, mtime=FIXED_MTIME))
    return make_layer(entries, compression)


def push_large_image(registry, repository: str = "pyctr/bench", tag: str = "latest", *, layers: int = 4,
                     unpacked_mb: int = 150, workdir: str | os.PathLike[str] | None = None) -> TestImage:
    """The benchmark image: ``layers`` layers, about ``unpacked_mb`` MB unpacked in total."""
    work = Path(workdir or tempfile.mkdtemp(prefix="pyctr-img-bench-"))
    per = (unpacked_mb << 20) // layers
    lays = [large_layer(i, per) for i in range(layers)]
    return push_image(registry, repository, tag, lays, workdir=work)


def _registry_images_fixture():
    import pytest

    @pytest.fixture(scope="session")
    def registry_images(registry, tmp_path_factory) -> dict[str, TestImage]:
        """The standard test images (see :func:`push_test_images`) in the session's anonymous ``registry``."""
        return push_test_images(registry, tmp_path_factory.mktemp("pyctr-images"))

    return registry_images


registry_images = _registry_images_fixture()
