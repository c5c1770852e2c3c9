"""cgroup v1 backend: one directory per controller hierarchy.

Every hierarchy has its own notion of "the cgroup this process runs in"
(``/proc/self/cgroup``), so the default placement is computed per hierarchy.
Limits follow runc's libcontainer/cgroups/fs: memory and memsw written in the
order the kernel accepts, cpuset copied from the parent, freezer used to stop
fork races while killing.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyctr.core.errors import Conflict, DriverError, DriverNotSupported, UsageError
from pyctr.plugins.cgroupfs import common as c
from pyctr.plugins.cgroupfs.resources import cpu_quota_period, validate

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

#: the controllers pyctr places containers in (when the host mounts them)
CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer", "devices")
UNLIMITED = -1


class V1Backend:
    version = 1

    def __init__(self, records: c.Records | None = None, default_parent: str = "") -> None:
        self.records = records
        self.default_parent = c.clean_relative(default_parent, what="cgroupfs parent option")
        own = c.own_cgroups()
        #: controller -> (mountpoint, our own cgroup relative to that hierarchy's root)
        self.hier: dict[str, tuple[Path, str]] = {}
        for fstype, root, point, opts in c.cgroup_mounts():
            if fstype != "cgroup":
                continue
            ctrls = [x for x in CONTROLLERS if x in opts]
            if not ctrls or ctrls[0] in self.hier:
                continue
            mine = next((p for k, p in own.items() if k and set(ctrls) <= set(k.split(","))), None)
            if mine is None:
                continue
            # inside a cgroup namespace or bind mount the mount's root is not "/"
            if root != "/" and (mine == root or mine.startswith(root + "/")):
                mine = mine[len(root) :]
            for x in ctrls:
                self.hier[x] = (point, c.clean_relative(mine))
        if not self.hier:
            raise DriverNotSupported("no cgroup v1 controller hierarchy is mounted under /sys/fs/cgroup")

    def own_procs_file(self) -> Path:
        """cgroup.procs of the cgroup this process runs in (one hierarchy is enough)."""
        point, mine = next(iter(self.hier.values()))
        return c.under(point, mine) / "cgroup.procs"

    # ----------------------------------------------------------------- paths

    def _parent_rel(self, ctrl: str, parent: str | None) -> str:
        mine = self.hier[ctrl][1]
        if parent is None or parent == "":
            return "/".join(p for p in (mine, self.default_parent) if p)
        text = parent
        # an absolute path under the cgroup fs: /sys/fs/cgroup/<any hierarchy>/x
        for p2, _m in self.hier.values():
            if text.startswith(str(p2) + "/"):
                text = text[len(str(p2)) :]
                break
        return c.clean_relative(text)

    def parent_dirs(self) -> dict[str, Path]:
        """Where containers without --cgroup-parent go, per controller."""
        return {ctrl: c.under(point, self._parent_rel(ctrl, None)) for ctrl, (point, _m) in self.hier.items()}

    def paths(self, container_id: str, parent: str | None, at: str | None = None) -> dict[str, str]:
        c.check_container_id(container_id)
        out = {}
        for ctrl, (point, mine) in self.hier.items():
            if at is not None:  # exactly there: absolute from the hierarchy's root, or below our own
                rel = c.clean_relative(at, what="cgroup path") if at.startswith("/") else \
                    "/".join(x for x in (mine, c.clean_relative(at, what="cgroup path")) if x)
                out[ctrl] = str(c.under(point, rel))
                continue
            rel = self._parent_rel(ctrl, parent)
            out[ctrl] = str(c.under(point, "/".join(x for x in (rel, c.PREFIX + container_id) if x)))
        return out

    @staticmethod
    def _unique(handle: dict[str, Any]) -> list[Path]:
        seen: list[Path] = []
        for p in handle.get("paths", {}).values():
            if Path(p) not in seen:
                seen.append(Path(p))
        return seen

    @staticmethod
    def _path(handle: dict[str, Any], ctrl: str) -> Path | None:
        p = handle.get("paths", {}).get(ctrl)
        return Path(p) if p else None

    def _need(self, handle: dict[str, Any], ctrl: str, flag: str) -> Path:
        p = self._path(handle, ctrl)
        if p is None:
            raise DriverNotSupported(f"{flag} needs the cgroup v1 {ctrl} controller, which is not mounted")
        return p

    # ---------------------------------------------------------------- create

    def _validate(self, resources: dict[str, Any], parent_paths: dict[str, Path], update: bool) -> dict[str, Any]:
        cpus = mems = None
        cs = parent_paths.get("cpuset")
        if cs is not None:
            anc = _existing(cs)
            cpus = c.read(anc / "cpuset.effective_cpus", "") or c.read(anc / "cpuset.cpus", "") or None
            mems = c.read(anc / "cpuset.effective_mems", "") or c.read(anc / "cpuset.mems", "") or None
        res = validate(resources, ncpus=os.cpu_count() or 1, cpus_available=cpus or c.online_cpus(),
                       mems_available=mems, default_swap=not update)
        mem = parent_paths.get("memory")
        explicit_swap = resources.get("memory_swap") not in (None, 0, -1)
        if mem is not None:
            anc = _existing(mem)
            if "kernel_memory" in res and not (anc / "memory.kmem.limit_in_bytes").exists():
                raise DriverNotSupported("--kernel-memory is not supported: this kernel has no memory.kmem.limit_in_bytes")
            if "memory_swap" in res and not (anc / "memory.memsw.limit_in_bytes").exists():
                if explicit_swap:
                    raise DriverNotSupported("--memory-swap is not supported: this kernel has no swap accounting (memory.memsw.limit_in_bytes)")
                del res["memory_swap"]  # Docker: "memory limited without swap"
        return res

    def create(self, container_id: str, parent: str | None, resources: dict[str, Any],
               at: str | None = None) -> dict[str, Any]:
        paths = self.paths(container_id, parent, at)
        res = self._validate(resources, {k: Path(v).parent for k, v in paths.items()}, update=False)
        for key, ctrl in (("memory", "memory"), ("nano_cpus", "cpu"), ("cpu_shares", "cpu"),
                          ("cpu_quota", "cpu"), ("pids_limit", "pids"), ("cpuset_cpus", "cpuset"),
                          ("blkio_weight", "blkio"), ("oom_kill_disable", "memory")):
            if key in res and ctrl not in paths:
                raise DriverNotSupported(f"{key} needs the cgroup v1 {ctrl} controller, which is not mounted")
        for p in paths.values():
            if Path(p).exists():  # never adopt (and on failure remove) someone else's cgroup
                raise Conflict(f"cgroup {p} already exists")
        handle = {"driver": "cgroupfs", "version": 1, "id": container_id, "paths": paths}
        if self.records is not None:
            self.records.save(container_id, handle)
        try:
            for ctrl, p in paths.items():
                _mkdirs(Path(p), cpuset=(ctrl == "cpuset"))
            self._apply(handle, res, update=False)
        except BaseException:
            self.destroy(handle)
            raise
        return handle

    # ---------------------------------------------------------------- limits

    def _apply(self, handle: dict[str, Any], res: dict[str, Any], update: bool) -> None:
        if any(k in res for k in ("memory", "memory_swap", "memory_reservation", "kernel_memory", "oom_kill_disable")):
            self._apply_memory(self._need(handle, "memory", "--memory"), res, update)
        quota, period = cpu_quota_period(res)
        if "cpu_shares" in res or quota is not None or period is not None:
            cpu = self._need(handle, "cpu", "--cpus/--cpu-*")
            if "cpu_shares" in res:
                c.write(cpu / "cpu.shares", res["cpu_shares"], what="--cpu-shares")
            if period is not None:
                c.write(cpu / "cpu.cfs_period_us", period, what="--cpu-period")
            if quota is not None:
                c.write(cpu / "cpu.cfs_quota_us", quota, what="--cpu-quota")
        if "cpuset_cpus" in res:
            c.write(self._need(handle, "cpuset", "--cpuset-cpus") / "cpuset.cpus", res["cpuset_cpus"], what="--cpuset-cpus")
        if "cpuset_mems" in res:
            c.write(self._need(handle, "cpuset", "--cpuset-mems") / "cpuset.mems", res["cpuset_mems"], what="--cpuset-mems")
        if "pids_limit" in res:
            v = res["pids_limit"]
            c.write(self._need(handle, "pids", "--pids-limit") / "pids.max", "max" if v < 0 else v, what="--pids-limit")
        if "devices" in res:
            dev = self._need(handle, "devices", "device rules")
            for rule in res["devices"]:
                verb, _, text = rule.partition(" ")
                c.write(dev / f"devices.{verb}", text, what=f"device rule {rule!r}")
        if "blkio_weight" in res:
            blk = self._need(handle, "blkio", "--blkio-weight")
            for name in ("blkio.weight", "blkio.bfq.weight"):
                if (blk / name).exists():
                    c.write(blk / name, res["blkio_weight"], what="--blkio-weight")
                    break
            else:
                raise DriverNotSupported("--blkio-weight is not supported: no blkio.weight or blkio.bfq.weight (no CFQ/BFQ scheduler)")

    def _apply_memory(self, mem: Path, res: dict[str, Any], update: bool) -> None:
        limit, swap = res.get("memory", 0), res.get("memory_swap", 0)
        if limit == UNLIMITED and swap == 0:
            swap = UNLIMITED  # runc: unlimited memory implies unlimited swap
        memsw = mem / "memory.memsw.limit_in_bytes"
        if update and limit > 0 and swap == 0 and memsw.exists():
            cur_sw = c.read_int(memsw, -1)
            if 0 < cur_sw < limit and cur_sw < (1 << 62):
                raise UsageError(
                    "Memory limit should be smaller than already set memoryswap limit, "
                    "update the memoryswap at the same time"
                )
        if limit and swap:
            cur = c.read_int(mem / "memory.limit_in_bytes", -1)
            # the kernel requires memory <= memsw at every step: order the writes
            if swap == UNLIMITED or cur < swap:
                c.write(memsw, swap, what="--memory-swap")
                c.write(mem / "memory.limit_in_bytes", limit, what="--memory")
            else:
                c.write(mem / "memory.limit_in_bytes", limit, what="--memory")
                c.write(memsw, swap, what="--memory-swap")
        elif limit:
            c.write(mem / "memory.limit_in_bytes", limit, what="--memory")
        elif swap:
            c.write(memsw, swap, what="--memory-swap")
        if "memory_reservation" in res:
            c.write(mem / "memory.soft_limit_in_bytes", res["memory_reservation"], what="--memory-reservation")
        if "kernel_memory" in res:
            km = res["kernel_memory"]
            c.write(mem / "memory.kmem.limit_in_bytes", km, what="--kernel-memory")
            page = os.sysconf("SC_PAGE_SIZE")
            if c.read_int(mem / "memory.kmem.limit_in_bytes") != km // page * page:
                # kernels since 5.4 keep the file but ignore what is written
                raise DriverNotSupported("--kernel-memory is not supported by this kernel (memory.kmem.limit_in_bytes ignores limits)")
        if "oom_kill_disable" in res:  # update may turn it off again
            c.write(mem / "memory.oom_control", int(res["oom_kill_disable"]), what="--oom-kill-disable")

    def update(self, handle: dict[str, Any], resources: dict[str, Any]) -> None:
        parents = {k: Path(v) for k, v in handle.get("paths", {}).items()}
        res = self._validate(resources, {k: v.parent for k, v in parents.items()}, update=True)
        self._apply(handle, res, update=True)

    # ----------------------------------------------------------------- state

    def add_process(self, handle: dict[str, Any], pid: int) -> None:
        for p in self._unique(handle):
            c.write(p / "cgroup.procs", pid, what=f"cgroup membership of pid {pid}")

    def pids(self, handle: dict[str, Any]) -> list[int]:
        out: set[int] = set()
        for p in self._unique(handle):
            out |= c.procs(p)
        return sorted(out)

    def stats(self, handle: dict[str, Any]) -> dict[str, int]:
        out = dict.fromkeys(("cpu_usage_ns", "cpu_throttled_periods", "memory_usage", "memory_limit", "pids_current",
                             "pids_limit", "blkio_read", "blkio_write"), 0)
        cpu = self._path(handle, "cpu")
        if cpu:
            out["cpu_throttled_periods"] = c.read_keyed(cpu / "cpu.stat").get("nr_throttled", 0)
        acct = self._path(handle, "cpuacct")
        if acct:
            out["cpu_usage_ns"] = c.read_int(acct / "cpuacct.usage")
        mem = self._path(handle, "memory")
        if mem:
            usage = c.read_int(mem / "memory.usage_in_bytes")
            # as Docker: page cache that could be dropped is not "usage"
            inactive = c.read_keyed(mem / "memory.stat").get("total_inactive_file", 0)
            out["memory_usage"] = usage - inactive if inactive < usage else usage
            out["memory_limit"] = min(c.read_int(mem / "memory.limit_in_bytes"), host_memory())
        pids = self._path(handle, "pids")
        if pids:
            out["pids_current"] = c.read_int(pids / "pids.current")
            out["pids_limit"] = c.read_int(pids / "pids.max", 0)
        blk = self._path(handle, "blkio")
        if blk:
            for name in ("blkio.throttle.io_service_bytes_recursive", "blkio.bfq.io_service_bytes_recursive"):
                r, w = _blkio_bytes(blk / name)
                if r or w:
                    out["blkio_read"], out["blkio_write"] = r, w
                    break
        return out

    def oom_events(self, handle: dict[str, Any]) -> dict[str, int]:
        mem = self._path(handle, "memory")
        if not mem:
            return {"oom": 0, "oom_kill": 0}
        ctl = c.read_keyed(mem / "memory.oom_control")
        kills = ctl.get("oom_kill", 0)
        # v1 has no OOM event count: a kill is one, and so is a cgroup stuck in OOM
        # because --oom-kill-disable stopped the killer
        return {"oom": kills + ctl.get("under_oom", 0), "oom_kill": kills}

    def freeze(self, handle: dict[str, Any], timeout: float = 10.0) -> None:
        fz = self._need(handle, "freezer", "pause")
        state = fz / "freezer.state"

        def frozen() -> bool:
            # writing FROZEN again nudges a freeze that stalled (as runc does)
            c.write(state, "FROZEN", what="freezer.state")
            return c.read(state).strip() == "FROZEN"

        if not c.wait_for(frozen, timeout):
            c.write(state, "THAWED", what="freezer.state")
            raise DriverError(f"cgroup {fz} did not freeze within {timeout:.0f}s")

    def thaw(self, handle: dict[str, Any], timeout: float = 10.0) -> None:
        fz = self._need(handle, "freezer", "unpause")
        state = fz / "freezer.state"
        c.write(state, "THAWED", what="freezer.state")
        if not c.wait_for(lambda: c.read(state, "THAWED").strip() == "THAWED", timeout):
            raise DriverError(f"cgroup {fz} did not thaw within {timeout:.0f}s")

    # --------------------------------------------------------------- removal

    def destroy(self, handle: dict[str, Any]) -> dict[str, Any]:
        def stop() -> None:
            fz = self._path(handle, "freezer")
            if fz is None or not fz.is_dir():
                return
            try:
                self.freeze(handle, timeout=2.0)
            except DriverError:
                return  # kill anyway; the kill loop copes with forks
            for pid in self.pids(handle):
                _kill(pid)
            c.write(fz / "freezer.state", "THAWED", what="freezer.state")

        dirs = [p for p in self._unique(handle) if p.is_dir()]
        return c.destroy(self, handle, dirs, stop, lambda: set(self.pids(handle)))

    def cleanup_orphans(self, live: set[str]) -> list[str]:
        gone = c.cleanup_orphans(self, 1, live)
        if self.default_parent:
            for point, mine in {v for v in self.hier.values()}:
                c.prune_empty(c.under(point, mine), self.default_parent)
        return gone

    def status(self) -> list[tuple[str, str]]:
        return [("Cgroup Version", "1"), ("Cgroup Controllers", " ".join(sorted(self.hier)))]


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _mkdirs(path: Path, *, cpuset: bool) -> None:
    """mkdir -p, one level at a time so cpuset dirs get cpus/mems before use."""
    for _ in range(3):
        try:
            return _mkdirs_once(path, cpuset=cpuset)
        except FileNotFoundError:
            continue  # a concurrent prune removed an empty parent: make it again
    raise DriverError(f"cannot create cgroup {path}: its parent keeps disappearing")


def _mkdirs_once(path: Path, *, cpuset: bool) -> None:
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d)
        except (FileExistsError, FileNotFoundError):
            if d.exists():
                continue
            raise
        except OSError as e:
            raise DriverError(f"cannot create cgroup {d}: {e.strerror}") from None
        if cpuset and not c.read(d / "cpuset.cpus", "").strip():
            # an empty cpuset cannot take tasks: inherit the parent's (runc does the same)
            for f in ("cpuset.cpus", "cpuset.mems"):
                c.write(d / f, c.read(d.parent / f).strip() or "\n", what=f)


def _kill(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _blkio_bytes(path: Path) -> tuple[int, int]:
    r = w = 0
    for line in c.read(path, "").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].isdigit():
            if parts[1] == "Read":
                r += int(parts[2])
            elif parts[1] == "Write":
                w += int(parts[2])
    return r, w


def host_memory() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 1 << 62
