"""A container as an OCI bundle's config.json: what ``pyctr run`` decides, spelled out.

The conmon path (a runtime driver that has conmon call ``pyctr-runtime``, as
podman does) hands a container to the OCI front end as a bundle. This module
writes Docker's defaults that the init otherwise fills in itself (the kernel
mounts, the container's /etc files, masked and read-only paths, the 14
capabilities, the built-in seccomp profile resolved for those capabilities)
into the runtime-spec's fields, so that ``pyctr-runtime create`` turns them
back into the same :class:`~pyctr.runtime.plan.Plan` steps.

Work in progress (branch ``oci-conmon``): not yet called by any driver.
"""

from __future__ import annotations

import os
from typing import Any

from pyctr.runtime import child, security

_DEV_MOUNTS = [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
]
_NAMESPACE_TYPES = {"user": "user", "mount": "mount", "uts": "uts", "ipc": "ipc", "network": "network",
                    "pid": "pid", "cgroup": "cgroup"}


def oci_config(spec: Any, rootfs: str, container_dir: str, *, uid: int, gid: int, groups: list[int],
               cgroups_path: str = "") -> dict[str, Any]:
    """config.json for ``spec`` (a ContainerSpec whose mounts' sources are resolved).

    ``uid``/``gid``/``groups`` are the user already looked up in the image
    (the bundle has numbers only)."""
    caps = ["CAP_" + c for c in security.capability_set(spec.cap_add, spec.cap_drop, spec.privileged)]
    effective = caps if uid == 0 else []
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
        "hostname": spec.hostname or "",
        "mounts": [dict(m) for m in _DEV_MOUNTS] + _etc_mounts(container_dir) + _user_mounts(spec),
        "annotations": {f"io.pyctr.label.{k}": v for k, v in spec.labels.items()},
        "linux": {"namespaces": _namespaces(spec), "cgroupsPath": cgroups_path},
    }
    if spec.privileged:
        config["mounts"] = [m if m["type"] != "sysfs" else dict(m, options=["nosuid", "noexec", "nodev"])
                            for m in config["mounts"]]
    else:
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


def _namespaces(spec: Any) -> list[dict[str, str]]:
    out = []
    for kind in ("pid", "network", "ipc", "uts", "mount", "cgroup", "user"):
        mode = spec.namespaces.get(kind, "host" if kind == "user" and not spec.uid_map else "private")
        if mode == "private":
            out.append({"type": _NAMESPACE_TYPES[kind]})
        elif mode.startswith("path:"):
            out.append({"type": _NAMESPACE_TYPES[kind], "path": mode[5:]})
    if not any(n["type"] == "mount" for n in out):
        out.append({"type": "mount"})
    return out


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
