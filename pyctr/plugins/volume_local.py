"""The ``local`` volume driver: Docker's, directory for directory.

A volume is ``<root>/volumes/<name>/_data``. With ``-o type=... -o device=...
[-o o=...]`` that filesystem is mounted at ``_data`` (nfs, tmpfs, a block
device, ``type=none,o=bind``) when the first container using the volume
starts, and unmounted when the last one stops.

Reference counts live in the state database (one row per volume and
container, changed in a transaction) and each volume's mount and unmount run
under a lock file of its own, so concurrent pyctr processes agree and a slow
NFS server blocks only its own volume. Whether ``_data`` is mounted is read
from the kernel (mountinfo), never remembered, so a crash cannot make the
two disagree; ``system prune`` (``pyctr_cleanup_orphans``) drops references
of containers that no longer exist and unmounts what nobody uses.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import time
from pathlib import Path

from pyctr import hookimpl
from pyctr.core.drivers import VolumeDriver
from pyctr.core.errors import Conflict, DriverError, NotFound, UsageError
from pyctr.core.state import flocked, register_migration, transaction

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

register_migration("volume-drivers-1", """
    CREATE TABLE driver_volumes (
        driver TEXT NOT NULL,
        name TEXT NOT NULL,
        options TEXT NOT NULL DEFAULT '{}',   -- JSON, as given to create
        created REAL NOT NULL,
        PRIMARY KEY (driver, name)
    );
    CREATE TABLE driver_volume_refs (
        driver TEXT NOT NULL,
        name TEXT NOT NULL,
        container TEXT NOT NULL,
        PRIMARY KEY (driver, name, container)
    );
""")

NFS_TYPES = ("nfs", "nfs4")


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def is_mountpoint(path: Path | str) -> bool:
    """Whether the kernel has something mounted exactly at ``path`` (in our namespace)."""
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(_unescape(line.split()[4]) == real for line in f)


def _remove_tree(path: Path) -> None:
    """rm -rf that never descends into another filesystem (a stale mount's data is not ours);
    iterative, so a volume of any depth goes."""
    from pyctr.core.trees import remove_tree

    failed = remove_tree(path)
    if failed:
        where, why = failed[0]
        if why == os.strerror(errno.EXDEV) or "another filesystem" in why:
            raise DriverError(f"refusing to delete {where}: another filesystem is mounted there")
        raise DriverError(f"cannot remove {where}: {why}")


class LocalVolumeDriver(VolumeDriver):
    """Plain directories, or a filesystem mounted there on first use (Docker's ``local``)."""

    name = "local"
    priority = 0
    #: what ``-o`` may name; Docker's ``size`` needs quota support pyctr does not have
    valid_options: tuple[str, ...] = ("type", "device", "o")

    # -- where things are -------------------------------------------------

    def _volume_dir(self, name: str) -> Path:
        from pyctr.core.volumes import validate_name

        if not name or "/" in name or name in (".", ".."):
            raise UsageError(f"invalid volume name {name!r}")
        validate_name(name)
        return self.ctx.root / "volumes" / name

    def path(self, name: str) -> Path:
        return self._volume_dir(name) / "_data"

    @functools.cached_property
    def db(self) -> Any:
        from pyctr.core import state

        return state.connect(self.ctx.root)

    def _locked(self, name: str) -> contextlib.AbstractContextManager[None]:
        return flocked(self.ctx.runroot / "locks" / f"{self.name}-volume-{name}.lock")

    def _options(self, name: str) -> dict[str, str]:
        row = self.db.execute("SELECT options FROM driver_volumes WHERE driver = ? AND name = ?",
                              (self.name, name)).fetchone()
        if row is None:
            raise NotFound(f"no such volume: {name}")
        return json.loads(row[0])

    def _refs(self, name: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM driver_volume_refs WHERE driver = ? AND name = ?",
                               (self.name, name)).fetchone()[0]

    # -- options and the filesystem behind them ----------------------------

    def validate(self, options: dict[str, str]) -> dict[str, str]:
        """Docker's validateOpts; refuses NFS where the kernel cannot mount it."""
        for key in options:
            if key not in self.valid_options:
                raise UsageError(f'invalid option: "{key}"')
        for key, required in (("device", ("type",)), ("type", ("device",)), ("o", ("device", "type"))):
            if key in options:
                for other in required:
                    if other not in options:
                        raise UsageError(f'missing required option: "{other}"')
        if options.get("type") in NFS_TYPES:
            from pyctr.plugins import nfs_client

            nfs_client.require()
        return dict(options)

    def needs_mount(self, options: dict[str, str]) -> bool:
        return bool(options.get("type") or options.get("device"))

    def mount_filesystem(self, options: dict[str, str], target: Path) -> None:
        from pyctr.kernel import linux, mountopts

        fstype, device, opts = options.get("type", ""), options.get("device", ""), options.get("o", "")
        if not device:
            raise DriverError("missing device in volume options")
        if fstype in NFS_TYPES:
            from pyctr.plugins import nfs_client

            nfs_client.mount(fstype, device, str(target), opts)
            return
        flags, data = mountopts.parse(opts)
        try:
            linux.mount(device, str(target), None if fstype in ("", "none") else fstype, flags, data or None)
            if flags & linux.MS_BIND and flags & linux.MS_RDONLY:  # a bind ignores ro until remounted
                linux.mount(None, str(target), None, linux.MS_BIND | linux.MS_REMOUNT | flags)
        except OSError as e:
            raise DriverError(f"failed to mount local volume: mount {device}:{target}, data: {opts}: "
                              f"{os.strerror(e.errno or 0)}") from None

    @staticmethod
    def _unmount_filesystem(target: Path) -> None:
        from pyctr.kernel import linux

        try:
            linux.umount2(str(target))
        except OSError as e:
            if e.errno == errno.EBUSY:  # something still has it open: detach, it goes when they close
                linux.umount2(str(target), linux.MNT_DETACH)
            elif e.errno != errno.EINVAL:  # EINVAL: not mounted any more
                raise DriverError(f"cannot unmount {target}: {os.strerror(e.errno or 0)}") from None

    # -- the VolumeDriver interface -----------------------------------------

    def create(self, name: str, options: dict[str, str]) -> None:
        directory = self._volume_dir(name)
        options = self.validate(options)
        with self._locked(name):
            with transaction(self.db):
                exists = self.db.execute("SELECT 1 FROM driver_volumes WHERE driver = ? AND name = ?",
                                         (self.name, name)).fetchone()
                if not exists:
                    self.db.execute("INSERT INTO driver_volumes(driver, name, options, created) VALUES (?, ?, ?, ?)",
                                    (self.name, name, json.dumps(options), time.time()))
            if exists:
                return  # Docker's local driver hands back the volume that is there
            try:
                directory.parent.mkdir(parents=True, exist_ok=True, mode=0o701)
                directory.mkdir(mode=0o755, exist_ok=True)
                (directory / "_data").mkdir(mode=0o755, exist_ok=True)
            except OSError as e:
                with transaction(self.db):
                    self.db.execute("DELETE FROM driver_volumes WHERE driver = ? AND name = ?", (self.name, name))
                raise DriverError(f"cannot create volume directory {directory}: {e.strerror}") from None

    def remove(self, name: str) -> None:
        directory = self._volume_dir(name)
        with self._locked(name):
            self._options(name)  # NotFound
            if self._refs(name):
                raise Conflict(f"volume {name} is in use")
            data = directory / "_data"
            if data.exists() and is_mountpoint(data):
                self._unmount_filesystem(data)
            _remove_tree(directory)
            with transaction(self.db):
                self.db.execute("DELETE FROM driver_volumes WHERE driver = ? AND name = ?", (self.name, name))

    def mount(self, name: str, container_id: str) -> Path:
        data = self.path(name)
        with self._locked(name):
            with transaction(self.db):
                options = self._options(name)
                self.db.execute("INSERT OR IGNORE INTO driver_volume_refs(driver, name, container) VALUES (?, ?, ?)",
                                (self.name, name, container_id))
            if self.needs_mount(options) and not is_mountpoint(data):
                try:
                    data.mkdir(parents=True, exist_ok=True, mode=0o755)
                    self.mount_filesystem(options, data)
                except BaseException:
                    with transaction(self.db):
                        self.db.execute("DELETE FROM driver_volume_refs WHERE driver = ? AND name = ? AND container = ?",
                                        (self.name, name, container_id))
                    raise
        return data

    def unmount(self, name: str, container_id: str) -> None:
        data = self.path(name)
        with self._locked(name):
            with transaction(self.db):
                self.db.execute("DELETE FROM driver_volume_refs WHERE driver = ? AND name = ? AND container = ?",
                                (self.name, name, container_id))
                remaining = self._refs(name)
                row = self.db.execute("SELECT options FROM driver_volumes WHERE driver = ? AND name = ?",
                                      (self.name, name)).fetchone()
            if row and remaining == 0 and self.needs_mount(json.loads(row[0])) and is_mountpoint(data):
                self._unmount_filesystem(data)

    def list(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM driver_volumes WHERE driver = ? ORDER BY name",
                                              (self.name,))]

    def options(self, name: str) -> dict[str, str]:
        """The options the volume was created with (``volume inspect``'s Options)."""
        return self._options(name)

    def status(self) -> list[tuple[str, str]]:
        return [("Volumes", str(len(self.list())))]

    # -- repair ---------------------------------------------------------------

    @hookimpl
    def pyctr_cleanup_orphans(self, live_container_ids: set[str]) -> list[str]:
        lines = []
        rows = self.db.execute("SELECT name, container FROM driver_volume_refs WHERE driver = ?",
                               (self.name,)).fetchall()
        stale = [(n, c) for n, c in rows if c not in live_container_ids]
        for name, container in stale:
            self.unmount(name, container)
            lines.append(f"released volume {name} held by removed container {container[:12]}")
        for name in self.list():
            options = self._options(name)
            with self._locked(name):
                data = self.path(name)
                if self.needs_mount(options) and self._refs(name) == 0 and data.exists() and is_mountpoint(data):
                    self._unmount_filesystem(data)
                    lines.append(f"unmounted volume {name}: no container uses it")
        return lines
