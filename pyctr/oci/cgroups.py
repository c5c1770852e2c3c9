"""linux.resources and linux.cgroupsPath through pyctr's cgroup drivers.

``cgroupsPath`` is a path (absolute from each hierarchy's root, or relative
to the cgroup the runtime runs in, as runc's cgroupfs manager reads it; empty
means ``<id>`` below our own) or systemd's ``slice:prefix:name``, which is
placed where systemd would put it (``a-b.slice`` is ``a.slice/a-b.slice``,
the unit ``prefix-name.scope``). ``--systemd-cgroup`` asks for a cgroup
driver named ``systemd``; without one it is refused in one line.
"""

from __future__ import annotations

from pathlib import Path

from pyctr.oci.common import Globals, OciError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


def driver(glob: Globals) -> Any:
    from pyctr.core import selection
    from pyctr.core.drivers import DriverContext
    from pyctr.core.errors import PyctrError

    name = "systemd" if glob.systemd_cgroup else "cgroupfs"
    ctx = DriverContext(root=Path(glob.root), runroot=Path(glob.root))
    try:
        # by name through pyctr's entry-point index, without registering it with pluggy
        # (no hook of a cgroup driver runs in pyctr-runtime; pluggy costs a start ~10 ms)
        cls = selection.driver_class("cgroup", name)
        cls.probe(ctx)
        return cls(ctx)
    except PyctrError as e:
        if glob.systemd_cgroup:
            raise OciError("--systemd-cgroup: no systemd cgroup driver is installed "
                           f"(pyctr has cgroupfs; drop the flag): {e}") from None
        raise OciError(f"cgroup driver {name}: {e}") from None


def path_for(cgroups_path: str, cid: str) -> str:
    """The cgroup path to create: absolute, or relative to the runtime's own cgroup."""
    if not cgroups_path:
        return cid
    if cgroups_path.count(":") == 2 and not cgroups_path.startswith("/"):
        slice_, prefix, name = cgroups_path.split(":")
        return systemd_path(slice_ or "system.slice", prefix, name or cid)
    if "\0" in cgroups_path or ".." in cgroups_path.split("/"):
        raise OciError(f"linux.cgroupsPath: {cgroups_path!r} is not a cgroup path")
    return cgroups_path


def systemd_path(slice_: str, prefix: str, name: str) -> str:
    """Where systemd puts unit ``prefix-name.scope`` of ``slice_`` (systemd's slice expansion)."""
    if not slice_.endswith(".slice") or "/" in slice_:
        raise OciError(f"linux.cgroupsPath: {slice_!r} is not a systemd slice")
    parts = []
    if slice_ != "-.slice":
        stem = slice_[: -len(".slice")]
        words = stem.split("-")
        if "" in words:
            raise OciError(f"linux.cgroupsPath: {slice_!r} is not a valid slice name")
        parts = ["-".join(words[: i + 1]) + ".slice" for i in range(len(words))]
    unit = name if name.endswith(".slice") else (f"{prefix}-{name}.scope" if prefix else f"{name}.scope")
    return "/" + "/".join(parts + [unit])


#: OCI field -> pyctr key, for the plain numbers
_SIMPLE = (
    ("memory", "limit", "memory"), ("memory", "reservation", "memory_reservation"),
    ("memory", "swap", "memory_swap"), ("memory", "kernel", "kernel_memory"),
    ("cpu", "shares", "cpu_shares"), ("cpu", "quota", "cpu_quota"), ("cpu", "period", "cpu_period"),
)
_KNOWN = {
    "memory": {"limit", "reservation", "swap", "kernel", "disableOOMKiller", "useHierarchy"},
    "cpu": {"shares", "quota", "period", "cpus", "mems"},
    "pids": {"limit"},
    "blockIO": {"weight"},
}


def resources(data: Any, *, update: bool = False) -> dict[str, Any]:
    """OCI ``LinuxResources`` as the cgroup driver's keys; anything else is refused by name."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise OciError("linux.resources: must be an object")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "devices":
            continue
        if key not in _KNOWN:
            if value not in (None, [], {}, 0):
                raise OciError(f"linux.resources.{key}: not supported by pyctr-runtime")
            continue
        if not isinstance(value, dict):
            raise OciError(f"linux.resources.{key}: must be an object")
        for sub, v in value.items():
            if sub not in _KNOWN[key] and v not in (None, 0, "", False):
                raise OciError(f"linux.resources.{key}.{sub}: not supported by pyctr-runtime")
    for group, field, name in _SIMPLE:
        v = (data.get(group) or {}).get(field)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int):
            raise OciError(f"linux.resources.{group}.{field}: must be an integer")
        if v == -1 and field in ("limit", "swap"):
            v = -1
        out[name] = v
    memory = data.get("memory") or {}
    if memory.get("disableOOMKiller") is not None:
        if not isinstance(memory["disableOOMKiller"], bool):
            raise OciError("linux.resources.memory.disableOOMKiller: must be true or false")
        if memory["disableOOMKiller"]:
            out["oom_kill_disable"] = True
    if "memory" in out and "memory_swap" not in out and not update:
        out["memory_swap"] = -1  # runc writes no swap limit (Docker's 2x default is the CLI's)
    cpu = data.get("cpu") or {}
    for field, name in (("cpus", "cpuset_cpus"), ("mems", "cpuset_mems")):
        if cpu.get(field):
            if not isinstance(cpu[field], str):
                raise OciError(f"linux.resources.cpu.{field}: must be a string")
            out[name] = cpu[field]
    pids = (data.get("pids") or {}).get("limit")
    if pids is not None:
        if isinstance(pids, bool) or not isinstance(pids, int):
            raise OciError("linux.resources.pids.limit: must be an integer")
        out["pids_limit"] = pids if pids > 0 else -1
    weight = (data.get("blockIO") or {}).get("weight")
    if weight:
        out["blkio_weight"] = weight
    devices = data.get("devices")
    if devices:
        if not isinstance(devices, list):
            raise OciError("linux.resources.devices: must be an array")
        rules = []
        for i, d in enumerate(devices):
            if not isinstance(d, dict) or not isinstance(d.get("allow"), bool):
                raise OciError(f"linux.resources.devices[{i}]: an object with allow: true|false is needed")
            rules.append({"allow": d["allow"], "type": d.get("type") or "a", "major": d.get("major"),
                          "minor": d.get("minor"), "access": d.get("access") or "rwm"})
        out["devices"] = rules
    return out


#: runc's AllowedDevices: appended after the bundle's own rules, so the default device
#: nodes (and mknod of any node) work whatever the bundle denied
_ALLOWED = [("c", None, None, "m"), ("b", None, None, "m"), ("c", 1, 3, "rwm"), ("c", 1, 8, "rwm"),
            ("c", 1, 7, "rwm"), ("c", 5, 0, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 9, "rwm"), ("c", 5, 1, "rwm"),
            ("c", 136, None, "rwm"), ("c", 5, 2, "rwm"), ("c", 10, 200, "rwm")]


def with_default_devices(res: dict[str, Any], devices: list[Any]) -> dict[str, Any]:
    """The bundle's device rules, then an allow rule per default device and per ``linux.devices`` node."""
    if "devices" not in res:
        return res
    rules = list(res["devices"])
    rules += [{"allow": True, "type": t, "major": a, "minor": b, "access": acc} for t, a, b, acc in _ALLOWED]
    rules += [{"allow": True, "type": "b" if d.type == "b" else "c", "major": d.major, "minor": d.minor,
               "access": "rwm"} for d in devices if d.type != "p"]
    return dict(res, devices=rules)


def create(glob: Globals, cid: str, cgroups_path: str, res: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(driver, handle) of the container's new cgroup, limits written."""
    from pyctr.core.errors import PyctrError

    drv = driver(glob)
    at = path_for(cgroups_path, cid)
    create_at = getattr(drv, "create_at", None)
    if create_at is None:
        raise OciError(f"linux.cgroupsPath: the {drv.name} cgroup driver cannot place a cgroup at a given path")
    try:
        return drv, create_at(cid, at, res)
    except PyctrError as e:
        raise OciError(f"linux.resources: {e}") from None
