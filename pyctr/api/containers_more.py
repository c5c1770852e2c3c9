"""More of ``/containers/{id}``: rename, pause, unpause, top, stats, update, prune, changes, export."""

from __future__ import annotations

import os
import time

from pyctr.api.errors import ApiError
from pyctr.api.objects import is_running, lookup
from pyctr.api.routes import route
from pyctr.core.errors import Conflict

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.api.http import Request
    from pyctr.core.container import Container
    from pyctr.core.engine import Engine


@route("POST", "/containers/{id}/rename")
def rename(req: Request, id: str) -> None:  # noqa: A002
    from pyctr.core import lifecycle

    engine = req.engine
    c = lookup(engine, id)
    name = req.arg("name")
    if not name:
        raise ApiError(400, "name is required")
    try:
        lifecycle.rename(engine, c, name)
    except Conflict as e:
        raise ApiError(409, str(e)) from None
    req.empty(204)


def _pause(req: Request, id: str, paused: bool) -> None:  # noqa: A002
    from pyctr.core import lifecycle

    engine = req.engine
    c = lookup(engine, id)
    try:
        lifecycle.set_paused(engine, c, paused)
    except Conflict as e:
        raise ApiError(409, str(e)) from None
    req.empty(204)


@route("POST", "/containers/{id}/pause")
def pause(req: Request, id: str) -> None:  # noqa: A002
    _pause(req, id, True)


@route("POST", "/containers/{id}/unpause")
def unpause(req: Request, id: str) -> None:  # noqa: A002
    _pause(req, id, False)


@route("GET", "/containers/{id}/top")
def top(req: Request, id: str) -> None:  # noqa: A002
    """``ps`` of the container's processes, as the host sees them (``ps_args``, default ``-ef``)."""
    import shlex
    import subprocess

    engine = req.engine
    c = lookup(engine, id)
    if not is_running(c):
        raise ApiError(409, f"Container {c.id} is not running")
    own_ns = os.readlink(f"/proc/{c.pid}/ns/pid")
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == own_ns:
                    pids.append(int(entry))
            except OSError:
                continue
    try:
        args = shlex.split(req.arg("ps_args") or "-ef")
    except ValueError as e:
        raise ApiError(400, f"invalid ps_args: {e}") from None
    out = subprocess.run(["ps", *args], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise ApiError(500, f"ps: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    if not lines:
        raise ApiError(500, "ps printed nothing")
    titles = lines[0].split()
    if "PID" not in titles:
        raise ApiError(500, f"couldn't find PID field in ps output for {args}")
    pid_col = titles.index("PID")
    procs = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) == len(titles) and fields[pid_col].isdigit() and int(fields[pid_col]) in pids:
            procs.append(fields)
    req.json({"Titles": titles, "Processes": procs})


def _system_cpu_ns() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))


def _networks(pid: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            for line in f.readlines()[2:]:
                name, data = line.split(":", 1)
                name = name.strip()
                if name == "lo":
                    continue
                v = [int(x) for x in data.split()]
                out[name] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                             "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}
    except (OSError, ValueError, IndexError):
        pass
    return out


def _sample(engine: Engine, c: Container) -> dict[str, Any]:
    """One of Docker's stats objects without ``precpu_stats`` (zeroes for a container not running)."""
    from pyctr.core.inspection import rfc3339

    s: dict[str, Any] = {}
    running = is_running(c) and c.runtime.get("cgroup") is not None and engine.cgroups_for(c) is not None
    if running:
        try:
            s = engine.cgroups_for(c).stats(c.runtime["cgroup"])  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001  (gone meanwhile: zeroes)
            running, s = False, {}
    cpus = len(os.sched_getaffinity(0))
    return {
        "read": rfc3339(time.time()), "name": "/" + c.name, "id": c.id, "num_procs": 0,
        "pids_stats": {"current": s.get("pids_current", 0), **({"limit": s["pids_limit"]} if s.get("pids_limit") else {})},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 0, "minor": 0, "op": "read", "value": s.get("blkio_read", 0)},
            {"major": 0, "minor": 0, "op": "write", "value": s.get("blkio_write", 0)}] if running else None,
            "io_serviced_recursive": None, "io_queue_recursive": None, "io_service_time_recursive": None,
            "io_wait_time_recursive": None, "io_merged_recursive": None, "io_time_recursive": None,
            "sectors_recursive": None},
        "storage_stats": {},
        "cpu_stats": {"cpu_usage": {"total_usage": s.get("cpu_usage_ns", 0), "usage_in_kernelmode": 0,
                                    "usage_in_usermode": 0},
                      "system_cpu_usage": _system_cpu_ns() if running else 0, "online_cpus": cpus if running else 0,
                      "throttling_data": {"periods": 0, "throttled_periods": s.get("cpu_throttled_periods", 0),
                                          "throttled_time": 0}},
        "memory_stats": {"usage": s.get("memory_usage", 0), "limit": s.get("memory_limit", 0),
                         "stats": {}} if running else {},
        "networks": _networks(c.pid) if running else {},
    }


def _zero_cpu() -> dict[str, Any]:
    return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "system_cpu_usage": 0, "online_cpus": 0,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}


@route("GET", "/containers/{id}/stats")
def stats(req: Request, id: str) -> None:  # noqa: A002
    """``stream`` (default): one object a second; ``stream=false``: one, with a second's
    ``precpu_stats`` (``one-shot``: without waiting for it)."""
    from pyctr.core.container import lookup as find
    from pyctr.core.errors import NotFound

    engine = req.engine
    c = lookup(engine, id)
    streaming = req.flag("stream", True)
    one_shot = req.flag("one-shot")
    previous = {"read": "0001-01-01T00:00:00Z", "cpu_stats": _zero_cpu()}
    if not streaming:
        if not one_shot and is_running(c):
            previous = _sample(engine, c)
            time.sleep(1.0)
        now = _sample(engine, c)
        now["preread"], now["precpu_stats"] = previous["read"], previous["cpu_stats"]
        req.json(now)
        return
    stream = req.stream()
    while True:
        now = _sample(engine, c)
        now["preread"], now["precpu_stats"] = previous["read"], previous["cpu_stats"]
        stream.json(now)
        previous = now
        if stream.gone(1.0):
            break
        try:
            c = find(engine.db, engine.config.root, c.id)
        except NotFound:
            break
    stream.close()


@route("POST", "/containers/{id}/update")
def update(req: Request, id: str) -> None:  # noqa: A002
    from pyctr.api.createbody import resource_options
    from pyctr.core import lifecycle
    from pyctr.runtime.runoptions import resources_from

    engine = req.engine
    c = lookup(engine, id)
    body = req.body_json(required=True)
    changes = resources_from(resource_options(body))
    restart = None
    if isinstance(body.get("RestartPolicy"), dict) and body["RestartPolicy"].get("Name"):
        policy = body["RestartPolicy"]
        restart = policy["Name"] + (f":{policy['MaximumRetryCount']}" if policy["Name"] == "on-failure"
                                    and policy.get("MaximumRetryCount") else "")
    lifecycle.update(engine, c, changes, restart)
    req.json({"Warnings": []})


@route("POST", "/containers/prune")
def prune(req: Request) -> None:
    from pyctr.api import filters as flt
    from pyctr.core import lifecycle
    from pyctr.core.container import list_all

    engine = req.engine
    wanted = req.filters()
    flt.check(wanted, ("label", "until"))
    until = None
    for value in wanted.get("until", []):
        try:
            until = float(value)
        except ValueError:
            raise ApiError(400, f"invalid until filter {value!r} (want a unix time)") from None
    gone = []
    reclaimed = 0
    for c in list_all(engine.db, engine.config.root):
        if is_running(c) or c.status == "restarting" or not flt.labels_match(wanted.get("label", []), c.spec.labels):
            continue
        if until is not None and c.created > until:
            continue
        size = _layer_size(engine, c)
        try:
            lifecycle.remove(engine, c, force=True)
        except Exception:  # noqa: BLE001, S112  (started meanwhile: kept)
            continue
        gone.append(c.id)
        reclaimed += size
    req.json({"ContainersDeleted": gone or None, "SpaceReclaimed": reclaimed})


def _layer_size(engine: Engine, c: Container) -> int:
    """Bytes in the container's writable layer (what removing it frees)."""
    try:
        upper = engine.storage_for(c).metadata(c.id).get("UpperDir") or ""
    except Exception:  # noqa: BLE001
        return 0
    total = 0
    for dirpath, _dirs, files in os.walk(upper):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


@route("GET", "/containers/{id}/changes")
def changes(req: Request, id: str) -> None:  # noqa: A002
    """The container's writable layer against its image: Kind 0 changed, 1 added, 2 deleted (whiteouts)."""
    engine = req.engine
    c = lookup(engine, id)
    paths = engine.storage_for(c).metadata(c.id)
    upper = paths.get("UpperDir")
    if not upper or not os.path.isdir(upper):
        raise ApiError(501, f"the {c.drivers.get('storage')} storage driver cannot tell a container's changes")
    image_dirs = [d for d in (paths.get("LowerDir") or "").split(":") if d]
    out = []
    for dirpath, dirnames, filenames in os.walk(upper):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(full, upper)
            st = os.lstat(full)
            if (st.st_mode & 0o170000) == 0o020000 and st.st_rdev == 0:  # a whiteout
                out.append({"Path": rel, "Kind": 2})
            elif any(os.path.lexists(os.path.join(lower, rel.lstrip("/"))) for lower in image_dirs):
                out.append({"Path": rel, "Kind": 0})
            else:
                out.append({"Path": rel, "Kind": 1})
    req.json(sorted(out, key=lambda e: e["Path"]) or None)
