"""A bundle's config.json (runtime-spec 1.1), checked and turned into pyctr's launch.

:func:`load` reads the file; :class:`Bundle` checks every field pyctr reads
and translates it: the process into a :class:`~pyctr.runtime.plan.ProcessPlan`,
mounts, devices, paths and hooks into a :class:`~pyctr.runtime.plan.Plan`,
namespaces into clone flags and paths to join, resources into the cgroup
driver's keys, seccomp into the profile text :mod:`pyctr.runtime.seccomp`
compiles. A field pyctr cannot honour is refused in one line that names it
(``linux.intelRdt: not supported``), never ignored; a wrong type says which
field and what was expected.
"""

from __future__ import annotations

import json
import os

from pyctr.kernel import linux
from pyctr.kernel.mountopts import FLAGS as MOUNT_FLAGS
from pyctr.oci.common import OciError
from pyctr.runtime.plan import Device, Hook, Identity, MountStep, Plan, ProcessPlan

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

NAMESPACES = {"pid": "pid", "network": "network", "mount": "mount", "ipc": "ipc", "uts": "uts",
              "user": "user", "cgroup": "cgroup"}
#: the order namespaces are joined in (user first: it owns the rest)
JOIN_ORDER = ("user", "mount", "uts", "ipc", "network", "pid", "cgroup")

PROPAGATION = {
    "private": linux.MS_PRIVATE, "rprivate": linux.MS_PRIVATE | linux.MS_REC,
    "shared": linux.MS_SHARED, "rshared": linux.MS_SHARED | linux.MS_REC,
    "slave": linux.MS_SLAVE, "rslave": linux.MS_SLAVE | linux.MS_REC,
    "unbindable": 1 << 17, "runbindable": (1 << 17) | linux.MS_REC,
}
#: options runc accepts and the kernel needs no flag for (mount attributes pyctr does not set)
_IGNORED_OPTIONS = {"tmpcopyup", "idmap", "ridmap", "rro", "rrw", "nosymfollow", "symfollow"}

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}
HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
_SECCOMP_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": "SCMP_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG": "SCMP_FLAG_LOG",
                  "SECCOMP_FILTER_FLAG_SPEC_ALLOW": "SCMP_FLAG_SPEC_ALLOW"}


def load(bundle: str) -> dict[str, Any]:
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise OciError(f"JSON specification file {path} not found") from None
    except OSError as e:
        raise OciError(f"open {path}: {e.strerror}") from None
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise OciError(f"config.json: not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise OciError("config.json: not a JSON object")
    return data


# --- small typed readers: every failure names the field -------------------


def _obj(data: Any, field: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise OciError(f"{field}: must be an object, not {_kind(data)}")
    return data


def _list(data: Any, field: str) -> list[Any]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise OciError(f"{field}: must be an array, not {_kind(data)}")
    return data


def _str(data: Any, field: str, default: str = "") -> str:
    if data is None:
        return default
    if not isinstance(data, str):
        raise OciError(f"{field}: must be a string, not {_kind(data)}")
    return data


def _int(data: Any, field: str, default: int | None = None, *, low: int | None = None) -> int | None:
    if data is None:
        return default
    if isinstance(data, bool) or not isinstance(data, int):
        raise OciError(f"{field}: must be an integer, not {_kind(data)}")
    if low is not None and data < low:
        raise OciError(f"{field}: must be at least {low}, not {data}")
    return data


def _bool(data: Any, field: str) -> bool:
    if data is None:
        return False
    if not isinstance(data, bool):
        raise OciError(f"{field}: must be true or false, not {_kind(data)}")
    return data


def _strings(data: Any, field: str) -> list[str]:
    items = _list(data, field)
    for i, s in enumerate(items):
        if not isinstance(s, str):
            raise OciError(f"{field}[{i}]: must be a string, not {_kind(s)}")
    return items


def _kind(v: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def _refuse_unknown(data: dict[str, Any], known: set[str], where: str) -> None:
    """Fields pyctr does not know are refused when they ask for something (non-empty)."""
    for key, value in data.items():
        if key not in known and value not in (None, "", [], {}, 0, False):
            raise OciError(f"{where}{key}: not supported by pyctr-runtime")


# --- the bundle --------------------------------------------------------------


class Bundle:
    """config.json checked and translated; ``process`` may be absent only for ``exec``'s use."""

    def __init__(self, bundle: str, data: dict[str, Any]) -> None:
        self.dir = os.path.abspath(bundle)
        self.data = data
        version = _str(data.get("ociVersion"), "ociVersion")
        if not version:
            raise OciError("ociVersion: missing")
        if not version.startswith("1."):
            raise OciError(f"ociVersion: {version} is not a 1.x runtime-spec version")
        self.version = version
        _refuse_unknown(data, {"ociVersion", "process", "root", "hostname", "domainname", "mounts", "hooks",
                               "annotations", "linux"}, "")
        root = _obj(data.get("root"), "root")
        self.rootfs = self.path_in_bundle(_str(root.get("path"), "root.path"), "root.path")
        if not _str(root.get("path"), "root.path"):
            raise OciError("root.path: missing")
        if not os.path.isdir(self.rootfs):
            raise OciError(f"root.path: {self.rootfs} does not exist or is not a directory")
        _refuse_unknown(root, {"path", "readonly"}, "root.")
        self.readonly_root = _bool(root.get("readonly"), "root.readonly")
        self.annotations = {k: _str(v, f"annotations.{k}") for k, v in _obj(data.get("annotations"), "annotations").items()}
        self.linux = _obj(data.get("linux"), "linux")
        if "linux" not in data:
            raise OciError("linux: missing (pyctr-runtime runs Linux containers)")
        _refuse_unknown(self.linux, {"namespaces", "uidMappings", "gidMappings", "devices", "cgroupsPath",
                                     "resources", "rootfsPropagation", "seccomp", "sysctl", "maskedPaths",
                                     "readonlyPaths", "mountLabel"}, "linux.")
        if self.linux.get("mountLabel"):
            raise OciError("linux.mountLabel: SELinux labels are not supported by pyctr-runtime")
        self._namespaces()
        self._id_maps()
        self.hostname = _str(data.get("hostname"), "hostname") if "hostname" in data else None
        self.domainname = _str(data.get("domainname"), "domainname") if "domainname" in data else None
        for field, value in (("hostname", self.hostname), ("domainname", self.domainname)):
            if value and "uts" in self.shared:
                # containerd's CRI names a host-network pod after the node: nothing to change then
                import socket

                if field == "hostname" and value == socket.gethostname():
                    self.hostname = None
                    continue
                raise OciError(f"{field}: cannot be set without a private UTS namespace")
        self.hooks = self._hooks()
        self.process_data = data.get("process")
        self.cgroups_path = _str(self.linux.get("cgroupsPath"), "linux.cgroupsPath")
        self.sysctl = self._sysctl()
        self.seccomp = self.seccomp_text(self.linux.get("seccomp"))

    # ---------------------------------------------------------------- paths

    def path_in_bundle(self, path: str, field: str) -> str:
        """An absolute path as is; a relative one inside the bundle, never out of it."""
        if os.path.isabs(path):
            return os.path.normpath(path)
        full = os.path.normpath(os.path.join(self.dir, path))
        if full != self.dir and not full.startswith(self.dir + "/"):
            raise OciError(f"{field}: {path} leads outside the bundle")
        return full

    # ----------------------------------------------------------- namespaces

    def _namespaces(self) -> None:
        self.flags = 0
        self.joins: dict[str, str] = {}
        seen = set()
        for i, ns in enumerate(_list(self.linux.get("namespaces"), "linux.namespaces")):
            ns = _obj(ns, f"linux.namespaces[{i}]")
            kind = _str(ns.get("type"), f"linux.namespaces[{i}].type")
            if kind not in NAMESPACES:
                raise OciError(f"linux.namespaces[{i}].type: unknown namespace type {kind!r}")
            if kind in seen:
                raise OciError(f"linux.namespaces: {kind} is listed twice")
            seen.add(kind)
            path = _str(ns.get("path"), f"linux.namespaces[{i}].path")
            if path:
                if not os.path.isabs(path):
                    raise OciError(f"linux.namespaces[{i}].path: {path} is not absolute")
                if not os.path.exists(path):
                    raise OciError(f"linux.namespaces[{i}].path: {path} does not exist")
                self.joins[NAMESPACES[kind]] = path
            else:
                self.flags |= linux.NAMESPACE_FLAGS[NAMESPACES[kind]]
        if "mount" not in seen:
            raise OciError("linux.namespaces: a mount namespace is required")
        self.joins = {k: self.joins[k] for k in JOIN_ORDER if k in self.joins}
        self.shared = {k for k in NAMESPACES.values() if k not in seen}
        self.own = {k for k in NAMESPACES.values() if k in seen and k not in self.joins}

    def _id_maps(self) -> None:
        self.uid_map = self._map("uidMappings")
        self.gid_map = self._map("gidMappings")
        if (self.uid_map or self.gid_map) and "user" not in self.own:
            raise OciError("linux.uidMappings: id mappings need a new user namespace (linux.namespaces has none)")
        if "user" in self.own and not (self.uid_map and self.gid_map):
            raise OciError("linux.uidMappings: a new user namespace needs uidMappings and gidMappings")

    def _map(self, key: str) -> list[tuple[int, int, int]]:
        out = []
        for i, m in enumerate(_list(self.linux.get(key), f"linux.{key}")):
            m = _obj(m, f"linux.{key}[{i}]")
            values = [_int(m.get(k), f"linux.{key}[{i}].{k}", low=0) for k in ("containerID", "hostID", "size")]
            if None in values or not values[2]:
                raise OciError(f"linux.{key}[{i}]: containerID, hostID and a non-zero size are required")
            out.append(tuple(values))
        return out  # type: ignore[return-value]

    # ---------------------------------------------------------------- hooks

    def _hooks(self) -> dict[str, list[Hook]]:
        hooks = _obj(self.data.get("hooks"), "hooks")
        _refuse_unknown(hooks, set(HOOK_KINDS), "hooks.")
        out: dict[str, list[Hook]] = {}
        for kind in HOOK_KINDS:
            for i, h in enumerate(_list(hooks.get(kind), f"hooks.{kind}")):
                where = f"hooks.{kind}[{i}]"
                h = _obj(h, where)
                path = _str(h.get("path"), f"{where}.path")
                if not path or not os.path.isabs(path):
                    raise OciError(f"{where}.path: must be an absolute path")
                timeout = _int(h.get("timeout"), f"{where}.timeout")
                if timeout is not None and timeout <= 0:
                    raise OciError(f"{where}.timeout: must be greater than zero")
                out.setdefault(kind, []).append(
                    Hook(path, _strings(h.get("args"), f"{where}.args"), _strings(h.get("env"), f"{where}.env"), timeout))
        return out

    # --------------------------------------------------------------- sysctl

    def _sysctl(self) -> dict[str, str]:
        out = {}
        for key, value in _obj(self.linux.get("sysctl"), "linux.sysctl").items():
            value = _str(value, f"linux.sysctl.{key}")
            if "/" in key or ".." in key or not key:
                raise OciError(f"linux.sysctl.{key}: not a sysctl name")
            # runc's rule: only what the container's own namespaces isolate
            if key.startswith(("kernel.msg", "kernel.sem", "kernel.shm", "fs.mqueue.")) or key in (
                    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"):
                if "ipc" in self.shared:
                    raise OciError(f"linux.sysctl.{key}: needs a private IPC namespace")
            elif key.startswith("net."):
                if "network" in self.shared:
                    raise OciError(f"linux.sysctl.{key}: needs a private network namespace")
            elif key in ("kernel.hostname", "kernel.domainname"):
                raise OciError(f"linux.sysctl.{key}: use the hostname/domainname fields")
            else:
                raise OciError(f"linux.sysctl.{key}: not a namespaced sysctl; refused")
            out[key] = value
        return out

    # -------------------------------------------------------------- seccomp

    @staticmethod
    def seccomp_text(data: Any) -> str:
        """The profile as :mod:`pyctr.runtime.seccomp` reads it, or ``unconfined``."""
        if data is None:
            return "unconfined"
        sc = _obj(data, "linux.seccomp")
        _refuse_unknown(sc, {"defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls",
                             "listenerPath", "listenerMetadata"}, "linux.seccomp.")
        if sc.get("listenerPath"):
            raise OciError("linux.seccomp.listenerPath: seccomp notify listeners are not supported")
        flags = []
        for flag in _strings(sc.get("flags"), "linux.seccomp.flags"):
            if flag not in _SECCOMP_FLAGS:
                raise OciError(f"linux.seccomp.flags: {flag} is not supported")
            flags.append(_SECCOMP_FLAGS[flag])
        if not _str(sc.get("defaultAction"), "linux.seccomp.defaultAction"):
            raise OciError("linux.seccomp.defaultAction: missing")
        profile = {k: v for k, v in sc.items() if k in ("defaultAction", "defaultErrnoRet", "architectures",
                                                         "syscalls")}
        profile["flags"] = flags
        from pyctr.core.errors import UsageError
        from pyctr.runtime import seccomp

        text = json.dumps(profile, sort_keys=True)
        try:
            seccomp.parse_text(text, "linux.seccomp")
        except UsageError as e:
            raise OciError(str(e).replace("invalid seccomp profile (linux.seccomp): ", "linux.seccomp: ")) from None
        return text

    # -------------------------------------------------------------- process

    def process(self) -> ProcessPlan:
        if self.process_data is None:
            raise OciError("process: missing")
        return process_plan(_obj(self.process_data, "process"), "process.")

    # ------------------------------------------------------------------ plan

    def plan(self, process: ProcessPlan) -> Plan:
        plan = Plan(process)
        plan.readonly_root = self.readonly_root
        plan.hostname = self.hostname
        plan.domainname = self.domainname
        plan.sysctl = self.sysctl
        plan.masked = _strings(self.linux.get("maskedPaths"), "linux.maskedPaths")
        plan.readonly = _strings(self.linux.get("readonlyPaths"), "linux.readonlyPaths")
        prop = _str(self.linux.get("rootfsPropagation"), "linux.rootfsPropagation")
        if prop and prop not in PROPAGATION:
            raise OciError(f"linux.rootfsPropagation: unknown propagation {prop!r}")
        plan.root_propagation = PROPAGATION.get(prop, 0)
        plan.mounts = self.mounts()
        plan.default_devices = not any(m.kind == "bind" and m.target == "/dev" for m in plan.mounts)
        plan.devices = self.devices()
        plan.create_container_hooks = self.hooks.get("createContainer", [])
        plan.start_container_hooks = self.hooks.get("startContainer", [])
        return plan

    def mounts(self) -> list[MountStep]:
        out = []
        for i, m in enumerate(_list(self.data.get("mounts"), "mounts")):
            where = f"mounts[{i}]"
            m = _obj(m, where)
            _refuse_unknown(m, {"destination", "type", "source", "options"}, where + ".")
            dest = _str(m.get("destination"), f"{where}.destination")
            if not dest:
                raise OciError(f"{where}.destination: missing")
            dest = "/" + dest.lstrip("/") if not dest.startswith("/") else dest
            fstype = _str(m.get("type"), f"{where}.type")
            source = _str(m.get("source"), f"{where}.source")
            flags, data, propagation = 0, [], 0
            for opt in _strings(m.get("options"), f"{where}.options"):
                if opt in PROPAGATION:
                    propagation = PROPAGATION[opt]
                elif opt in MOUNT_FLAGS:
                    clear, flag = MOUNT_FLAGS[opt]
                    flags = flags & ~flag if clear else flags | flag
                elif opt in _IGNORED_OPTIONS:
                    raise OciError(f"{where}.options: {opt} is not supported by pyctr-runtime")
                else:
                    data.append(opt)
            is_bind = fstype == "bind" or bool(flags & linux.MS_BIND)
            if is_bind:
                if not source:
                    raise OciError(f"{where}.source: a bind mount needs a source")
                source = self.path_in_bundle(source, f"{where}.source")
                out.append(MountStep(source, dest, "", flags | linux.MS_BIND, "", propagation, "bind"))
            elif fstype == "cgroup" or fstype == "cgroup2":
                out.append(MountStep(source, dest, fstype, flags, ",".join(data), propagation, "cgroup"))
            else:
                if not fstype:
                    raise OciError(f"{where}.type: missing (and the mount is not a bind)")
                out.append(MountStep(source, dest, fstype, flags, ",".join(data), propagation))
        return out

    def devices(self) -> list[Device]:
        out = []
        for i, d in enumerate(_list(self.linux.get("devices"), "linux.devices")):
            where = f"linux.devices[{i}]"
            d = _obj(d, where)
            path = _str(d.get("path"), f"{where}.path")
            kind = _str(d.get("type"), f"{where}.type")
            if not path.startswith("/dev/") or ".." in path.split("/"):
                raise OciError(f"{where}.path: {path!r} is not a path under /dev")
            if kind not in ("c", "b", "u", "p"):
                raise OciError(f"{where}.type: {kind!r} is not c, b, u or p")
            major = _int(d.get("major"), f"{where}.major", 0, low=0)
            minor = _int(d.get("minor"), f"{where}.minor", 0, low=0)
            if kind != "p" and (d.get("major") is None or d.get("minor") is None):
                raise OciError(f"{where}: major and minor are required for a {kind} device")
            mode = _int(d.get("fileMode"), f"{where}.fileMode", 0o666, low=0)
            out.append(Device(path, kind, major or 0, minor or 0, (mode or 0) & 0o7777,
                              _int(d.get("uid"), f"{where}.uid", 0, low=0) or 0,
                              _int(d.get("gid"), f"{where}.gid", 0, low=0) or 0))
        return out


def process_plan(p: dict[str, Any], where: str) -> ProcessPlan:
    """A ``process`` object (config.json's, or ``exec --process``'s) as a ProcessPlan."""
    _refuse_unknown(p, {"terminal", "consoleSize", "user", "args", "env", "cwd", "capabilities", "rlimits",
                        "noNewPrivileges", "apparmorProfile", "oomScoreAdj", "selinuxLabel", "commandLine"},
                    where)
    args = _strings(p.get("args"), f"{where}args")
    if not args:
        raise OciError(f"{where}args: must not be empty")
    env = _strings(p.get("env"), f"{where}env")
    cwd = _str(p.get("cwd"), f"{where}cwd", "/")
    if not cwd.startswith("/"):
        raise OciError(f"{where}cwd: {cwd!r} is not an absolute path")
    if p.get("apparmorProfile"):
        raise OciError(f"{where}apparmorProfile: AppArmor is not supported by pyctr-runtime")
    if p.get("selinuxLabel"):
        raise OciError(f"{where}selinuxLabel: SELinux is not supported by pyctr-runtime")
    user = _obj(p.get("user"), f"{where}user")
    _refuse_unknown(user, {"uid", "gid", "umask", "additionalGids"}, f"{where}user.")
    ident = Identity(
        uid=_int(user.get("uid"), f"{where}user.uid", 0, low=0) or 0,
        gid=_int(user.get("gid"), f"{where}user.gid", 0, low=0) or 0,
        groups=[_int(g, f"{where}user.additionalGids", low=0) for g in _list(user.get("additionalGids"),
                                                                         f"{where}user.additionalGids")],
        umask=_int(user.get("umask"), f"{where}user.umask"),
    )
    caps = _obj(p.get("capabilities"), f"{where}capabilities")
    _refuse_unknown(caps, {"bounding", "effective", "permitted", "inheritable", "ambient"}, f"{where}capabilities.")
    for key in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        setattr(ident, key, capability_mask(_strings(caps.get(key), f"{where}capabilities.{key}"),
                                            f"{where}capabilities.{key}"))
    rlimits = []
    seen = set()
    for i, r in enumerate(_list(p.get("rlimits"), f"{where}rlimits")):
        r = _obj(r, f"{where}rlimits[{i}]")
        kind = _str(r.get("type"), f"{where}rlimits[{i}].type")
        if kind not in RLIMITS:
            raise OciError(f"{where}rlimits[{i}].type: unknown rlimit {kind!r}")
        if kind in seen:
            raise OciError(f"{where}rlimits: {kind} is given twice")
        seen.add(kind)
        soft = _int(r.get("soft"), f"{where}rlimits[{i}].soft", 0, low=0) or 0
        hard = _int(r.get("hard"), f"{where}rlimits[{i}].hard", 0, low=0) or 0
        if soft > hard:
            raise OciError(f"{where}rlimits[{i}]: soft limit {soft} is above the hard limit {hard}")
        rlimits.append((RLIMITS[kind], soft, hard))
    size = None
    if p.get("consoleSize") is not None:
        cs = _obj(p.get("consoleSize"), f"{where}consoleSize")
        size = (_int(cs.get("height"), f"{where}consoleSize.height", 0, low=0) or 0,
                _int(cs.get("width"), f"{where}consoleSize.width", 0, low=0) or 0)
    oom = _int(p.get("oomScoreAdj"), f"{where}oomScoreAdj")
    if oom is not None and not -1000 <= oom <= 1000:
        raise OciError(f"{where}oomScoreAdj: {oom} is outside -1000..1000")
    plan = ProcessPlan(args, env, cwd, ident, rlimits, _bool(p.get("noNewPrivileges"), f"{where}noNewPrivileges"),
                       size, oom)
    plan.terminal = _bool(p.get("terminal"), f"{where}terminal")
    return plan


def capability_mask(names: list[str], field: str) -> int:
    """Bits of the named capabilities; those this kernel does not have are left out (runc warns
    and goes on), a name that is no capability at all is refused."""
    from pyctr.runtime.security import CAPABILITIES

    last = linux.last_cap()
    mask = 0
    for name in names:
        short = name[4:] if name.startswith("CAP_") else None
        if short is None or short not in CAPABILITIES:
            raise OciError(f"{field}: unknown capability {name!r}")
        bit = CAPABILITIES[short]
        if bit <= last:
            mask |= 1 << bit
    return mask
