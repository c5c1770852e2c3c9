"""A container's init given exactly: every mount, id, capability and limit spelled out.

``pyctr run`` describes a container the Docker way (a ContainerSpec: an
image's user name, ``--cap-add``, volumes) and the init fills in Docker's
defaults. An OCI bundle (``pyctr-runtime``) says everything itself: the full
mount list including /proc and /dev, numeric ids, the five capability sets,
rlimits, devices, sysctls, hooks. A :class:`Plan` carries that, and the init
(:mod:`pyctr.runtime.launch`) takes its steps from it instead of the defaults;
the fork, the namespaces, the cgroup placement, seccomp, the console and the
``execve`` stay the same code for both front ends.

Plain classes with ``__slots__``: they cross ``fork`` unchanged and cost
nothing to define on the start path.
"""

from __future__ import annotations


class MountStep:
    """One entry of the bundle's ``mounts``: ``mount(source, target, fstype, flags, data)``,
    then a propagation change and, for read-only binds, a remount."""

    __slots__ = ("source", "target", "fstype", "flags", "data", "propagation", "kind")

    def __init__(self, source: str, target: str, fstype: str, flags: int, data: str,
                 propagation: int = 0, kind: str = "") -> None:
        self.source = source  #: an absolute host path for binds; otherwise passed to mount(2)
        self.target = target  #: absolute, inside the container's root
        self.fstype = fstype
        self.flags = flags  #: MS_* (MS_BIND for binds; MS_RDONLY applied by a remount there)
        self.data = data
        self.propagation = propagation  #: MS_SHARED/SLAVE/PRIVATE/UNBINDABLE (| MS_REC), 0 = none
        self.kind = kind  #: "bind", "cgroup" (runc's v1 emulation), or "" for a filesystem


class Device:
    """A device node the init creates under /dev (``linux.devices``)."""

    __slots__ = ("path", "type", "major", "minor", "mode", "uid", "gid")

    def __init__(self, path: str, type: str, major: int, minor: int, mode: int, uid: int, gid: int) -> None:
        self.path = path
        self.type = type  #: c, b, u (= c) or p
        self.major = major
        self.minor = minor
        self.mode = mode  #: permission bits
        self.uid = uid
        self.gid = gid


class Hook:
    """A program run at a lifecycle point, with the container's state on stdin."""

    __slots__ = ("path", "args", "env", "timeout")

    def __init__(self, path: str, args: list[str], env: list[str], timeout: int | None) -> None:
        self.path = path
        self.args = args
        self.env = env
        self.timeout = timeout


class Identity:
    """Who the process runs as and with which capabilities (each set a bit mask)."""

    __slots__ = ("uid", "gid", "groups", "umask", "bounding", "effective", "permitted", "inheritable",
                 "ambient")

    def __init__(self, uid: int = 0, gid: int = 0, groups: list[int] | None = None, umask: int | None = None,
                 bounding: int = 0, effective: int = 0, permitted: int = 0, inheritable: int = 0,
                 ambient: int = 0) -> None:
        self.uid = uid
        self.gid = gid
        self.groups = groups or []
        self.umask = umask
        self.bounding = bounding
        self.effective = effective
        self.permitted = permitted
        self.inheritable = inheritable
        self.ambient = ambient


class ProcessPlan:
    """The process to become: for the init and for ``exec`` alike."""

    __slots__ = ("args", "env", "cwd", "identity", "rlimits", "no_new_privileges", "console_size",
                 "oom_score_adj", "terminal")

    def __init__(self, args: list[str], env: list[str], cwd: str, identity: Identity,
                 rlimits: list[tuple[int, int, int]] | None = None, no_new_privileges: bool = False,
                 console_size: tuple[int, int] | None = None, oom_score_adj: int | None = None) -> None:
        self.args = args
        self.env = env
        self.cwd = cwd
        self.identity = identity
        self.rlimits = rlimits or []  #: (RLIMIT_*, soft, hard)
        self.no_new_privileges = no_new_privileges
        self.console_size = console_size  #: (rows, columns) of the pty
        self.oom_score_adj = oom_score_adj
        self.terminal = False  #: wants a pty (sent over the caller's console socket)


class Plan:
    """Everything an OCI bundle's init does between its namespaces and ``execve``."""

    __slots__ = ("process", "mounts", "devices", "default_devices", "masked", "readonly", "root_propagation",
                 "readonly_root", "no_pivot", "hostname", "domainname", "sysctl", "exec_fifo",
                 "create_container_hooks", "start_container_hooks", "hook_state_file", "cgroup_root",
                 "session_keyring", "hook_plugins")

    def __init__(self, process: ProcessPlan) -> None:
        self.process = process
        self.mounts: list[MountStep] = []
        self.devices: list[Device] = []
        self.default_devices = True  #: null, zero, full, random, urandom, tty (not when /dev is bound in)
        self.masked: list[str] = []
        self.readonly: list[str] = []
        self.root_propagation = 0  #: rootfsPropagation as MS_* flags; 0 = runc's default (rslave)
        self.readonly_root = False
        self.no_pivot = False
        self.hostname: str | None = None
        self.domainname: str | None = None
        self.sysctl: dict[str, str] = {}
        #: an O_PATH descriptor of the exec fifo (inherited through fork): the init opens it for
        #: writing after everything but execve, which blocks until ``start`` opens it for reading
        self.exec_fifo: int | None = None
        self.create_container_hooks: list[Hook] = []
        self.start_container_hooks: list[Hook] = []
        self.hook_state_file = ""  #: the state JSON the init's hooks get on stdin
        #: /sys/fs/cgroup as the host mounts it (the cgroup mounts of the bundle copy its layout)
        self.cgroup_root = "/sys/fs/cgroup"
        #: the name of a new session keyring (runc's ``_ses.<id>``); None: keep the caller's
        self.session_keyring: str | None = None
        #: run pyctr's hook plugins (pyctr_setup_child, pyctr_start_container) in the init; the
        #: parent loads them before the fork (none is built in: without third-party plugins a
        #: start skips pluggy altogether)
        self.hook_plugins = True
