"""What ``pyctr info`` and ``GET /info`` report: one collection for both front ends (here, not in
core: the rootless part asks the process side, runtime.userns)."""

from __future__ import annotations

import os
import platform

from pyctr import __version__
from pyctr.core.drivers import KINDS

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.core.engine import Engine


def cgroup_layout() -> tuple[str, str]:
    """("1"|"2", layout) from statfs of /sys/fs/cgroup, as the cgroupfs driver detects it."""
    try:
        st = os.statvfs("/sys/fs/cgroup")  # statvfs has no f_type; read it from mountinfo
    except OSError:
        return "none", "none"
    del st
    fstype = ""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == "/sys/fs/cgroup":
                fstype = fields[fields.index("-") + 1]
    if fstype == "cgroup2":
        return "2", "unified"
    return "1", "hybrid" if os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers") else "legacy"


def collect_info(eng: Engine) -> dict:
    from pyctr.core.errors import PyctrError
    from pyctr.core.plugins import plugins
    from pyctr.core.selection import names as driver_names

    cfg = eng.config
    db = eng.db
    counts = {s: n for s, n in db.execute("SELECT status, count(*) FROM containers GROUP BY status")}
    storage = eng.storage
    driver_status = storage.status()
    cg_version, cg_layout = cgroup_layout()
    info = {
        "ID": "",
        "Containers": sum(counts.values()),
        "ContainersRunning": counts.get("running", 0),
        "ContainersPaused": counts.get("paused", 0),
        "ContainersStopped": sum(v for k, v in counts.items() if k not in ("running", "paused")),
        "Images": db.execute("SELECT count(*) FROM images").fetchone()[0],
        "Driver": storage.name,
        "DriverStatus": [list(x) for x in driver_status],
        "Plugins": {kind.capitalize(): driver_names(kind) for kind in KINDS},
        "CgroupDriver": cfg.cgroup_manager or "cgroupfs",
        "CgroupVersion": cg_version,
        "CgroupLayout": cg_layout,
        "KernelVersion": platform.release(),
        "OperatingSystem": _os_name(),
        "OSType": "linux",
        "Architecture": platform.machine(),
        "NCPU": os.cpu_count(),
        "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "DockerRootDir": str(cfg.root),
        "RunRoot": str(cfg.runroot),
        "ServerVersion": __version__,
        "DefaultRuntime": _default_runtime(eng),
        "SecurityOptions": ["name=seccomp,profile=default"],
        "HookPlugins": [name for name, _, _ in plugins.list()],
        "InsecureRegistries": list(cfg.insecure_registries),
    }
    try:
        extra = plugins.report_status()
    except PyctrError as e:
        extra = [("Plugin status", str(e))]
    info["PluginStatus"] = [list(x) for x in extra]
    from pyctr.core import rootless

    info["Rootless"] = rootless.active()
    if info["Rootless"]:
        from pyctr.runtime import userns

        info["RootlessStatus"] = [list(x) for x in userns.describe()]
    return info


def _default_runtime(eng: Engine) -> str:
    """The runtime driver a new container gets: the configured one, else the first workable by
    priority (conmon where it is installed and pyctr is not rootless, else pyctr's own)."""
    from pyctr.core.errors import PyctrError

    try:
        return eng.driver("runtime", eng.config.runtime).name
    except PyctrError as e:
        return f"none ({e})"


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"
