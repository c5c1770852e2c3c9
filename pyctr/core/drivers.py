"""Driver ABCs: one small interface per kind, as moby's graphdriver and libnetwork do.

A driver is picked by name through stevedore (see :mod:`pyctr.core.selection`)
and only the picked one is imported. ``probe()`` is cheap, runs before any
instance exists, and raises one of :data:`pyctr.core.errors.SKIPPABLE` with a
sentence the user can act on.

The driver instance chosen for a command is also registered with pluggy, so a
driver may implement lifecycle hooks (``pyctr_*`` methods) as well.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path

from pyctr.core.errors import (  # noqa: F401  (re-exported: the drivers' vocabulary)
    DriverError,
    DriverNotSupported,
    IncompatibleFilesystem,
    PrerequisitesMissing,
)
from pyctr.core.records import Record, factory

TYPE_CHECKING = False  # (typing's import is ~3 ms of every command; annotations are strings here)
if TYPE_CHECKING:
    from typing import IO, Any, ClassVar

    from pyctr.core.spec import ContainerSpec

KINDS = ("storage", "network", "volume", "cgroup", "runtime")


class DriverContext(Record, frozen=True):
    """What every driver is constructed with."""

    root: Path  #: the storage root (``--root``)
    runroot: Path  #: the run root (``--runroot``): volatile state, locks
    options: dict[str, str] = factory(dict)  #: ``--<kind>-opt`` values


class Driver(abc.ABC):
    """Common part of all drivers."""

    #: the entry point name, set by selection
    name: ClassVar[str] = ""
    #: the kind of driver; one of :data:`KINDS`
    kind: ClassVar[str] = ""
    #: auto-selection order: lower first; None means "only when named"
    priority: ClassVar[int | None] = None

    def __init__(self, ctx: DriverContext) -> None:
        self.ctx = ctx

    @classmethod
    def probe(cls, ctx: DriverContext) -> None:  # noqa: B027  (optional override)
        """Raise a SKIPPABLE error if this driver cannot work here; cheap."""

    def status(self) -> list[tuple[str, str]]:
        """Lines for ``pyctr info`` under this driver (name, value)."""
        return []


class StorageDriver(Driver):
    """Layers: read-only image layers and one writable layer per container."""

    kind = "storage"

    @abc.abstractmethod
    def create(self, layer_id: str, parent: str | None) -> None:
        """Create an empty read-only layer on top of ``parent``."""

    #: image layers can be unpacked before their parent exists (overlay2:
    #: each layer is its own directory), so a pull extracts them in parallel
    #: through :meth:`stage_diff` and commits them in order.
    independent_layers: bool = False

    @abc.abstractmethod
    def apply_diff(self, layer_id: str, parent: str | None, stream: IO[bytes], diff_id: str | None = None) -> int:
        """Create ``layer_id`` from a layer blob (tar, gzip or zstd); return its unpacked size.

        With ``diff_id`` the uncompressed tar must hash to it. Must leave
        nothing behind when it raises. A layer that unpacks to more than
        :attr:`layer_max_size` is refused.
        """

    @property
    def layer_max_size(self) -> int | None:
        """The most file data one layer may unpack to (None: no limit): the
        ``layer-max-size`` setting, which the engine passes as the option
        ``layer_max_size``; a compression bomb stops there instead of filling the disk."""
        from pyctr.core.config import DEFAULT_LAYER_MAX_SIZE

        limit = int(self.ctx.options.get("layer_max_size", DEFAULT_LAYER_MAX_SIZE))
        return limit or None

    def stage_diff(self, layer_id: str, stream: IO[bytes], diff_id: str | None = None) -> tuple[Any, int]:
        """Unpack a layer before its parent exists (``independent_layers`` drivers only).

        Returns (handle, size); :meth:`commit_staged` or :meth:`discard_staged` must follow.
        """
        raise NotImplementedError

    def commit_staged(self, handle: Any, layer_id: str, parent: str | None) -> None:
        """Put a staged layer in place on top of ``parent`` (which must exist by now)."""
        raise NotImplementedError

    def discard_staged(self, handle: Any) -> None:
        """Throw a staged layer away. Idempotent."""

    @abc.abstractmethod
    def create_rw(self, layer_id: str, parent: str | None) -> None:
        """Create a container's writable layer on top of image layer ``parent``."""

    def mark_volatile(self, layer_id: str) -> None:  # noqa: B027  (optional)
        """The writable layer ``layer_id`` is thrown away when its container exits
        (``run --rm``), so nothing needs to survive a crash: the driver may skip
        the syncing that only protects it (overlay2 mounts it ``volatile``, as
        podman does for ``--rm``). Called once, after :meth:`create_rw`. Default: nothing."""

    @abc.abstractmethod
    def get(self, layer_id: str) -> Path:
        """Make the layer's full filesystem available (mount it) and return its path."""

    @abc.abstractmethod
    def put(self, layer_id: str) -> None:
        """Release what :meth:`get` made available (unmount). Idempotent.

        When a container stops, the runtime calls this from a thread of its own,
        alongside the network driver's ``disconnect``."""

    @abc.abstractmethod
    def remove(self, layer_id: str) -> None:
        """Delete the layer. Idempotent."""

    @abc.abstractmethod
    def exists(self, layer_id: str) -> bool:
        """Whether the layer exists and is complete."""

    def metadata(self, layer_id: str) -> dict[str, str]:
        """``GraphDriver.Data`` for ``inspect``."""
        return {}

    def diff_size(self, layer_id: str) -> int:
        """Bytes the layer itself adds."""
        return 0

    def layers(self) -> list[str]:
        """Every layer id present, complete or not (for ``system check``/prune)."""
        return []


def staging_in_use(name: str) -> bool:
    """Whether a ``.tmp-...-<pid>-...`` staging directory belongs to a live process.

    Storage drivers put their pid after the 64-hex layer id, so ``system
    check`` and the next pull remove only what killed processes left.
    """
    import os

    parts = name.split("-")
    for i, part in enumerate(parts[:-1]):
        if len(part) == 64 and parts[i + 1].isdigit():
            pid = int(parts[i + 1])
            if pid == os.getpid():
                return True
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return not _dead(pid)
    return False


def remove_dead_staging(home: Path, names: list[str]) -> list[str]:
    """Delete the ``.tmp-`` entries of ``names`` under ``home`` that no live
    process is building (what a killed pyctr left half-made); the names that went.

    Iterative, whatever the depth of the tree (a hostile layer can be thousands of
    directories deep): :func:`pyctr.core.trees.remove_dead_staging`, which also says
    what resisted; what resists stays for the next ``system prune``."""
    from pyctr.core.trees import remove_dead_staging as remove

    return remove(home, names, staging_in_use)[0]


def _dead(pid: int) -> bool:
    """A zombie (killed, not yet reaped) or exiting process writes nothing more."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in (b"Z", b"X")


class NetworkAttachment(Record):
    """What a network driver reports for one container (``NetworkSettings``)."""

    network: str
    ip_address: str = ""
    prefix_len: int = 0
    gateway: str = ""
    mac_address: str = ""
    extra: dict[str, Any] = factory(dict)


class NetworkDriver(Driver):
    """A container's network: what namespace it gets and what is plugged into it."""

    kind = "network"
    #: whether the container gets a network namespace of its own
    wants_network_namespace: ClassVar[bool] = True

    @abc.abstractmethod
    def connect(self, container: Any, pid: int) -> NetworkAttachment | None:
        """Wire the container whose init has host pid ``pid``; runs in the parent
        after the child's namespaces exist and before the user's command starts."""

    @abc.abstractmethod
    def disconnect(self, container: Any) -> None:
        """Undo :meth:`connect`. Idempotent; safe after a crash."""

    def cleanup_orphans(self, live_container_ids: set[str]) -> list[str]:
        """Remove what belongs to containers that no longer exist; say what went."""
        return []

    def forget(self, container: Any) -> None:
        """``container`` is being removed (already disconnected): drop whatever the
        driver still records for it, such as networks chosen for its next start.
        Runs in the parent; the default has nothing to drop."""

    def connect_network(self, container: Any, network: str, pid: int = 0, aliases: list[str] | None = None,
                        ip: str | None = None) -> NetworkAttachment | None:
        """``pyctr network connect``: attach ``container`` to one more network.

        With ``pid`` (the running init's host pid) the new interface is made
        now; with 0 (created or stopped) the network is recorded and wired at
        the next :meth:`connect`. Returns the container's whole attachment
        (``extra["networks"]``: every network by name), which the caller stores
        for ``inspect``. Raises ``Conflict`` when already connected. Runs in the
        parent. Drivers without multiple networks keep this default.
        """
        raise DriverNotSupported(f"the {self.name or type(self).__name__} network driver cannot connect "
                                 f"a container to another network")

    def disconnect_network(self, container: Any, network: str, pid: int = 0,
                           force: bool = False) -> NetworkAttachment | None:
        """``pyctr network disconnect``: detach ``container`` from one network (its
        interface, lease and name records go now if it runs, ``pid`` being its
        init's host pid, 0 when it does not; it is not wired at the next start).
        ``force`` drops the records even when the interface cannot be removed.
        Returns what :meth:`connect_network` returns. Runs in the parent."""
        raise DriverNotSupported(f"the {self.name or type(self).__name__} network driver cannot disconnect "
                                 f"a container from a network")


class VolumeDriver(Driver):
    """Named volumes, as Docker's volume plugin API."""

    kind = "volume"

    @abc.abstractmethod
    def create(self, name: str, options: dict[str, str]) -> None:
        """Create the volume; refuse options it does not understand."""

    @abc.abstractmethod
    def remove(self, name: str) -> None:
        """Delete the volume and its data."""

    @abc.abstractmethod
    def mount(self, name: str, container_id: str) -> Path:
        """Make the volume's data available for a container; reference counted."""

    @abc.abstractmethod
    def unmount(self, name: str, container_id: str) -> None:
        """Release ``container_id``'s use of the volume; the last release unmounts. The data stays.

        Idempotent: a container that holds no use of it (never mounted it, or released it
        already) changes nothing, and the volume stays in use by the others."""

    @abc.abstractmethod
    def path(self, name: str) -> Path:
        """Where the volume's data is (its Mountpoint)."""

    @abc.abstractmethod
    def list(self) -> list[str]:
        """Names of every volume this driver holds."""


class CgroupDriver(Driver):
    """A container's cgroup: placement, limits, stats, freezing and removal.

    Placement: below the cgroup pyctr runs in, unless ``--cgroup-parent``.
    Option ``parent`` (``ctx.options``): a sub-cgroup of that default to use
    instead; ``cleanup_orphans`` prunes there and removes it when empty (the
    conformance suite relies on it to stay away from other containers).
    """

    kind = "cgroup"

    @abc.abstractmethod
    def create(self, container_id: str, parent: str | None, resources: dict[str, Any]) -> Any:
        """Create the cgroup and write the limits; return a JSON-able handle.

        When a container is created and started at once (``run`` in the
        foreground), the runtime calls this from a thread of its own while the
        storage driver makes the layer."""

    @abc.abstractmethod
    def add_process(self, handle: Any, pid: int) -> None:
        """Move ``pid`` into the cgroup."""

    def warm_up(self) -> None:
        """Called right after ``create`` when a container starts, and, when it is
        created and started at once (``run``), also before ``create``: begin, in
        the background, any slow kernel work the coming ``add_process`` would
        otherwise wait for. Optional; must not block and must not fail."""

    def validate(self, resources: dict[str, Any]) -> dict[str, Any]:
        """Check limits without creating anything (``create`` runs it first); return them normalised."""
        return dict(resources)

    @abc.abstractmethod
    def destroy(self, handle: Any) -> dict[str, Any]:
        """Kill what is left, remove the cgroup; return final counters (OOM first).

        The counters are :meth:`oom_events`' keys, read before anything is
        killed. Idempotent: a handle already destroyed or half-created is fine.
        When a container stops, the runtime calls this from a thread of its own,
        alongside the network driver's ``disconnect``.
        """

    # The resources dict (``ContainerSpec.resources``) has these keys, values
    # already parsed (see :mod:`pyctr.core.units`); absent means "not set":
    # memory, memory_swap (-1 = unlimited; memory + swap, as Docker),
    # memory_reservation, kernel_memory (bytes); nano_cpus, cpu_shares,
    # cpu_quota, cpu_period (us); cpuset_cpus, cpuset_mems (str);
    # pids_limit (<= 0 = unlimited); blkio_weight (10..1000); oom_kill_disable.

    @abc.abstractmethod
    def update(self, handle: Any, resources: dict[str, Any]) -> None:
        """Change the limits of a live cgroup (``pyctr update``); same keys as create."""

    @abc.abstractmethod
    def stats(self, handle: Any) -> dict[str, int]:
        """Counters for ``pyctr stats``: cpu_usage_ns, cpu_throttled_periods, memory_usage, memory_limit,
        pids_current, pids_limit (0 = none), blkio_read, blkio_write (bytes)."""

    @abc.abstractmethod
    def freeze(self, handle: Any) -> None:
        """Freeze every process (``pause``); returns once the kernel says frozen."""

    @abc.abstractmethod
    def thaw(self, handle: Any) -> None:
        """Undo :meth:`freeze` (``unpause``)."""

    @abc.abstractmethod
    def oom_events(self, handle: Any) -> dict[str, int]:
        """``{"oom": N, "oom_kill": N}``: times the limit was hit / processes OOM-killed."""

    @abc.abstractmethod
    def pids(self, handle: Any) -> list[int]:
        """Host pids of every process in the cgroup (``top``)."""

    def cleanup_orphans(self, live_container_ids: set[str]) -> list[str]:
        """Remove the cgroups of containers that no longer exist; say what went."""
        return []

    def recorded_handle(self, container_id: str) -> Any:
        """The handle of cgroups this driver made for ``container_id`` and still records,
        for a caller that lost it (a start killed between the mkdir and the save of the
        handle: ``rm`` removes them then); None when there are none or the driver keeps
        no records (the default: ``cleanup_orphans`` is the only way back)."""
        return None


class Launch:
    """What the host asks a runtime driver to start: plain data, so it crosses fork unchanged.

    (A plain class, not a dataclass or Record: it is made on every start, and
    the child reads it after the fork.)
    """

    def __init__(self, *, spec: ContainerSpec, rootfs: str, container_dir: str, flags: int,
                 joins: dict[str, str], stdio: tuple[int, int, int] | None = None, setsid: bool = True,
                 ctty: bool = False, console: int | None = None, seccomp_cache: str | None = None,
                 plan: Any = None, preserve_fds: int = 0, container_id: str = "", cgroup: Any = None,
                 detach: Any = None) -> None:
        self.spec = spec
        self.rootfs = rootfs  #: the mounted root filesystem (the storage driver's ``get``)
        self.container_dir = container_dir  #: the container's files (hostname, hosts, resolv.conf)
        self.flags = flags  #: CLONE_NEW* to unshare
        self.joins = joins  #: kind -> /proc/<pid>/ns/<file> to setns into
        self.stdio = stdio  #: fds to become 0, 1, 2 (None: inherit)
        self.setsid = setsid
        self.ctty = ctty  #: make stdin the controlling terminal
        self.console = console  #: unix socket: the init makes a pty in its own /dev/pts and sends the master
        self.seccomp_cache = seccomp_cache  #: directory of compiled seccomp filters
        #: an OCI bundle's steps (:class:`pyctr.runtime.plan.Plan`); None: Docker's defaults from ``spec``
        self.plan = plan
        self.preserve_fds = preserve_fds  #: fds 3..3+N-1 stay open across execve (runc's --preserve-fds)
        #: (in the forked process) the error pipe's write end, where a plan's init says "created"
        self.report = -1
        self.container_id = container_id
        self.cgroup = cgroup  #: the handle of the cgroups the host made for the container (None: none)
        #: a detached start (the init outlives this command): what a runtime driver that watches such
        #: containers itself needs (conmon's, :mod:`pyctr.runtime.conmon`); None: this process waits for
        #: the init (a foreground run) or watches it (pyctr's own monitor). The host does not look inside.
        self.detach = detach


class RuntimeDriver(Driver):
    """The process side: a container's init made in its namespaces, and waited for.

    The host (:mod:`pyctr.core.lifecycle`) decides what happens in which order
    and records it; a runtime driver does the forking, the namespaces, the
    mounts inside them, the privileges and ``execve``. The built-in one is
    ``pyctr`` (:mod:`pyctr.runtime.driver`).
    """

    kind = "runtime"

    @abc.abstractmethod
    def spawn(self, launch: Launch, create_runtime: Callable[[int, Callable[[], None]], None],
              place_early: Callable[[int], None] | None = None) -> int:
        """Start the container's init; return its host pid once the user's command executes.

        ``create_runtime(pid, ready)`` is the host's part while the init waits
        before ``execve`` (its record, cgroups, network, ``pyctr_create_runtime``):
        ``ready()`` returns once the init's namespaces exist. ``place_early(pid)``,
        when given, may put an intermediate process in the container's cgroups.
        On any failure nothing of the init is left and the error is raised
        (:class:`~pyctr.core.errors.PyctrError` with the exit code to report).
        """

    def refuses(self, spec: ContainerSpec) -> str | None:
        """Why this driver cannot run a container made from ``spec`` (None: it can); checked at
        ``create``, where auto-selection then takes the next driver by priority."""
        return None

    @abc.abstractmethod
    def wait(self, pid: int, master: int | None = None, interactive: bool = False) -> int:
        """Wait for the init ``spawn`` returned (a child of this process), forwarding the
        usual signals to it; with a pty ``master``, relay the terminal meanwhile
        (``interactive``: this terminal's input too, in raw mode). Return its wait status."""
