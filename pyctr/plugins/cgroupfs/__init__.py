"""The ``cgroupfs`` cgroup driver: pyctr writes the cgroup filesystem itself.

The host decides the backend, not the user: ``statfs(/sys/fs/cgroup)`` says
cgroup2 (unified, :mod:`.v2`) or a tmpfs holding v1 controller hierarchies
(v1 or hybrid, :mod:`.v1`). Both backends are complete.

Options (``--cgroup-opt``): ``parent=SUB`` places containers without a
``--cgroup-parent`` in ``SUB`` below the cgroup pyctr runs in (per hierarchy
on v1) instead of directly in it; ``cleanup_orphans`` looks there too.

Handles are JSON-able dicts: ``{"driver": "cgroupfs", "version": 1|2,
"id": ..., "paths": {controller or "unified": absolute path}}``.
"""

from __future__ import annotations

import os

from pyctr.core.drivers import CgroupDriver, DriverContext
from pyctr.core.errors import DriverError, DriverNotSupported
from pyctr.plugins.cgroupfs import common

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

_detected: int | None = None


def detect() -> int:
    """1 (v1 or hybrid) or 2 (unified); DriverNotSupported with the reason otherwise.

    Asked by the probe and again by the backend: the answer is kept (a host
    does not change its cgroup layout under a running command)."""
    global _detected
    if _detected is None:
        _detected = _detect()
    return _detected


def _detect() -> int:
    magic = common.fs_magic(common.CGROUP_ROOT)
    if magic is None:
        raise DriverNotSupported("no cgroup filesystem: /sys/fs/cgroup does not exist (mount cgroup2 there)")
    if magic == common.CGROUP2_SUPER_MAGIC:
        return 2
    if magic == common.TMPFS_MAGIC:
        if any(t == "cgroup" and str(p).startswith(str(common.CGROUP_ROOT) + "/")
               for t, _r, p, _o in common.cgroup_mounts()):
            return 1
        raise DriverNotSupported("/sys/fs/cgroup is a tmpfs without cgroup v1 controllers mounted in it")
    raise DriverNotSupported(f"/sys/fs/cgroup is neither cgroup2 nor a tmpfs of v1 hierarchies (statfs type {magic:#x})")


def _not_delegated() -> str | None:
    """For a rootless user: why there are no cgroups to manage here, or None when there are
    (cgroup v2, and the cgroup pyctr runs in is the user's to write: a delegated subtree)."""
    from pyctr.core import rootless

    if not rootless.active():
        return None
    if detect() == 1:
        return "this host has cgroup v1, which cannot be delegated to an unprivileged user (boot with cgroup v2)"
    own = common.CGROUP_ROOT / common.own_cgroups().get("", "/").lstrip("/")
    if not (os.access(own, os.W_OK) and os.access(own / "cgroup.procs", os.W_OK)):
        return (f"the cgroup v2 subtree you run in ({own}) is not delegated to you "
                "(systemd: Delegate=yes, or a user session's user@UID.service)")
    return None


class CgroupfsCgroupDriver(CgroupDriver):
    """Container cgroups made by writing /sys/fs/cgroup directly (Docker's ``cgroupfs``)."""

    priority = 10

    def __init__(self, ctx: DriverContext, backend: Any = None) -> None:
        super().__init__(ctx)
        #: a backend may be given (tests drive v2 on a hybrid host's unified mount)
        self._backend = backend

    @classmethod
    def probe(cls, ctx: DriverContext) -> None:
        detect()

    @property
    def backend(self) -> Any:
        if self._backend is None:
            records = common.Records(self.ctx.runroot)
            parent = self.ctx.options.get("parent", "")
            reason = _not_delegated()
            if reason:
                from pyctr.plugins.cgroupfs.unmanaged import UnmanagedBackend

                self._backend = UnmanagedBackend(detect(), reason)
            elif detect() == 2:
                from pyctr.plugins.cgroupfs.v2 import V2Backend

                self._backend = V2Backend(common.CGROUP_ROOT, records, parent)
            else:
                from pyctr.plugins.cgroupfs.v1 import V1Backend

                self._backend = V1Backend(records, parent)
        return self._backend

    @property
    def version(self) -> int:
        return int(self.backend.version)

    def _check(self, handle: Any) -> dict[str, Any]:
        if not isinstance(handle, dict) or handle.get("version") != self.backend.version or "paths" not in handle:
            raise DriverError(f"not a cgroup v{self.backend.version} handle of the cgroupfs driver: {handle!r}")
        return handle

    def validate(self, resources: dict[str, Any]) -> dict[str, Any]:
        import os

        if hasattr(self.backend, "reason"):
            return self.backend.validate(resources)  # (rootless, no cgroups: pyctr.plugins.cgroupfs.unmanaged)

        from pyctr.plugins.cgroupfs import common
        from pyctr.plugins.cgroupfs import resources as rules

        if resources.get("kernel_memory") and self.backend.version == 2:
            from pyctr.core.errors import UsageError

            raise UsageError("--kernel-memory is not supported with cgroup v2 (the kernel has no kmem limit there)")
        return rules.validate(dict(resources), ncpus=os.cpu_count() or 1, cpus_available=common.online_cpus(),
                              default_swap=False)

    def create(self, container_id: str, parent: str | None, resources: dict[str, Any]) -> dict[str, Any]:
        return self.backend.create(container_id, parent or None, dict(resources or {}))

    def create_at(self, container_id: str, path: str, resources: dict[str, Any]) -> dict[str, Any]:
        """:meth:`create` at exactly ``path`` (an OCI bundle's cgroupsPath): absolute from the
        hierarchy's root, or relative to the cgroup this process runs in."""
        return self.backend.create(container_id, None, dict(resources or {}), at=path)

    def add_process(self, handle: Any, pid: int) -> None:
        self.backend.add_process(self._check(handle), pid)

    def warm_up(self) -> None:
        try:
            own = self.backend.own_procs_file()
        except (OSError, DriverError):
            return
        common.prime_migration_lock(own)

    def update(self, handle: Any, resources: dict[str, Any]) -> None:
        self.backend.update(self._check(handle), dict(resources))

    def stats(self, handle: Any) -> dict[str, int]:
        return self.backend.stats(self._check(handle))

    def freeze(self, handle: Any) -> None:
        self.backend.freeze(self._check(handle))

    def thaw(self, handle: Any) -> None:
        self.backend.thaw(self._check(handle))

    def oom_events(self, handle: Any) -> dict[str, int]:
        return self.backend.oom_events(self._check(handle))

    def pids(self, handle: Any) -> list[int]:
        return self.backend.pids(self._check(handle))

    def destroy(self, handle: Any) -> dict[str, Any]:
        return self.backend.destroy(self._check(handle))

    def cleanup_orphans(self, live_container_ids: set[str]) -> list[str]:
        return self.backend.cleanup_orphans(set(live_container_ids))

    def recorded_handle(self, container_id: str) -> Any:
        # the intent record is written before the first mkdir (common.Records)
        records = self.backend.records
        handle = records.get(container_id) if records is not None else None
        return handle if isinstance(handle, dict) and handle.get("version") == self.backend.version else None

    def status(self) -> list[tuple[str, str]]:
        return [("Cgroup Driver", "cgroupfs"), *self.backend.status()]
