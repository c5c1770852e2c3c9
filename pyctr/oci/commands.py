"""The short subcommands: start, state, kill, delete, ps, list, pause/resume, update, events.

Messages follow runc's words where callers match them: "does not exist"
(podman and containerd take it for "gone"), "container not running",
"cannot delete container X that is not stopped: running".
"""

from __future__ import annotations

import json
import os
import sys
import time

from pyctr.oci.common import Globals, OciError
from pyctr.oci.state import Container, all_ids

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
           "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16,
           "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24,
           "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31}


def parse_signal(text: str) -> int:
    """A number, or a name with or without SIG (``TERM``, ``SIGKILL``, ``RTMIN+3``)."""
    if text.isdigit():
        n = int(text)
        if 0 < n < 65:
            return n
    name = text.upper()
    name = name[3:] if name.startswith("SIG") else name
    if name in SIGNALS:
        return SIGNALS[name]
    if name.startswith("RTMIN") or name.startswith("RTMAX"):
        import signal

        base = signal.SIGRTMIN if name.startswith("RTMIN") else signal.SIGRTMAX
        off = name[5:]
        if not off:
            return int(base)
        if off[0] in "+-" and off[1:].isdigit():
            return int(base) + int(off)
    raise OciError(f"invalid signal: {text}")


def start(glob: Globals, cid: str) -> int:
    c = Container.load(glob.root, cid)
    status = c.status()
    if status == "stopped":
        raise OciError("cannot start a container that has stopped")
    if status != "created":
        raise OciError(f"cannot start an already {status} container")
    _open_fifo(c)
    c.data["started"] = True
    c.save()
    if ((c.data.get("config") or {}).get("hooks") or {}).get("poststart"):
        from pyctr.oci import hooks

        hooks.run_all(c.data["config"], "poststart", c.hook_state("running"), warn_only=True)
    return 0


def _open_fifo(c: Container) -> None:
    """Let the init blocked on the exec fifo go on (shared with the conmon runtime driver)."""
    from pyctr.runtime import execfifo

    try:
        execfifo.release(c.fifo, c.alive)
    except execfifo.StartFailure as e:
        raise OciError(str(e)) from None


def state(glob: Globals, cid: str) -> int:
    c = Container.load(glob.root, cid, lock=False)
    sys.stdout.write(json.dumps(c.oci_state(), indent="  ") + "\n")
    return 0


def kill(glob: Globals, cid: str, sig: str, all_processes: bool) -> int:
    signum = parse_signal(sig)
    c = Container.load(glob.root, cid, lock=False)
    status = c.status()
    if all_processes:
        # also after the init exited (no PID namespace of its own: what it left in the cgroup)
        pids = _cgroup_pids(glob, c)
        if status != "stopped":
            pids = [c.pid] + [p for p in pids if p != c.pid]
        for pid in pids:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
        return 0
    if status == "stopped":
        raise OciError("container not running")
    try:
        os.kill(c.pid, signum)
    except ProcessLookupError:
        raise OciError("container not running") from None
    return 0


def _cgroup_pids(glob: Globals, c: Container) -> list[int]:
    handle = c.data.get("cgroup")
    if not handle:
        return []
    from pyctr.oci import cgroups

    try:
        return list(cgroups.driver(glob).pids(handle))
    except Exception:  # noqa: BLE001  (the cgroup may be gone already)
        return []


def delete(glob: Globals, cid: str, force: bool) -> int:
    try:
        c = Container.load(glob.root, cid)
    except OciError as e:
        if force and "does not exist" in str(e):
            return 0
        raise
    status = c.status()
    if status in ("running", "paused") and not force:
        raise OciError(f"cannot delete container {cid} that is not stopped: {status}")
    if status != "stopped":
        _kill_and_wait(c)
    destroy(glob, c)
    return 0


def _kill_and_wait(c: Container) -> None:
    """SIGKILL the init (thawed first, or it cannot die) and wait until it is gone or a zombie
    (its parent, the caller, reaps it)."""
    import signal

    if c.frozen():
        try:
            from pyctr.oci import cgroups

            cgroups.driver(_globals_of(c)).thaw(c.data["cgroup"])
        except Exception:  # noqa: BLE001, S110
            pass
    try:
        os.kill(c.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while c.alive() and time.monotonic() < deadline:
        try:  # our own child (run): reap it
            os.waitpid(c.pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.002)


def _globals_of(c: Container) -> Globals:
    return Globals({"root": c.root})


def destroy(glob: Globals, c: Container) -> None:
    """Kill what is left in the cgroup, remove it, run poststop, remove the state."""
    handle = c.data.get("cgroup")
    if handle and not c.data.get("cgroup_adopted"):  # (adopted: the caller's to remove)
        from pyctr.oci import cgroups

        drv = cgroups.driver(glob)
        drv.destroy(handle)
    if ((c.data.get("config") or {}).get("hooks") or {}).get("poststop"):
        from pyctr.oci import hooks

        hooks.run_all(c.data["config"], "poststop", c.hook_state("stopped"), warn_only=True)
    c.remove()


def ps(glob: Globals, cid: str, fmt: str, ps_args: list[str]) -> int:
    c = Container.load(glob.root, cid, lock=False)
    pids = _cgroup_pids(glob, c)
    if fmt == "json":
        sys.stdout.write(json.dumps(pids) + "\n")
        return 0
    if fmt != "table":
        raise OciError(f"invalid format option: {fmt}")
    import subprocess

    out = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise OciError(out.stderr.strip() or "ps failed")
    lines = out.stdout.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    col = header.index("PID") if "PID" in header else None
    if col is None:
        raise OciError("couldn't find PID field in ps output")
    sys.stdout.write(lines[0] + "\n")
    wanted = set(pids)
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in wanted:
            sys.stdout.write(line + "\n")
    return 0


def list_containers(glob: Globals, fmt: str, quiet: bool) -> int:
    states = []
    for cid in all_ids(glob.root):
        try:
            states.append(Container.load(glob.root, cid, lock=False).oci_state())
        except OciError:
            continue
    if quiet:
        sys.stdout.write("".join(s["id"] + "\n" for s in states))
    elif fmt == "json":
        sys.stdout.write(json.dumps(states) + "\n")
    else:
        sys.stdout.write("ID          PID         STATUS      BUNDLE         CREATED                          OWNER\n")
        for s in states:
            sys.stdout.write(f"{s['id']:<11} {s['pid']:<11} {s['status']:<11} {s['bundle']:<14} "
                             f"{s['created']:<32} root\n")
    return 0


def pause(glob: Globals, cid: str, freeze: bool) -> int:
    c = Container.load(glob.root, cid)
    status = c.status()
    if freeze and status not in ("running", "created"):
        raise OciError("container not running")
    if not freeze and status != "paused":
        raise OciError("container not paused")
    from pyctr.oci import cgroups

    drv = cgroups.driver(glob)
    (drv.freeze if freeze else drv.thaw)(c.data["cgroup"])
    return 0


def update(glob: Globals, cid: str, opts: dict[str, Any]) -> int:
    c = Container.load(glob.root, cid)
    if c.status() == "stopped":
        raise OciError("container not running")
    from pyctr.oci import cgroups

    data: dict[str, Any] = {}
    if opts.get("resources"):
        path = opts["resources"]
        try:
            text = sys.stdin.read() if path == "-" else open(path).read()
            data = json.loads(text)
        except (OSError, ValueError) as e:
            raise OciError(f"--resources: {e}") from None
    for flag, group, field in (("memory", "memory", "limit"), ("memory-swap", "memory", "swap"),
                               ("memory-reservation", "memory", "reservation"), ("cpu-shares", "cpu", "shares"),
                               ("cpu-quota", "cpu", "quota"), ("cpu-period", "cpu", "period"),
                               ("pids-limit", "pids", "limit"), ("blkio-weight", "blockIO", "weight")):
        if opts.get(flag):
            try:
                data.setdefault(group, {})[field] = int(opts[flag])
            except ValueError:
                raise OciError(f"invalid value for --{flag}: {opts[flag]}") from None
    for flag, field in (("cpuset-cpus", "cpus"), ("cpuset-mems", "mems")):
        if opts.get(flag):
            data.setdefault("cpu", {})[field] = opts[flag]
    res = cgroups.resources(data, update=True)
    res.pop("devices", None)  # runc does not change device rules on update either
    if res:
        from pyctr.core.errors import PyctrError

        try:
            cgroups.driver(glob).update(c.data["cgroup"], res)
        except PyctrError as e:
            raise OciError(str(e)) from None
    return 0


def events(glob: Globals, cid: str, stats_once: bool, interval: str) -> int:
    """runc's events: one ``stats`` event, or one every ``--interval`` until the container stops."""
    c = Container.load(glob.root, cid, lock=False)
    if c.status() == "stopped":
        raise OciError("container not running")
    seconds = _duration(interval)
    from pyctr.oci import cgroups

    drv = cgroups.driver(glob)
    last_oom = None
    while True:
        try:
            stats = drv.stats(c.data["cgroup"])
            oom = drv.oom_events(c.data["cgroup"]).get("oom_kill", 0)
        except Exception:  # noqa: BLE001  (the cgroup went with the container)
            return 0
        if last_oom is not None and oom > last_oom:
            sys.stdout.write(json.dumps({"type": "oom", "id": cid}) + "\n")
        last_oom = oom
        sys.stdout.write(json.dumps({"type": "stats", "id": cid, "data": runc_stats(stats)}) + "\n")
        sys.stdout.flush()
        if stats_once:
            return 0
        time.sleep(seconds)
        if not c.alive():
            return 0


def runc_stats(s: dict[str, int]) -> dict[str, Any]:
    """pyctr's counters in runc's ``types.Stats`` shape."""
    return {
        "cpu": {"usage": {"total": s.get("cpu_usage_ns", 0)},
                "throttling": {"throttledPeriods": s.get("cpu_throttled_periods", 0)}},
        "memory": {"usage": {"usage": s.get("memory_usage", 0), "limit": s.get("memory_limit", 0)}},
        "pids": {"current": s.get("pids_current", 0), "limit": s.get("pids_limit", 0)},
        "blkio": {"ioServiceBytesRecursive": [{"op": "Read", "value": s.get("blkio_read", 0)},
                                              {"op": "Write", "value": s.get("blkio_write", 0)}]},
    }


def _duration(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(text[: -len(suffix)]) * units[suffix]
    raise OciError(f"invalid --interval: {text}")
