"""Build the guest's initramfs: busybox-static, a few modules and the init scripts.

The archive is written in Python (cpio "newc", gzip) so no cpio binary is
needed. The modules are the ones the first stage needs before the host's
root is reachable (virtio, 9p, overlay); everything else is loaded later
with the host's modprobe from the kernel's own /lib/modules.
"""

from __future__ import annotations

import gzip
import io
import lzma
import shutil
from pathlib import Path

from pyctr.core.errors import PrerequisitesMissing
from pyctr.testing.vm.guestinit import STAGE1, STAGE2
from pyctr.testing.vm.kernel import Kernel

# What the first stage needs: the PCI transport, the 9p client and overlayfs;
# dummy too, for stage 2's private address (insmod here is cheaper than modprobe over 9p).
BOOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay", "dummy")
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


class _Cpio:
    """A minimal writer of the SVR4 "newc" format the kernel unpacks."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", nlink: int = 1) -> None:
        fields = [self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
        self.ino += 1
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.buf.write(header + name.encode() + b"\0")
        self._pad()
        self.buf.write(data)
        self._pad()

    def _pad(self) -> None:
        self.buf.write(b"\0" * (-self.buf.tell() % 4))

    def directory(self, name: str) -> None:
        self._entry(name, 0o040755, nlink=2)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, 0o120777, target.encode())

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def module_order(modules_dir: Path, wanted: tuple[str, ...] = BOOT_MODULES) -> list[str]:
    """Relative module paths of ``wanted`` and their dependencies, dependencies first.

    Names missing from modules.dep are taken to be built into the kernel.
    """
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[path] = rest.split()
        by_name[_module_name(path)] = path
    order: list[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        for dep in deps.get(path, []):
            visit(dep)
        order.append(path)

    for name in wanted:
        if name.replace("-", "_") in by_name:
            visit(by_name[name.replace("-", "_")])
    return order


def _module_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    return base.split(".ko", 1)[0].replace("-", "_")


def _module_bytes(path: Path) -> bytes:
    """busybox insmod wants a plain ELF object; newer Debian kernels compress modules."""
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def find_busybox() -> Path:
    for candidate in BUSYBOX_CANDIDATES:
        path = Path(candidate)
        if path.is_file() and b"libc.so" not in path.read_bytes()[:65536]:
            return path
    found = shutil.which("busybox")
    if found:
        return Path(found)
    raise PrerequisitesMissing("busybox is missing: install the Debian package busybox-static")


def build_initramfs(kernel: Kernel, dest: Path) -> Path:
    """Write a gzip'd cpio initramfs for ``kernel`` to ``dest`` and return it."""
    archive = _Cpio()
    for d in ("bin", "dev", "proc", "sys", "lower", "rw", "newroot", "modules"):
        archive.directory(d)
    archive.file("bin/busybox", find_busybox().read_bytes(), 0o755)
    archive.symlink("bin/sh", "busybox")
    archive.file("init", STAGE1.encode(), 0o755)
    archive.file("stage2", STAGE2.encode(), 0o755)
    names = []
    if kernel.modules_dir is not None:
        for i, rel in enumerate(module_order(kernel.modules_dir)):
            name = f"{i:02d}-{_module_name(rel)}.ko"
            archive.file(f"modules/{name}", _module_bytes(kernel.modules_dir / rel))
            names.append(name)
    archive.file("modules/order", "".join(n + "\n" for n in names).encode())
    # Level 1: the archive is rebuilt per run and mostly busybox; speed matters more.
    dest.write_bytes(gzip.compress(archive.finish(), compresslevel=1))
    return dest
