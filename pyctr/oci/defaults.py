"""``spec`` (a default config.json, runc's) and ``features`` (runtime-spec features.md)."""

from __future__ import annotations

import json
import os
import sys

from pyctr.oci.common import VERSION_SPEC, OciError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def default_spec(rootless: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ociVersion": VERSION_SPEC,
        "process": {
            "terminal": True, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(_CAPS) for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "pyctr",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                            "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }
    if rootless:
        uid, gid = os.geteuid(), os.getegid()
        spec["linux"]["namespaces"].append({"type": "user"})
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": uid, "size": 1}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": gid, "size": 1}]
        del spec["linux"]["resources"]
        spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/sys/fs/cgroup"]
    return spec


def spec_command(opts: dict[str, Any]) -> int:
    bundle = opts.get("bundle") or "."
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise OciError(f"File {path} exists. Remove it first")
    text = json.dumps(default_spec(bool(opts.get("rootless"))), indent="\t")
    try:
        with open(path, "x") as f:
            f.write(text + "\n")
    except OSError as e:
        raise OciError(f"{path}: {e.strerror}") from None
    return 0


def features() -> dict[str, Any]:
    from pyctr.oci import config
    from pyctr.runtime import seccomp

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": VERSION_SPEC,
        "hooks": list(config.HOOK_KINDS),
        "mountOptions": sorted(set(config.MOUNT_FLAGS) | set(config.PROPAGATION)),
        "linux": {
            "namespaces": sorted(config.NAMESPACES),
            "capabilities": sorted("CAP_" + c for c in _capabilities()),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {
                "enabled": True,
                "actions": sorted(a for a in seccomp._ACTIONS if a != "SCMP_ACT_NOTIFY"),
                "operators": sorted(seccomp._OPS),
                "archs": sorted({arch for _go, arch in seccomp._MACHINES.values()}),
                "knownFlags": sorted(config._SECCOMP_FLAGS),
                "supportedFlags": sorted(config._SECCOMP_FLAGS),
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runtime-spec.features.pyctr": "1"},
    }


def _capabilities() -> list[str]:
    from pyctr.kernel import linux
    from pyctr.runtime.security import CAPABILITIES

    last = linux.last_cap()
    return [name for name, bit in CAPABILITIES.items() if bit <= last]


def features_command() -> int:
    sys.stdout.write(json.dumps(features(), indent="    ") + "\n")
    return 0
