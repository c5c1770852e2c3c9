"""The VM runner's pure parts: vmlinux extraction, module order, the cpio writer."""

from __future__ import annotations

import gzip
import lzma
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pyctr.testing.vm import initramfs
from pyctr.testing.vm.kernel import Kernel
from pyctr.testing.vm.vmlinux import extract_vmlinux

ELF = b"\x7fELF" + os.urandom(4096)


@pytest.mark.parametrize("compress", [lambda d: lzma.compress(d, format=lzma.FORMAT_XZ),
                                      gzip.compress])
def test_vmlinux_is_found_behind_a_stub_and_false_magics(tmp_path: Path, compress):
    # A stub that contains a false xz and gzip magic before the real payload.
    stub = b"MZ" + b"\0" * 500 + b"\xfd7zXZ\x00garbage" + b"\x1f\x8b\x08junk" + b"\0" * 100
    image = tmp_path / "vmlinuz-6.1.0-test"
    image.write_bytes(stub + compress(ELF) + b"\0" * 64)
    out = extract_vmlinux(image, tmp_path / "vmlinux")
    assert out is not None and out.read_bytes() == ELF


def test_no_payload_means_none(tmp_path: Path):
    image = tmp_path / "vmlinuz"
    image.write_bytes(b"MZ" + os.urandom(2048).replace(b"\x7fELF", b""))
    assert extract_vmlinux(image, tmp_path / "vmlinux") is None
    assert not (tmp_path / "vmlinux").exists()


def test_module_order_puts_dependencies_first(tmp_path: Path):
    (tmp_path / "modules.dep").write_text(
        "kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko\n"
        "kernel/net/9p/9pnet.ko:\n"
        "kernel/fs/netfs/netfs.ko:\n"
        "kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio_ring.ko\n"
        "kernel/drivers/virtio/virtio_ring.ko:\n"
        "kernel/fs/overlayfs/overlay.ko.xz:\n")
    order = initramfs.module_order(tmp_path, ("virtio_pci", "9pnet_virtio", "9p", "overlay"))
    assert order == ["kernel/net/9p/9pnet.ko", "kernel/drivers/virtio/virtio_ring.ko",
                     "kernel/net/9p/9pnet_virtio.ko", "kernel/fs/netfs/netfs.ko",
                     "kernel/fs/9p/9p.ko", "kernel/fs/overlayfs/overlay.ko.xz"]  # virtio_pci: built in


@pytest.mark.skipif(shutil.which("cpio") is None, reason="cpio (the reader we check against) is missing")
def test_initramfs_is_read_back_by_gnu_cpio(tmp_path: Path):
    modules = tmp_path / "tree" / "lib" / "modules" / "6.1.0-test"
    (modules / "kernel").mkdir(parents=True)
    (modules / "modules.dep").write_text("kernel/overlay.ko.xz:\n")
    (modules / "kernel" / "overlay.ko.xz").write_bytes(lzma.compress(ELF, format=lzma.FORMAT_XZ))
    kernel = Kernel(image=tmp_path / "vmlinux", version="6.1.0-test",
                    modules_root=tmp_path / "tree", label="test")
    archive = initramfs.build_initramfs(kernel, tmp_path / "initrd.gz")
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["cpio", "-idm", "--quiet"], input=gzip.decompress(archive.read_bytes()),
                   cwd=out, check=True)
    assert os.readlink(out / "bin" / "sh") == "busybox"
    assert os.access(out / "init", os.X_OK) and os.access(out / "bin" / "busybox", os.X_OK)
    assert (out / "init").read_text().startswith("#!/bin/sh")
    assert (out / "modules" / "order").read_text() == "00-overlay.ko\n"
    assert (out / "modules" / "00-overlay.ko").read_bytes() == ELF  # decompressed for insmod
