"""The vfs storage driver: every layer a full copy of its parent. Works everywhere.

Slow and big, but needs nothing from the kernel or the filesystem, so it is
the fallback when overlay2 cannot run. Layers are built in a temporary
sibling directory and renamed into place, so a crash never leaves a
half-made layer under its final name.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyctr.core.drivers import DriverContext, StorageDriver, staging_in_use
from pyctr.core.errors import DriverError, NotFound
from pyctr.core.trees import remove_tree

TYPE_CHECKING = False  # (typing's import is ~3 ms of every command; annotations are strings here)
if TYPE_CHECKING:
    from typing import IO


class VfsStorageDriver(StorageDriver):
    priority = 100

    def __init__(self, ctx: DriverContext) -> None:
        super().__init__(ctx)
        self.home = ctx.root / "vfs" / "dir"

    def _dir(self, layer_id: str) -> Path:
        if not layer_id or "/" in layer_id or layer_id.startswith("."):
            raise DriverError(f"invalid layer id {layer_id!r}")
        return self.home / layer_id

    def _staging(self, layer_id: str) -> Path:
        return self.home / f".tmp-{layer_id}-{os.getpid()}"

    def _copy_parent(self, parent: str | None, dest: Path) -> None:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        if parent is None:
            dest.mkdir(mode=0o755)
            return
        source = self._dir(parent)
        if not source.is_dir():
            raise NotFound(f"parent layer {parent} does not exist")
        # cp -a keeps hardlinks, devices, xattrs and ownership; shutil does not.
        import subprocess  # (only to copy a layer: inspect and the listings need none)

        result = subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(dest)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            remove_tree(dest)
            raise DriverError(f"copying layer {parent} failed: {result.stderr.strip()}")

    def _build(self, layer_id: str, parent: str | None, fill=None) -> int:
        staging = self._staging(layer_id)
        remove_tree(staging)
        try:
            self._copy_parent(parent, staging)
            size = fill(staging) if fill else 0
            os.rename(staging, self._dir(layer_id))
        except BaseException:
            remove_tree(staging)
            raise
        return size

    def create(self, layer_id: str, parent: str | None) -> None:
        self._build(layer_id, parent)

    def create_rw(self, layer_id: str, parent: str | None) -> None:
        self._build(layer_id, parent)

    def apply_diff(self, layer_id: str, parent: str | None, stream: IO[bytes], diff_id: str | None = None) -> int:
        from pyctr.layers import extract_layer

        return self._build(layer_id, parent, lambda d: extract_layer(stream, d, whiteouts="delete", diff_id=diff_id,
                                                                     max_size=self.layer_max_size,
                                                                     limit_name="layer-max-size"))

    def get(self, layer_id: str) -> Path:
        path = self._dir(layer_id)
        if not path.is_dir():
            raise NotFound(f"layer {layer_id} does not exist")
        return path

    def put(self, layer_id: str) -> None:
        """Nothing is mounted by vfs."""

    def remove(self, layer_id: str) -> None:
        path = self._dir(layer_id)
        if not path.exists():
            return
        # Rename first so a crash mid-delete leaves a staging name, not a broken layer.
        doomed = self.home / f".tmp-rm-{layer_id}-{os.getpid()}"
        os.rename(path, doomed)
        remove_tree(doomed)  # what resists stays under the .tmp-rm- name: cleanup_staging retries

    def exists(self, layer_id: str) -> bool:
        return self._dir(layer_id).is_dir()

    def layers(self) -> list[str]:
        return sorted(os.listdir(self.home)) if self.home.is_dir() else []

    def cleanup_staging(self) -> list[str]:
        """Remove what a killed pyctr left half-built; never fails (see :attr:`stuck_staging`)."""
        from pyctr.core.trees import remove_dead_staging

        try:
            names = self.layers()
        except OSError:
            return []
        removed, self.stuck_staging = remove_dead_staging(self.home, names, staging_in_use)
        return removed

    #: (set by cleanup_staging) what could not be removed, one line each
    stuck_staging: list[str] = []

    def metadata(self, layer_id: str) -> dict[str, str]:
        return {"Dir": str(self._dir(layer_id))}

    def status(self) -> list[tuple[str, str]]:
        return [("Backing Filesystem", _fs_name(self.ctx.root))]


def _fs_name(path: Path) -> str:
    """Name of the filesystem holding ``path`` (from /proc/self/mountinfo)."""
    best, fstype = "", "unknown"
    target = os.path.realpath(path if path.exists() else path.parent)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mountpoint = fields[4]
            sep = fields.index("-")
            if (target == mountpoint or target.startswith(mountpoint.rstrip("/") + "/")) and len(mountpoint) >= len(best):
                best, fstype = mountpoint, fields[sep + 1]
    return fstype
