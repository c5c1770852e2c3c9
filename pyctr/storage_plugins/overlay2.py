"""The overlay2 storage driver, laid out as Docker's so the seed's commands translate.

::

    overlay2/<id>/diff      the layer's own files (whiteouts as 0:0 char devices,
                            opaque directories marked with trusted.overlay.opaque=y)
    overlay2/<id>/link      the layer's short name
    overlay2/<id>/lower     "l/<short>:l/<short>..." of every layer below, nearest first
    overlay2/<id>/work      overlayfs' work directory (writable layers only)
    overlay2/<id>/merged    where a container's layer is mounted
    overlay2/l/<short>      -> ../<id>/diff

Short names keep the mount options of long layer chains within a page: the
mount is made from inside ``overlay2/`` with relative ``l/...`` paths. A
layer is built under ``.tmp-<id>`` and renamed into place, and its short link
is made last, so :meth:`exists` is false for anything half-made.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from pyctr.core import rootless
from pyctr.core.drivers import DriverContext, StorageDriver, staging_in_use
from pyctr.core.errors import DriverError, DriverNotSupported, IncompatibleFilesystem, NotFound
from pyctr.core.trees import remove_tree

TYPE_CHECKING = False  # (typing's import is ~3 ms of every command; annotations are strings here)
if TYPE_CHECKING:
    from typing import IO

#: filesystems overlayfs cannot use as upper layer
_UNSUPPORTED_BACKING = {"overlay", "aufs", "nfs", "nfs4", "cifs", "smb3", "9p", "fuse", "fuseblk", "ecryptfs"}


def _fs_type(path: Path) -> str:
    best, fstype = "", "unknown"
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mnt = fields[4]
            if (target == mnt or target.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, fstype = mnt, fields[fields.index("-") + 1]
    return fstype


#: in a layer's directory: mount it with overlayfs's ``volatile`` (no sync at unmount; ``run --rm``)
VOLATILE_MARK = "volatile"
#: what overlayfs leaves in the work directory of a volatile mount until it is removed
VOLATILE_LEFT = "work/work/incompat/volatile"
#: in a layer's directory: mount it so that its upper directory is a plain diff (a build
#: turns it into an image layer): no redirect_dir (a renamed directory would be a pointer
#: into a lower layer), no metacopy (a chmod would leave the data below)
PLAIN_DIFF_MARK = "plain-diff"


def _kernel_version() -> tuple[int, int]:
    release = os.uname().release.split("-")[0].split(".")
    try:
        return int(release[0]), int(release[1])
    except (IndexError, ValueError):
        return (0, 0)


def _is_mounted(path: Path) -> bool:
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


class Overlay2StorageDriver(StorageDriver):
    priority = 10

    def __init__(self, ctx: DriverContext) -> None:
        super().__init__(ctx)
        self.home = ctx.root / "overlay2"

    @classmethod
    def probe(cls, ctx: DriverContext) -> None:
        try:
            with open("/proc/filesystems") as f:
                if not any(line.split()[-1] == "overlay" for line in f if line.strip()):
                    raise DriverNotSupported("the kernel has no overlay filesystem (modprobe overlay)")
        except OSError as e:
            raise DriverNotSupported(f"cannot read /proc/filesystems: {e.strerror}") from None
        if rootless.active() and _kernel_version() < (5, 11):
            raise DriverNotSupported("overlayfs in a user namespace needs Linux 5.11 or later "
                                     "(rootless: fuse-overlayfs is the fallback, -s fuse-overlayfs)")
        existing = ctx.root
        while not existing.exists():
            existing = existing.parent
        backing = _fs_type(existing)
        if backing in _UNSUPPORTED_BACKING:
            raise IncompatibleFilesystem(
                f"{ctx.root} is on {backing}, which overlayfs cannot use as upper layer; use --root on ext4/xfs/btrfs/tmpfs or -s vfs")

    # -- paths -----------------------------------------------------------------

    def _dir(self, layer_id: str) -> Path:
        if not layer_id or "/" in layer_id or layer_id.startswith(".") or layer_id == "l":
            raise DriverError(f"invalid layer id {layer_id!r}")
        return self.home / layer_id

    def _short(self, layer_id: str) -> str:
        return (self._dir(layer_id) / "link").read_text().strip()

    def _lower_chain(self, parent: str | None) -> str:
        """The ``lower`` file for a layer on top of ``parent``: parent first."""
        if parent is None:
            return ""
        if not self.exists(parent):
            raise NotFound(f"parent layer {parent} does not exist")
        chain = f"l/{self._short(parent)}"
        parent_lower = self._dir(parent) / "lower"
        if parent_lower.exists():
            below = parent_lower.read_text().strip()
            if below:
                chain += ":" + below
        return chain

    # -- creating ----------------------------------------------------------------

    def _build(self, layer_id: str, parent: str | None, writable: bool, stream: IO[bytes] | None = None,
               diff_id: str | None = None) -> int:
        if self.exists(layer_id):
            raise DriverError(f"layer {layer_id} already exists")
        self._lower_chain(parent)  # fail before unpacking when the parent is missing
        staging, size = self._stage(layer_id, stream, diff_id, writable)
        try:
            self.commit_staged(staging, layer_id, parent)
        except BaseException:
            self.discard_staged(staging)
            raise
        return size

    def _stage(self, layer_id: str, stream: IO[bytes] | None, diff_id: str | None, writable: bool) -> tuple[Path, int]:
        self._dir(layer_id)  # validates the id
        (self.home / "l").mkdir(parents=True, exist_ok=True, mode=0o700)
        # pid in the name: remove_stale_extractions-style cleanup can tell a live one
        staging = self.home / f".tmp-{layer_id}-{os.getpid()}-{os.urandom(4).hex()}"
        size = 0
        try:
            staging.mkdir(mode=0o700)
            (staging / "diff").mkdir(mode=0o755)
            if stream is not None:
                from pyctr.layers import extract_layer

                size = extract_layer(stream, staging / "diff", whiteouts="overlay", diff_id=diff_id,
                                     max_size=self.layer_max_size, limit_name="layer-max-size")
            if writable:
                (staging / "work").mkdir(mode=0o700)
                (staging / "merged").mkdir(mode=0o700)
        except BaseException:
            remove_tree(staging)
            raise
        return staging, size

    # Layers are independent directories: only the ``lower`` file names the
    # parent, so a pull unpacks every layer at once and commits them in order.
    independent_layers = True

    def stage_diff(self, layer_id: str, stream: IO[bytes], diff_id: str | None = None) -> tuple[Path, int]:
        return self._stage(layer_id, stream, diff_id, writable=False)

    def commit_staged(self, handle: Path, layer_id: str, parent: str | None) -> None:
        if self.exists(layer_id):
            raise DriverError(f"layer {layer_id} already exists")
        self.remove(layer_id)  # whatever a killed attempt left under the final name
        lower = self._lower_chain(parent)
        short = _short_link_name()
        (handle / "link").write_text(short)
        if lower:
            (handle / "lower").write_text(lower)
        os.rename(handle, self._dir(layer_id))
        # the short link last: exists() is false for anything half-made
        os.symlink(f"../{layer_id}/diff", self.home / "l" / short)

    def discard_staged(self, handle: Path) -> None:
        remove_tree(handle)

    def create(self, layer_id: str, parent: str | None) -> None:
        self._build(layer_id, parent, writable=False)

    def apply_diff(self, layer_id: str, parent: str | None, stream: IO[bytes], diff_id: str | None = None) -> int:
        return self._build(layer_id, parent, writable=False, stream=stream, diff_id=diff_id)

    def create_rw(self, layer_id: str, parent: str | None) -> None:
        self._build(layer_id, parent, writable=True)

    # -- mounting ------------------------------------------------------------------

    def _mount_target(self, layer_id: str) -> tuple[Path, str | None]:
        """Where the layer's tree is and, while that still has to be mounted, its
        lowerdir chain (``l/<short>`` paths relative to the driver's home). Shared
        with the FUSE driver, which mounts the same layout with another program."""
        if not self.exists(layer_id):
            raise NotFound(f"layer {layer_id} does not exist")
        layer = self._dir(layer_id)
        lower_file = layer / "lower"
        lower = lower_file.read_text().strip() if lower_file.exists() else ""
        if not (layer / "work").is_dir():
            # a read-only image layer: its diff is the whole tree only without parents
            if not lower:
                return layer / "diff", None
            raise DriverError("read-only layers with parents are only mounted through a container layer")
        merged = layer / "merged"
        if _is_mounted(merged):
            return merged, None
        if not lower:
            # overlayfs needs a lower layer; an empty one stands in for "scratch"
            (layer / "empty").mkdir(exist_ok=True)
            lower = f"{layer_id}/empty"
        return merged, lower

    def _absolute_options(self, layer_id: str, lower: str) -> str:
        home = str(self.home)
        absolute = ":".join(f"{home}/{p}" for p in lower.split(":"))
        return f"lowerdir={absolute},upperdir={home}/{layer_id}/diff,workdir={home}/{layer_id}/work"

    def get(self, layer_id: str) -> Path:
        merged, lower = self._mount_target(layer_id)
        if lower is None:
            return merged
        layer = self._dir(layer_id)
        options = self._absolute_options(layer_id, lower)
        if rootless.active():
            # In the user's namespace overlayfs keeps its markers in user.overlay.*
            # (opaque directories; pyctr.layers.extract writes them so), not trusted.*
            options += ",userxattr"
        if (layer / PLAIN_DIFF_MARK).exists():
            options += _plain_diff_options()
        volatile = (layer / VOLATILE_MARK).exists()
        if volatile:
            if (layer / VOLATILE_LEFT).exists():
                # overlayfs refuses it too: the last volatile mount was never cleanly unmounted
                raise DriverError(f"the writable layer of {layer_id[:12]} was in use when the host or pyctr "
                                  "crashed and was mounted volatile, so its files cannot be trusted; remove it")
            options += ",volatile"
        relative = None
        if len(options) >= os.sysconf("SC_PAGE_SIZE") - 1:
            # Like Docker: a long chain is mounted from inside overlay2/ with
            # relative l/<short> paths, so the options fit in one page.
            relative = f"lowerdir={lower},upperdir={layer_id}/diff,workdir={layer_id}/work" + (
                ",userxattr" if rootless.active() else "") + (
                _plain_diff_options() if (layer / PLAIN_DIFF_MARK).exists() else "") + (",volatile" if volatile else "")
        from pyctr.kernel import linux  # (here: inspect reads a layer's paths without ctypes)

        cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            if relative:
                os.chdir(self.home)
            try:
                linux.mount("overlay", str(merged), "overlay", 0, relative or options)
            except OSError as e:
                if not (volatile and e.errno == errno.EINVAL):
                    raise
                # kernels before 5.10 have no "volatile": mount it the ordinary way
                plain = (relative or options).replace(",volatile", "")
                linux.mount("overlay", str(merged), "overlay", 0, plain)
        except OSError as e:
            raise DriverError(f"mounting the container's overlay failed: {e}") from None
        finally:
            os.fchdir(cwd)
            os.close(cwd)
        return merged

    def mark_volatile(self, layer_id: str) -> None:
        (self._dir(layer_id) / VOLATILE_MARK).write_text("")

    def mark_plain_diff(self, layer_id: str) -> None:
        """The writable layer ``layer_id`` becomes an image layer (a build step): mount it
        so that its upper directory is the whole change (see :data:`PLAIN_DIFF_MARK`)."""
        (self._dir(layer_id) / PLAIN_DIFF_MARK).write_text("")

    def upper_dir(self, layer_id: str) -> Path:
        """The upper directory of a writable layer: what its container changed."""
        return self._dir(layer_id) / "diff"

    def commit_writable(self, rw_id: str, layer_id: str) -> None:
        """Turn the unmounted writable layer ``rw_id`` into the read-only layer ``layer_id``
        in place: its upper directory becomes the new layer's ``diff`` (nothing is copied)
        and its parent chain stays. The caller recorded the layer's intent first."""
        src = self._dir(rw_id)
        if self.exists(layer_id):
            raise DriverError(f"layer {layer_id} already exists")
        self._unmount(src)
        self.remove(layer_id)  # whatever a killed attempt left under the final name
        for name in ("work", "merged", "empty"):
            remove_tree(src / name)
        for name in (VOLATILE_MARK, PLAIN_DIFF_MARK):
            try:
                os.unlink(src / name)
            except FileNotFoundError:
                pass
        short = (src / "link").read_text().strip()
        dst = self._dir(layer_id)
        os.rename(src, dst)
        tmp = self.home / "l" / f".{short}.tmp"
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink(f"../{layer_id}/diff", tmp)
        os.replace(tmp, self.home / "l" / short)

    def put(self, layer_id: str) -> None:
        if self._unmount(self._dir(layer_id)):
            # Unmounted cleanly, so the upper layer is whole: drop overlayfs's
            # "volatile was mounted" mark, as its documentation allows, so the
            # layer can be mounted again (a restart before removal).
            remove_tree(self._dir(layer_id) / VOLATILE_LEFT)

    @staticmethod
    def _unmount(layer: Path) -> bool:
        """Unmount the layer's ``merged``; True when it was mounted and is now cleanly unmounted."""
        merged = layer / "merged"
        if merged.exists() and _is_mounted(merged):
            from pyctr.kernel import linux

            try:
                linux.umount2(str(merged), 0)
            except OSError:
                linux.umount2(str(merged), linux.MNT_DETACH)
                return False
            return True
        return False

    # -- removing ---------------------------------------------------------------------

    def remove(self, layer_id: str) -> None:
        layer = self._dir(layer_id)
        if not layer.exists():
            return
        self._unmount(layer)  # (not put: its volatile mark goes with the rest)
        link = layer / "link"
        if link.exists():
            try:
                os.unlink(self.home / "l" / link.read_text().strip())
            except FileNotFoundError:
                pass
        doomed = self.home / f".tmp-rm-{layer_id}-{os.getpid()}"
        os.rename(layer, doomed)
        _removed_or_kept(doomed)

    def exists(self, layer_id: str) -> bool:
        layer = self._dir(layer_id)
        try:
            return (self.home / "l" / (layer / "link").read_text().strip()).is_symlink()
        except (FileNotFoundError, NotADirectoryError):
            return False

    def layers(self) -> list[str]:
        if not self.home.is_dir():
            return []
        return sorted(n for n in os.listdir(self.home) if n != "l")

    def cleanup_staging(self) -> list[str]:
        """Remove what killed pulls and failed removals left; never fails (what resists is kept
        for the next try and listed in :attr:`stuck_staging`)."""
        from pyctr.core.trees import remove_dead_staging

        try:
            names = self.layers()
        except OSError:
            return []
        removed, self.stuck_staging = remove_dead_staging(self.home, names, staging_in_use)
        for name in names:
            if name.startswith("."):
                continue
            try:
                if not self.exists(name):  # its link never made it
                    self.remove(name)
                    removed.append(name)
            except (OSError, DriverError):  # a planted name that is no layer id: not ours to judge here
                continue
        return removed

    #: (set by cleanup_staging) what could not be removed, one line each
    stuck_staging: list[str] = []

    # -- reporting ------------------------------------------------------------------------

    def metadata(self, layer_id: str) -> dict[str, str]:
        layer = self._dir(layer_id)
        data = {"UpperDir": str(layer / "diff")}
        lower_file = layer / "lower"
        if lower_file.exists() and lower_file.read_text().strip():
            data["LowerDir"] = ":".join(os.path.realpath(self.home / p) for p in lower_file.read_text().strip().split(":"))
        if (layer / "work").exists():
            data["WorkDir"] = str(layer / "work")
            data["MergedDir"] = str(layer / "merged")
        return data

    def diff_size(self, layer_id: str) -> int:
        from pyctr.core.trees import disk_usage

        return disk_usage(self._dir(layer_id) / "diff")[0]  # iterative: any depth

    def status(self) -> list[tuple[str, str]]:
        return [("Backing Filesystem", _fs_type(self.ctx.root if self.ctx.root.exists() else self.ctx.root.parent)),
                ("Supports d_type", "true"), ("Using metacopy", "false"), ("Native Overlay Diff", "true")]


def _plain_diff_options() -> str:
    """Mount options for a plain upper directory, on kernels that know them (the module's
    parameters exist since the options do)."""
    params = Path("/sys/module/overlay/parameters")
    return "".join(f",{name}=off" for name in ("redirect_dir", "metacopy") if (params / name).exists())


_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _short_link_name() -> str:
    """26 random base32 characters, the form of Docker's ``l/`` link names.

    (os.urandom, not secrets: that module imports hmac and hashlib, 9 ms a
    command; and no base64 module for 26 characters, ~1 ms more.)
    """
    n = int.from_bytes(os.urandom(17), "big")
    return "".join(_BASE32[(n >> (5 * i)) & 31] for i in range(26))


def _removed_or_kept(doomed: Path) -> None:
    """Remove a renamed-away layer; what resists stays under its ``.tmp-rm-`` name (retried by
    system prune and system check --repair) and is reported as a warning, not an error."""
    failed = remove_tree(doomed)
    if failed:
        import logging

        where, why = failed[0]
        logging.getLogger("pyctr.storage").warning(
            "could not remove %s: %s; kept as %s for system prune to retry", where, why, doomed.name)
