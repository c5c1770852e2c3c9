"""Obtain a guest kernel: a Debian kernel package through apt, or an image path.

A package is downloaded with ``apt-get download``, unpacked with
``dpkg-deb -x`` into ``/var/cache/pyctr-vm/<package>_<version>/`` (reused
when present), indexed with ``depmod -b`` (the package ships no
modules.dep) and its vmlinuz unpacked to an uncompressed ``vmlinux``:
qemu boots an ELF vmlinux through the PVH entry point in ~2.5 s, against
8-9 s for a bzImage through SeaBIOS under software emulation.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pyctr.core.errors import NotFound, PrerequisitesMissing
from pyctr.testing.vm.vmlinux import extract_vmlinux

DEFAULT_KERNEL = "linux-image-amd64"
DEFAULT_CACHE = Path("/var/cache/pyctr-vm")
APT_LISTS = "/var/lib/apt/lists"
_REAL_PACKAGE = re.compile(r"^linux-image-\d[\w.+-]*$")
_COMPLETE = ".complete"


@dataclass(frozen=True)
class Kernel:
    """A bootable kernel and the modules that belong to it."""

    image: Path  # what qemu's -kernel gets: vmlinux when extracted, else the bzImage
    version: str  # what ``uname -r`` will say
    modules_root: Path | None  # the tree holding lib/modules/<version>, or None (all built in)
    label: str  # the package and version, or the image path, for logs

    @property
    def modules_dir(self) -> Path | None:
        if self.modules_root is None:
            return None
        path = self.modules_root / "lib" / "modules" / self.version
        return path if path.is_dir() else None


def cache_dir() -> Path:
    return Path(os.environ.get("PYCTR_VM_CACHE", DEFAULT_CACHE))


def prepare_kernel(spec: str = DEFAULT_KERNEL, cache: Path | None = None) -> Kernel:
    """Return a ready kernel for ``spec``: a Debian package name or a kernel image path."""
    if "/" in spec or Path(spec).is_file():
        return _kernel_from_image(Path(spec), cache or cache_dir())
    return _kernel_from_package(spec, cache or cache_dir())


def _kernel_from_image(image: Path, cache: Path) -> Kernel:
    if not image.is_file():
        raise NotFound(f"kernel image {image} does not exist")
    image = image.resolve()
    match = re.match(r"(?:vmlinuz|vmlinux|bzImage)-(.+)$", image.name)
    version = match.group(1) if match else _bzimage_version(image)
    # A kernel unpacked from a package keeps its modules at ../lib/modules/VERSION.
    root = image.parent.parent
    if not (root / "lib" / "modules" / version).is_dir():
        root = Path("/") if Path("/lib/modules", version).is_dir() else None
    return Kernel(image=_cached_vmlinux(image, version, cache), version=version,
                  modules_root=root, label=str(image))


def _cached_vmlinux(image: Path, version: str, cache: Path) -> Path:
    """The uncompressed kernel of a bzImage, kept in the cache; the bzImage if there is none."""
    with image.open("rb") as f:
        if f.read(4) == b"\x7fELF":
            return image
    st = image.stat()
    key = hashlib.sha256(f"{image}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    target = cache / "images" / key / f"vmlinux-{version}"
    if not target.exists():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            extract_vmlinux(image, target)
        except OSError:
            return image  # a read-only cache: boot the bzImage, only slower
    return target if target.exists() else image


def _bzimage_version(image: Path) -> str:
    """Read the version string a bzImage header points to (offset at 0x20E, plus 0x200)."""
    with image.open("rb") as f:
        header = f.read(0x210)
        if len(header) < 0x210 or header[0x202:0x206] != b"HdrS":
            raise NotFound(f"{image} is not a bzImage and its name carries no version")
        f.seek(int.from_bytes(header[0x20E:0x210], "little") + 0x200)
        return f.read(128).split(b" ")[0].decode()


def _apt(*args: str) -> str:
    if shutil.which(args[0]) is None:
        raise PrerequisitesMissing(f"{args[0]} is missing: the VM runner needs apt and dpkg")
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise NotFound(f"{' '.join(args[:2])} {args[-1]}: {msg}")
    return proc.stdout


def resolve_package(name: str, cache: Path | None = None) -> tuple[str, str]:
    """Follow a meta package (linux-image-amd64) to the real one; return (name, version).

    apt-cache takes ~1.5 s per call here (no binary package cache), so
    answers are kept in the cache folder until apt's lists change.
    """
    memo_file = (cache or cache_dir()) / "resolved.json"
    try:
        stamp = Path(APT_LISTS).stat().st_mtime_ns
    except OSError:
        stamp = 0
    memo = _read_memo(memo_file, stamp)
    if name in memo:
        return memo[name][0], memo[name][1]
    real, seen = name, set()
    while True:
        if real in seen:
            raise NotFound(f"kernel package {name} depends on itself")
        seen.add(real)
        show = _apt("apt-cache", "show", "--no-all-versions", real)
        version = re.search(r"^Version: (\S+)", show, re.M)
        if version is None:
            raise NotFound(f"apt knows no version of {real}")
        if _REAL_PACKAGE.match(real):
            break
        image = re.search(r"^Depends:.*?\b(linux-image-[^\s,(]+)", show, re.M)
        if image is None:
            raise NotFound(f"{name} is neither a kernel package nor depends on one")
        real = image.group(1)
    memo[name] = [real, version.group(1)]
    try:
        memo_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo_file.with_name(f".resolved.{os.getpid()}")
        tmp.write_text(json.dumps({"stamp": stamp, "packages": memo}))
        os.replace(tmp, memo_file)
    except OSError:
        pass  # a read-only cache only costs the next run a few seconds
    return real, version.group(1)


def _read_memo(path: Path, stamp: int) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data.get("packages", {}) if data.get("stamp") == stamp else {}


def _kernel_from_package(spec: str, cache: Path) -> Kernel:
    name, version = resolve_package(spec, cache)
    folder = cache / f"{name}_{version}".replace(":", "%3a")
    if not (folder / _COMPLETE).exists():
        cache.mkdir(parents=True, exist_ok=True)
        # Two CI legs may prepare the same kernel at once: one does the work.
        with open(cache / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (folder / _COMPLETE).exists():
                _unpack_package(name, version, folder, cache)
    return _kernel_from_folder(folder, f"{name} {version}")


def _unpack_package(name: str, version: str, folder: Path, cache: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache))
    try:
        # apt drops privileges to _apt and warns when it cannot write the
        # folder; the download still works as root.
        proc = subprocess.run(["apt-get", "download", "-q", f"{name}={version}"],
                              cwd=staging, capture_output=True, text=True)
        debs = list(staging.glob("*.deb"))
        if proc.returncode != 0 or not debs:
            raise NotFound(f"apt-get download {name}={version} failed: "
                           f"{(proc.stderr.strip().splitlines() or ['no .deb'])[-1]}")
        tree = staging / "tree"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tree)], check=True)
        debs[0].unlink()
        for modules in (tree / "lib" / "modules").glob("*"):
            subprocess.run(["depmod", "-b", str(tree), modules.name], check=True)
        for vmlinuz in (tree / "boot").glob("vmlinuz-*"):
            vmlinux = vmlinuz.with_name(vmlinuz.name.replace("vmlinuz-", "vmlinux-"))
            extract_vmlinux(vmlinuz, vmlinux)  # best effort: None means boot the bzImage
        (tree / _COMPLETE).write_text(f"{name} {version}\n")
        if folder.exists():
            shutil.rmtree(folder)
        tree.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _kernel_from_folder(folder: Path, label: str) -> Kernel:
    images = sorted((folder / "boot").glob("vmlinuz-*"))
    if not images:
        raise NotFound(f"{label} holds no /boot/vmlinuz-*")
    vmlinuz = images[-1]
    version = vmlinuz.name[len("vmlinuz-"):]
    vmlinux = vmlinuz.with_name(f"vmlinux-{version}")
    image = vmlinux if vmlinux.is_file() else vmlinuz
    return Kernel(image=image, version=version, modules_root=folder, label=label)
