"""A container as an OCI bundle's config.json: what ``pyctr run`` decides, spelled out.

The conmon runtime driver (:mod:`pyctr.runtime.conmon`) has conmon call
``pyctr-runtime``, as podman does, so it hands the container over as a
bundle. This module writes the Docker defaults that ``pyctr run``'s init
fills in itself (the kernel mounts, the container's /etc files, masked and
read-only paths, the 14 capabilities, the built-in seccomp profile resolved
for those capabilities) into the runtime-spec's fields, so that
``pyctr-runtime create`` turns them back into the same
:class:`~pyctr.runtime.plan.Plan` steps (``tests/unit/test_oci_bundle.py``).

Two annotations are pyctr's own, for bundles pyctr writes for itself:
:data:`CGROUP_ANNOTATION` hands over the cgroups pyctr made (the runtime
places the init in them and leaves their limits, counters and removal to
pyctr) and :data:`INIT_HOOKS_ANNOTATION` says whether a hook plugin has
anything to do in the init (when none has, pyctr-runtime loads none).
"""

from __future__ import annotations

import os

from pyctr.kernel import linux
from pyctr.runtime import child, security

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

#: the handle (JSON) of cgroups the caller made: pyctr-runtime places the init there, never removes them
CGROUP_ANNOTATION = "io.pyctr.cgroup"
#: "none": no hook plugin implements pyctr_setup_child or pyctr_start_container (nothing to load in the init)
INIT_HOOKS_ANNOTATION = "io.pyctr.init-hooks"

_NAMESPACE_TYPES = {"user": "user", "mount": "mount", "uts": "uts", "ipc": "ipc", "network": "network",
                    "pid": "pid", "cgroup": "cgroup"}


def _kernel_mounts(user_namespace: bool, own_network: bool, privileged: bool) -> list[dict[str, Any]]:
    """/proc, /dev and its pts, shm and mqueue, /sys: as ``pyctr run``'s init mounts them
    (pyctr.runtime.child.mount_dev and mount_sys)."""
    sys_options = ["nosuid", "noexec", "nodev"] + ([] if privileged else ["ro"])
    if own_network:
        sysfs = {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_options}
    else:  # sysfs belongs to a network namespace: without one of its own, the host's is bound
        sysfs = {"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", *sys_options]}
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
         + ([] if user_namespace else ["gid=5"])},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        sysfs,
    ]


def namespaces(flags: int, joins: dict[str, str]) -> list[dict[str, str]]:
    """The runtime-spec's namespaces for a launch's CLONE_NEW* ``flags`` and ``joins`` (kind -> path)."""
    out = []
    for kind, flag in linux.NAMESPACE_FLAGS.items():
        if kind in joins:
            out.append({"type": _NAMESPACE_TYPES[kind], "path": joins[kind]})
        elif flags & flag:
            out.append({"type": _NAMESPACE_TYPES[kind]})
    if not any(n["type"] == "mount" for n in out):
        out.append({"type": "mount"})
    return out


def oci_config(spec: Any, rootfs: str, container_dir: str, *, uid: int, gid: int, groups: list[int],
               flags: int | None = None, joins: dict[str, str] | None = None, cgroups_path: str = "",
               cgroup: str | None = None, init_hooks: bool = True) -> dict[str, Any]:
    """config.json for ``spec`` (a ContainerSpec whose mounts' sources are resolved).

    ``uid``/``gid``/``groups``: the user already looked up in the image (:func:`user_in`;
    a bundle has numbers only). ``flags``/``joins``: the namespaces as the launch has them
    (None: from ``spec.namespaces``). ``cgroup``: the JSON handle of cgroups the caller made
    (:data:`CGROUP_ANNOTATION`). ``init_hooks``: whether a hook plugin runs in the init."""
    if flags is None:
        flags, joins = _flags_of(spec)
    joins = joins or {}
    ns = namespaces(flags, joins)
    kinds = {n["type"] for n in ns}
    own = {n["type"] for n in ns if "path" not in n}
    caps = ["CAP_" + c for c in _available(security.capability_set(spec.cap_add, spec.cap_drop, spec.privileged))]
    effective = caps if uid == 0 else []
    annotations = {f"io.pyctr.label.{k}": v for k, v in spec.labels.items()}
    if cgroup is not None:
        annotations[CGROUP_ANNOTATION] = cgroup
    if not init_hooks:
        annotations[INIT_HOOKS_ANNOTATION] = "none"
    config: dict[str, Any] = {
        "ociVersion": "1.1.0",
        "process": {
            "terminal": bool(spec.tty),
            "user": {"uid": uid, "gid": gid, "additionalGids": list(groups)},
            "args": list(spec.argv),
            "env": list(spec.env),
            "cwd": spec.workdir or "/",
            "capabilities": {"bounding": caps, "effective": effective, "permitted": caps, "inheritable": caps},
            "noNewPrivileges": bool(spec.no_new_privileges),
        },
        "root": {"path": rootfs, "readonly": bool(spec.read_only)},
        "mounts": _kernel_mounts("user" in kinds, "network" in own, spec.privileged)
        + _etc_mounts(container_dir) + _user_mounts(spec),
        "annotations": annotations,
        "linux": {"namespaces": ns},
    }
    if spec.hostname and "uts" in own:
        config["hostname"] = spec.hostname
    if cgroups_path:
        config["linux"]["cgroupsPath"] = cgroups_path
    if not spec.privileged:
        config["linux"]["maskedPaths"] = list(child.MASKED_PATHS)
        config["linux"]["readonlyPaths"] = list(child.READONLY_PATHS)
    if spec.uid_map:
        config["linux"]["uidMappings"] = [{"containerID": a, "hostID": b, "size": n} for a, b, n in spec.uid_map]
        config["linux"]["gidMappings"] = [{"containerID": a, "hostID": b, "size": n}
                                          for a, b, n in (spec.gid_map or spec.uid_map)]
    profile = seccomp_profile(spec.seccomp, [c[4:] for c in caps], spec.privileged)
    if profile is not None:
        config["linux"]["seccomp"] = profile
    return config


def _flags_of(spec: Any) -> tuple[int, dict[str, str]]:
    flags = 0
    joins = {}
    for kind, flag in linux.NAMESPACE_FLAGS.items():
        mode = spec.namespaces.get(kind, "host" if kind == "user" and not spec.uid_map else "private")
        if mode == "private":
            flags |= flag
        elif mode.startswith("path:"):
            joins[kind] = mode[5:]
    return flags, joins


def _available(names: list[str]) -> list[str]:
    """The capabilities this kernel has and pyctr's own bounding set holds (as pyctr run's mask_of)."""
    try:
        mask = security.mask_of(names)
    except OSError:  # (no prctl here: keep them all, the runtime decides)
        return names
    return [n for n in names if mask >> security.CAPABILITIES[n] & 1]


def _etc_mounts(container_dir: str) -> list[dict[str, Any]]:
    out = []
    for name in ("hostname", "hosts", "resolv.conf"):
        source = os.path.join(container_dir, name)
        if os.path.exists(source):
            out.append({"destination": f"/etc/{name}", "type": "bind", "source": source,
                        "options": ["rbind", "rprivate"]})
    return out


def _user_mounts(spec: Any) -> list[dict[str, Any]]:
    out = []
    for m in spec.mounts:
        if m.type == "tmpfs":
            options = ["nosuid", "nodev", *m.options] + (["ro"] if m.readonly else [])
            out.append({"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": options})
            continue
        options = ["rbind", m.propagation or "rprivate"] + (["ro"] if m.readonly else [])
        out.append({"destination": m.target, "type": "bind", "source": m.source, "options": options})
    return out


def user_in(rootfs: str, user: str) -> tuple[int, int, list[int]]:
    """(uid, gid, supplementary gids) of ``user`` (name|uid[:group]) by the image's own
    /etc/passwd and /etc/group, read from the host without leaving ``rootfs``."""
    uid, gid, groups, _home = security.lookup_user(user, root=rootfs)
    return uid, gid, groups


def user_of(spec: Any, rootfs: str) -> tuple[int, int, list[int]]:
    """The container's user as ``pyctr run``'s init finds it: ``--user`` in the image, plus ``--group-add``."""
    uid, gid, groups = user_in(rootfs, spec.user)
    if getattr(spec, "group_add", None):
        groups = security.added_groups(groups, spec.group_add, gid, root=rootfs)
    return uid, gid, groups


_ACTION_NAMES = {"SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000,
                 "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000, "SCMP_ACT_LOG": 0x7FFC0000,
                 "SCMP_ACT_ALLOW": 0x7FFF0000}
_OP_NAMES = {1: "SCMP_CMP_NE", 2: "SCMP_CMP_LT", 3: "SCMP_CMP_LE", 4: "SCMP_CMP_EQ", 5: "SCMP_CMP_GE",
             6: "SCMP_CMP_GT", 7: "SCMP_CMP_MASKED_EQ"}


def _action(value: int) -> dict[str, Any]:
    base = value & 0xFFFF0000
    name = next(n for n, v in _ACTION_NAMES.items() if v == base)
    out: dict[str, Any] = {"action": name}
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        out["errnoRet"] = value & 0xFFFF
    return out


def seccomp_profile(seccomp_value: str, capabilities: list[str], privileged: bool) -> dict[str, Any] | None:
    """The spec's seccomp object for what ``--security-opt seccomp`` stored: Docker's includes
    and excludes resolved for this container's capabilities, architecture and kernel (the
    runtime-spec has no conditions)."""
    from pyctr.runtime import seccomp

    if privileged:
        return None
    profile = seccomp.load_profile(seccomp_value)
    if not profile.enabled:
        return None
    arches, calls = seccomp.select(profile, capabilities)
    default = _action(profile.default_action)
    out: dict[str, Any] = {"defaultAction": default["action"], "architectures": sorted(set(arches)),
                           "syscalls": []}
    if "errnoRet" in default:
        out["defaultErrnoRet"] = default["errnoRet"]
    if profile.flags:
        out["flags"] = ["SECCOMP_FILTER_FLAG_" + f[len("SCMP_FLAG_"):] for f in profile.flags]
    for call in calls:
        entry: dict[str, Any] = {"names": list(call.names), **_action(call.action)}
        if call.args:
            entry["args"] = [{"index": i, "op": _OP_NAMES[op], "value": v, "valueTwo": v2}
                             for i, op, v, v2 in call.args]
        out["syscalls"].append(entry)
    return out
