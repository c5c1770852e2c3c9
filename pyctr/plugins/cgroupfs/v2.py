"""cgroup v2 backend: one directory in the unified hierarchy.

Controllers reach a child only through ``cgroup.subtree_control`` of every
ancestor (Documentation/admin-guide/cgroup-v2.rst, "Enabling and Disabling");
a non-root cgroup that holds processes cannot delegate ("no internal
processes"), which is reported in one line with the --cgroup-parent way out.
Conversions from Docker's v1-shaped values follow runc's libcontainer/cgroups/fs2.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyctr.core.errors import Conflict, DriverError, DriverNotSupported
from pyctr.plugins.cgroupfs import common as c
from pyctr.plugins.cgroupfs.resources import cpu_quota_period, validate
from pyctr.plugins.cgroupfs.v1 import host_memory

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

#: controllers enabled for a container when the parent offers them (for stats)
WANTED = ("cpu", "memory", "pids", "io")


def shares_to_weight(shares: int) -> int:
    """cpu.shares [2, 262144] -> cpu.weight [1, 10000], runc's linear mapping."""
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight [10, 1000] -> io.weight [1, 10000], as runc."""
    return 1 + ((weight - 10) * 9999) // 990


def needed_controllers(res: dict[str, Any]) -> set[str]:
    need = set()
    if {"memory", "memory_swap", "memory_reservation"} & res.keys():
        need.add("memory")
    if {"nano_cpus", "cpu_shares", "cpu_quota", "cpu_period"} & res.keys():
        need.add("cpu")
    if {"cpuset_cpus", "cpuset_mems"} & res.keys():
        need.add("cpuset")
    if "pids_limit" in res:
        need.add("pids")
    if "blkio_weight" in res:
        need.add("io")
    return need


class V2Backend:
    version = 2

    def __init__(self, mount: Path = c.CGROUP_ROOT, records: c.Records | None = None,
                 default_parent: str = "") -> None:
        self.mount = Path(mount)
        self.records = records
        self.default_parent = c.clean_relative(default_parent, what="cgroupfs parent option")
        if not (self.mount / "cgroup.controllers").exists():
            raise DriverNotSupported(f"{self.mount} is not a cgroup2 mount")
        mine = c.own_cgroups().get("")
        if mine is None:
            raise DriverNotSupported("this process is in no cgroup2 hierarchy (no 0:: line in /proc/self/cgroup)")
        root = next((r for t, r, p, _o in c.cgroup_mounts() if t == "cgroup2" and p == self.mount), "/")
        if root != "/" and (mine == root or mine.startswith(root + "/")):
            mine = mine[len(root):]
        self.own = c.clean_relative(mine)

    def own_procs_file(self) -> Path:
        """cgroup.procs of the cgroup this process runs in."""
        return c.under(self.mount, self.own) / "cgroup.procs"

    # ----------------------------------------------------------------- paths

    def _parent(self, parent: str | None) -> Path:
        if parent is None or parent == "":
            rel = "/".join(p for p in (self.own, self.default_parent) if p)
        else:
            text = parent
            if text.startswith(str(self.mount) + "/"):
                text = text[len(str(self.mount)):]
            rel = c.clean_relative(text)
        return c.under(self.mount, rel)

    def parent_dirs(self) -> dict[str, Path]:
        """Where containers without --cgroup-parent go."""
        return {"unified": self._parent(None)}

    def path(self, container_id: str, parent: str | None, at: str | None = None) -> Path:
        c.check_container_id(container_id)
        if at is not None:  # exactly there: absolute from the mount, or below our own cgroup
            rel = c.clean_relative(at, what="cgroup path")
            return c.under(self.mount, rel if at.startswith("/") else "/".join(x for x in (self.own, rel) if x))
        return c.under(self._parent(parent), c.PREFIX + container_id)

    @staticmethod
    def _dir(handle: dict[str, Any]) -> Path:
        return Path(handle["paths"]["unified"])

    # ---------------------------------------------------------------- create

    def _validate(self, resources: dict[str, Any], parent: Path, update: bool) -> dict[str, Any]:
        if resources.get("kernel_memory"):
            raise DriverNotSupported("--kernel-memory is not supported on cgroup v2")
        if resources.get("oom_kill_disable"):
            raise DriverNotSupported("--oom-kill-disable is not supported on cgroup v2")
        if resources.get("devices"):
            raise DriverNotSupported("device cgroup rules on cgroup v2 need an eBPF program, which pyctr does not load yet")
        anc = _existing(parent)
        cpus = c.read(anc / "cpuset.cpus.effective", "") or None
        mems = c.read(anc / "cpuset.mems.effective", "") or None
        res = validate(resources, ncpus=os.cpu_count() or 1, cpus_available=cpus or c.online_cpus(),
                       mems_available=mems, default_swap=not update)
        res.pop("kernel_memory", None)
        res.pop("oom_kill_disable", None)
        if "memory_swap" in res:
            # Docker's default swap is dropped quietly where swap is not accounted
            res["_swap_explicit"] = resources.get("memory_swap") not in (None, 0, -1)
        have = set(c.read(anc / "cgroup.controllers", "").split())
        missing = sorted(needed_controllers(res) - have)
        if missing:
            raise DriverNotSupported(
                f"the {', '.join(missing)} controller{'s are' if len(missing) > 1 else ' is'} not available "
                f"in cgroup2 at {anc} (available: {' '.join(sorted(have)) or 'none'})"
            )
        return res

    def create(self, container_id: str, parent: str | None, resources: dict[str, Any],
               at: str | None = None) -> dict[str, Any]:
        path = self.path(container_id, parent, at)
        res = self._validate(resources, path.parent, update=False)
        if path.exists():  # never adopt (and on failure remove) someone else's cgroup
            raise Conflict(f"cgroup {path} already exists")
        handle = {"driver": "cgroupfs", "version": 2, "id": container_id, "paths": {"unified": str(path)}}
        if self.records is not None:
            self.records.save(container_id, handle)
        try:
            self._mkdirs(path, needed_controllers(res))
            self._apply(path, res)
        except BaseException:
            self.destroy(handle)
            raise
        return handle

    def _mkdirs(self, path: Path, need: set[str]) -> None:
        """Create the missing ancestors and the leaf, delegating controllers on the way."""
        for _ in range(3):
            try:
                return self._mkdirs_once(path, need)
            except FileNotFoundError:
                continue  # a concurrent prune removed an empty parent: make it again
        raise DriverError(f"cannot create cgroup {path}: its parent keeps disappearing")

    def _mkdirs_once(self, path: Path, need: set[str]) -> None:
        missing = []
        p = path
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            self._delegate(d.parent, need)
            try:
                os.mkdir(d)
            except FileExistsError:
                continue
            except FileNotFoundError:
                raise
            except OSError as e:
                raise DriverError(f"cannot create cgroup {d}: {e.strerror}") from None

    def _delegate(self, parent: Path, need: set[str]) -> None:
        """Enable in ``parent/cgroup.subtree_control`` what the child needs (and,
        when offered, what stats read); only writes what is not enabled yet."""
        have = set(c.read(parent / "cgroup.controllers", "").split())
        on = set(c.read(parent / "cgroup.subtree_control", "").split())
        for ctrl in sorted((need | set(WANTED)) & have - on):
            try:
                c.write(parent / "cgroup.subtree_control", f"+{ctrl}")
            except DriverError:
                if ctrl not in need:
                    continue  # only stats would have used it
                raise DriverError(
                    f"cannot enable the {ctrl} controller below {parent}: it holds processes "
                    "(cgroup v2 'no internal processes' rule); pass --cgroup-parent to place containers elsewhere"
                ) from None

    # ---------------------------------------------------------------- limits

    def _apply(self, path: Path, res: dict[str, Any]) -> None:
        limit, swap = res.get("memory", 0), res.get("memory_swap", 0)
        if limit == -1 and swap == 0:
            swap = -1  # runc: unlimited memory implies unlimited swap
        if swap:
            if swap == -1:
                value = "max"
            elif limit <= 0:
                raise DriverError("unable to set swap limit without memory limit")
            else:
                value = str(swap - limit)  # Docker's swap is memory+swap; v2's is swap only
            if (path / "memory.swap.max").exists():
                c.write(path / "memory.swap.max", value, what="--memory-swap")
            elif res.get("_swap_explicit"):
                raise DriverNotSupported("--memory-swap is not supported: no memory.swap.max (swap accounting off)")
        if limit:
            c.write(path / "memory.max", "max" if limit == -1 else limit, what="--memory")
        if "memory_reservation" in res:
            c.write(path / "memory.low", res["memory_reservation"], what="--memory-reservation")
        if "cpu_shares" in res:
            c.write(path / "cpu.weight", shares_to_weight(res["cpu_shares"]), what="--cpu-shares")
        quota, period = cpu_quota_period(res)
        if quota is not None or period is not None:
            cur = c.read(path / "cpu.max", "max 100000").split()
            q = cur[0] if quota is None else ("max" if quota <= 0 else str(quota))
            per = cur[1] if period is None else str(period)
            c.write(path / "cpu.max", f"{q} {per}", what="--cpus/--cpu-quota")
        if "cpuset_cpus" in res:
            c.write(path / "cpuset.cpus", res["cpuset_cpus"], what="--cpuset-cpus")
        if "cpuset_mems" in res:
            c.write(path / "cpuset.mems", res["cpuset_mems"], what="--cpuset-mems")
        if "pids_limit" in res:
            v = res["pids_limit"]
            c.write(path / "pids.max", "max" if v < 0 else v, what="--pids-limit")
        if "blkio_weight" in res:
            if (path / "io.bfq.weight").exists():
                c.write(path / "io.bfq.weight", res["blkio_weight"], what="--blkio-weight")
            elif (path / "io.weight").exists():
                c.write(path / "io.weight", blkio_to_io_weight(res["blkio_weight"]), what="--blkio-weight")
            else:
                raise DriverNotSupported("--blkio-weight is not supported: no io.weight or io.bfq.weight")

    def update(self, handle: dict[str, Any], resources: dict[str, Any]) -> None:
        path = self._dir(handle)
        res = self._validate(resources, path.parent, update=True)
        self._delegate(path.parent, needed_controllers(res))
        self._apply(path, res)

    # ----------------------------------------------------------------- state

    def add_process(self, handle: dict[str, Any], pid: int) -> None:
        c.write(self._dir(handle) / "cgroup.procs", pid, what=f"cgroup membership of pid {pid}")

    def pids(self, handle: dict[str, Any]) -> list[int]:
        return sorted(c.procs(self._dir(handle)))

    def stats(self, handle: dict[str, Any]) -> dict[str, int]:
        p = self._dir(handle)
        out = dict.fromkeys(("cpu_usage_ns", "cpu_throttled_periods", "memory_usage", "memory_limit", "pids_current",
                             "pids_limit", "blkio_read", "blkio_write"), 0)
        cpu = c.read_keyed(p / "cpu.stat")
        out["cpu_usage_ns"] = cpu.get("usage_usec", 0) * 1000
        out["cpu_throttled_periods"] = cpu.get("nr_throttled", 0)  # only with the cpu controller
        if (p / "memory.current").exists():
            usage = c.read_int(p / "memory.current")
            inactive = c.read_keyed(p / "memory.stat").get("inactive_file", 0)
            out["memory_usage"] = usage - inactive if inactive < usage else usage
            out["memory_limit"] = min(c.read_int(p / "memory.max", 1 << 62), host_memory())
        out["pids_current"] = c.read_int(p / "pids.current")
        out["pids_limit"] = c.read_int(p / "pids.max", 0)
        for line in c.read(p / "io.stat", "").splitlines():
            for kv in line.split()[1:]:
                k, _, v = kv.partition("=")
                if k == "rbytes" and v.isdigit():
                    out["blkio_read"] += int(v)
                elif k == "wbytes" and v.isdigit():
                    out["blkio_write"] += int(v)
        return out

    def oom_events(self, handle: dict[str, Any]) -> dict[str, int]:
        # absent when the memory controller is not enabled for this cgroup
        ev = c.read_keyed(self._dir(handle) / "memory.events")
        return {"oom": ev.get("oom", 0), "oom_kill": ev.get("oom_kill", 0)}

    def _events(self, handle: dict[str, Any]) -> dict[str, int]:
        return c.read_keyed(self._dir(handle) / "cgroup.events")

    def freeze(self, handle: dict[str, Any], timeout: float = 10.0) -> None:
        p = self._dir(handle)
        if not (p / "cgroup.freeze").exists():
            raise DriverNotSupported("pause needs cgroup.freeze (Linux 5.2 or later)")
        c.write(p / "cgroup.freeze", 1, what="cgroup.freeze")
        if not c.wait_for(lambda: self._events(handle).get("frozen") == 1, timeout):
            c.write(p / "cgroup.freeze", 0, what="cgroup.freeze")
            raise DriverError(f"cgroup {p} did not freeze within {timeout:.0f}s")

    def thaw(self, handle: dict[str, Any], timeout: float = 10.0) -> None:
        p = self._dir(handle)
        if not (p / "cgroup.freeze").exists():
            raise DriverNotSupported("unpause needs cgroup.freeze (Linux 5.2 or later)")
        c.write(p / "cgroup.freeze", 0, what="cgroup.freeze")
        if not c.wait_for(lambda: self._events(handle).get("frozen", 0) == 0, timeout):
            raise DriverError(f"cgroup {p} did not thaw within {timeout:.0f}s")

    # --------------------------------------------------------------- removal

    def destroy(self, handle: dict[str, Any]) -> dict[str, Any]:
        p = self._dir(handle)

        def stop() -> None:
            if (p / "cgroup.kill").exists():
                # one write kills the whole subtree, forks included (Linux 5.14)
                c.write(p / "cgroup.kill", 1, what="cgroup.kill")
                c.wait_for(lambda: not c.procs(p), 5.0)
            elif (p / "cgroup.freeze").exists():
                # a frozen v2 task still dies of SIGKILL, and cannot fork meanwhile
                c.write(p / "cgroup.freeze", 1, what="cgroup.freeze")

        return c.destroy(self, handle, [p] if p.is_dir() else [], stop, lambda: c.procs(p))

    def cleanup_orphans(self, live: set[str]) -> list[str]:
        gone = c.cleanup_orphans(self, 2, live)
        if self.default_parent:
            c.prune_empty(c.under(self.mount, self.own), self.default_parent)
        return gone

    def status(self) -> list[tuple[str, str]]:
        # what our own cgroup can hand down (the option parent may not exist yet)
        ctrls = c.read(c.under(self.mount, self.own) / "cgroup.controllers", "").split()
        return [("Cgroup Version", "2"), ("Cgroup Controllers", " ".join(ctrls))]


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
