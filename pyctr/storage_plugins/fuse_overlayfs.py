"""The ``fuse-overlayfs`` storage driver: overlay2's layout, mounted by a FUSE program.

The rootless fallback, as podman's ``mount_program``: where the kernel will
not mount overlayfs in a user namespace (before Linux 5.11, or where a
distribution turned it off), Debian's ``fuse-overlayfs`` does the same merge
in user space. The layers are overlay2's (:mod:`.overlay2`, in
``<root>/fuse-overlayfs``): whiteouts are 0:0 character devices, which a
user namespace may make since Linux 5.8, and opaque directories carry
``user.overlay.opaque``, which fuse-overlayfs reads as the kernel's overlayfs
with ``userxattr`` does; so a layer unpacked for one reads the same in the other.

Needs ``/dev/fuse`` readable and writable by the user (distributions ship it
0666). Each mounted container root is one fuse-overlayfs process of the
user's, which exits when the root is unmounted (``put``, ``remove``).
"""

from __future__ import annotations

import os
from pathlib import Path

from pyctr.core.drivers import DriverContext
from pyctr.core.errors import DriverError, DriverNotSupported, PrerequisitesMissing
from pyctr.storage_plugins.overlay2 import Overlay2StorageDriver, _is_mounted


def _find(name: str) -> str | None:
    for directory in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":"):
        path = os.path.join(directory, name)
        if directory and os.access(path, os.X_OK) and os.path.isfile(path):
            return path
    return None


class FuseOverlayfsStorageDriver(Overlay2StorageDriver):
    priority = 15

    def __init__(self, ctx: DriverContext) -> None:
        super().__init__(ctx)
        self.home = ctx.root / "fuse-overlayfs"

    @classmethod
    def probe(cls, ctx: DriverContext) -> None:
        from pyctr.core import rootless

        if not rootless.active():
            raise DriverNotSupported("fuse-overlayfs is the rootless fallback; root mounts overlayfs itself "
                                     "(overlay2)")
        if _find("fuse-overlayfs") is None:
            raise PrerequisitesMissing("fuse-overlayfs is not installed (apt-get install fuse-overlayfs)")
        if not os.path.exists("/dev/fuse"):
            raise PrerequisitesMissing("fuse-overlayfs needs /dev/fuse, and there is none (modprobe fuse)")
        if not os.access("/dev/fuse", os.R_OK | os.W_OK):
            raise PrerequisitesMissing("fuse-overlayfs needs /dev/fuse readable and writable by you "
                                       "(distributions ship it 0666; here it is not)")

    def mark_volatile(self, layer_id: str) -> None:
        """(No such thing for a FUSE mount: nothing to do.)"""

    def get(self, layer_id: str) -> Path:
        merged, lower = self._mount_target(layer_id)
        if lower is None:
            return merged
        options = self._absolute_options(layer_id, lower)
        import subprocess

        # It daemonizes once the mount is made: its exit status says whether it was
        done = subprocess.run([_find("fuse-overlayfs") or "fuse-overlayfs", "-o", options, str(merged)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode != 0 or not _is_mounted(merged):
            why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise DriverError(f"fuse-overlayfs could not mount the container's root: {why}")
        return merged

    def status(self) -> list[tuple[str, str]]:
        return [("Mount Program", _find("fuse-overlayfs") or "fuse-overlayfs (not found)"), *super().status()[:1]]
