"""Conformance suite for cgroup drivers (``pyctr.cgroup`` entry points).

Run it against an installed driver without writing a test (the pytest
plugin's ``cgroup_driver`` fixture gives the driver a private placement)::

    pytest --pyctr-driver=cgroup:NAME --pyargs pyctr.testing.conformance.cgroup

or subclass :class:`CgroupDriverConformance` in a test module and provide a
``cgroup_driver`` fixture (an instance of the driver under test)::

    class TestMine(CgroupDriverConformance):
        @pytest.fixture
        def cgroup_driver(self, tmp_path):
            d = MyCgroupDriver(DriverContext(tmp_path, tmp_path, {"parent": "t-123"}))
            yield d
            d.cleanup_orphans(set())

Tests that call ``cleanup_orphans`` run only when the driver was given a
private placement (the ``parent`` option, see :class:`~pyctr.core.drivers.CgroupDriver`),
because pruning the default placement would remove other containers' cgroups.
Everything here uses real processes and real kernel limits. A feature the
host lacks (``DriverNotSupported`` at create) skips the test with the
driver's own sentence.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from typing import Any

import pytest

from pyctr.core.errors import DriverNotSupported, UsageError

MiB = 1024 * 1024

#: each child waits for a line on stdin, so it does its work only once it is in the cgroup
GATE = "import sys, os, time\nsys.stdin.readline()\n"
SLEEPER = GATE + "time.sleep(120)\n"
# The survivor asks the OOM killer to spare it: the test is about the driver's
# counters, not the kernel's choice of victim (which can vary under emulation).
SPARED = GATE + "open('/proc/self/oom_score_adj', 'w').write('-999')\ntime.sleep(120)\n"
BUSY = GATE + "while True:\n    pass\n"
HOG = GATE + "chunks = []\nwhile True:\n    chunks.append(b'\\x01' * (1 << 20))\n"
SMALL = GATE + "chunks = [b'\\x01' * (1 << 20) for _ in range(8)]\nprint('done', flush=True)\n"
FORK_BOMB = GATE + """
ok = fail = 0
for _ in range(100):
    try:
        pid = os.fork()
    except BlockingIOError:
        fail += 1
        continue
    if pid == 0:
        time.sleep(120)
        os._exit(0)
    ok += 1
print(ok, fail, flush=True)
time.sleep(120)
"""


class Harness:
    """Creates cgroups and gated child processes; undoes all of it at teardown."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.handles: list[Any] = []
        self.procs: list[subprocess.Popen] = []

    @staticmethod
    def new_id() -> str:
        return "cg" + secrets.token_hex(6)

    def create(self, resources: dict[str, Any] | None = None, parent: str | None = None,
               container_id: str | None = None) -> Any:
        try:
            handle = self.driver.create(container_id or self.new_id(), parent, resources or {})
        except DriverNotSupported as e:
            pytest.skip(f"driver cannot do this here: {e}")
        self.handles.append(handle)
        return handle

    def spawn(self, code: str, handle: Any = None, *, stdout: bool = False) -> subprocess.Popen:
        p = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
            text=True,
        )
        self.procs.append(p)
        if handle is not None:
            self.driver.add_process(handle, p.pid)
            self.go(p)
        return p

    @staticmethod
    def go(p: subprocess.Popen) -> None:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()

    def close(self) -> None:
        errors = []
        for h in reversed(self.handles):
            try:
                self.driver.destroy(h)
            except Exception as e:  # noqa: BLE001  (keep tearing down; report at the end)
                errors.append(e)
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)
        if errors:
            raise errors[0]


def cpu_rate(driver: Any, handle: Any, seconds: float) -> float:
    """CPUs used by the cgroup over ``seconds`` of wall time, from its own counter."""
    u0, t0 = driver.stats(handle)["cpu_usage_ns"], time.monotonic()
    time.sleep(seconds)
    u1, t1 = driver.stats(handle)["cpu_usage_ns"], time.monotonic()
    return (u1 - u0) / 1e9 / (t1 - t0)


def runs_again(driver: Any, handle: Any, timeout: float = 10.0) -> bool:
    """Whether the cgroup's CPU counter moves again (by 10 ms) within ``timeout``;
    a busy shared host may give a thawed loop little CPU, but not none."""
    start = driver.stats(handle)["cpu_usage_ns"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if driver.stats(handle)["cpu_usage_ns"] - start > 10_000_000:
            return True
    return False


class CgroupDriverConformance:
    """What every cgroup driver must do; needs a ``cgroup_driver`` fixture."""

    @pytest.fixture
    def cg(self, cgroup_driver: Any):
        h = Harness(cgroup_driver)
        yield h
        h.close()

    @pytest.fixture
    def private(self, cg: Harness) -> Harness:
        """``cg`` for tests that prune: only with a private placement."""
        if not getattr(cg.driver, "ctx", None) or not cg.driver.ctx.options.get("parent"):
            pytest.skip("cleanup_orphans needs a private placement (driver option parent=...)")
        return cg

    # -------------------------------------------------------------- placement

    def test_create_add_process_and_list(self, cg: Harness) -> None:
        handle = cg.create()
        p = cg.spawn(SLEEPER, handle)
        assert cg.driver.pids(handle) == [p.pid]
        json.dumps(handle)  # handles are stored with the container

    def test_warm_up_moves_nothing_and_placement_follows(self, cg: Harness) -> None:
        """``warm_up`` (optional) may start kernel work early; it must not move the
        caller, fail, or disturb the placement that follows it."""
        with open("/proc/self/cgroup") as f:
            before = f.read()
        handle = cg.create()
        cg.driver.warm_up()
        p = cg.spawn(SLEEPER, handle)
        assert cg.driver.pids(handle) == [p.pid]
        time.sleep(0.1)  # a warm-up thread has long finished its write
        with open("/proc/self/cgroup") as f:
            assert f.read() == before

    def test_status_names_driver(self, cgroup_driver: Any) -> None:
        lines = dict(cgroup_driver.status())
        assert lines.get("Cgroup Driver")
        assert lines.get("Cgroup Version") in ("1", "2")

    # ----------------------------------------------------------------- limits

    def test_limits_read_back_and_update(self, cg: Harness) -> None:
        handle = cg.create({"memory": 32 * MiB, "pids_limit": 20})
        st = cg.driver.stats(handle)
        assert st["memory_limit"] == 32 * MiB
        assert st["pids_limit"] == 20
        cg.driver.update(handle, {"memory": 64 * MiB, "memory_swap": 128 * MiB, "pids_limit": 30})
        st = cg.driver.stats(handle)
        assert (st["memory_limit"], st["pids_limit"]) == (64 * MiB, 30)
        cg.driver.update(handle, {"memory": 16 * MiB})  # lowering under the swap limit works too
        assert cg.driver.stats(handle)["memory_limit"] == 16 * MiB

    @pytest.mark.parametrize(
        "resources",
        [
            {"memory": 1000},
            {"memory": 64 * MiB, "memory_swap": 32 * MiB},
            {"memory_swap": 64 * MiB},
            {"memory": 32 * MiB, "memory_reservation": 64 * MiB},
            {"cpu_quota": 10},
            {"cpu_period": 10},
            {"nano_cpus": 1_000_000_000, "cpu_quota": 50_000},
            {"nano_cpus": 4096 * 1_000_000_000},
            {"blkio_weight": 5},
            {"cpuset_cpus": "4096"},
            {"cpuset_cpus": "1-0"},
            {"memory": "10m"},
            {"no_such_limit": 1},
        ],
    )
    def test_nonsense_refused_before_anything_exists(self, private: Harness, resources: dict[str, Any]) -> None:
        cg = private
        cid = cg.new_id()
        with pytest.raises(UsageError) as err:
            cg.driver.create(cid, None, resources)
        assert "\n" not in str(err.value) and str(err.value)
        assert cid not in cg.driver.cleanup_orphans(set())

    @pytest.mark.parametrize("parent", ["../../escape", "a/../../b", "/../x"])
    def test_parent_escape_refused(self, cg: Harness, parent: str) -> None:
        with pytest.raises(UsageError):
            cg.driver.create(cg.new_id(), parent, {})

    def test_bad_container_id_refused(self, cg: Harness) -> None:
        for bad in ("../x", "a/b", "", ".hidden"):
            with pytest.raises(UsageError):
                cg.driver.create(bad, None, {})

    # -------------------------------------------------------------------- OOM

    def test_oom_kills_the_hog_and_the_rest_survives(self, cg: Harness) -> None:
        handle = cg.create({"memory": 32 * MiB})
        survivor = cg.spawn(SPARED, handle)
        hog = cg.spawn(HOG, handle)
        assert hog.wait(timeout=60) == -9  # SIGKILL from the OOM killer
        events = cg.driver.oom_events(handle)
        assert events["oom_kill"] >= 1 and events["oom"] >= 1
        assert survivor.poll() is None
        assert survivor.pid in cg.driver.pids(handle)
        final = cg.driver.destroy(handle)  # counters are read before removal
        assert final["oom_kill"] >= 1

    def test_no_oom_under_the_limit(self, cg: Harness) -> None:
        handle = cg.create({"memory": 32 * MiB})
        p = cg.spawn(SMALL, handle, stdout=True)
        out, _ = p.communicate(timeout=60)
        assert (p.returncode, out.strip()) == (0, "done")
        assert cg.driver.oom_events(handle) == {"oom": 0, "oom_kill": 0}

    def test_stats_follow_usage(self, cg: Harness) -> None:
        handle = cg.create({"memory": 128 * MiB})
        p = cg.spawn(GATE + "x = b'\\x01' * (48 << 20)\nprint('ready', flush=True)\n"
                     "y = 0\nfor _ in range(3_000_000):\n    y += 1\ntime.sleep(120)\n", handle, stdout=True)
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        st = cg.driver.stats(handle)
        assert st["memory_usage"] >= 40 * MiB, st
        assert st["memory_limit"] == 128 * MiB
        assert st["cpu_usage_ns"] > 0
        assert set(st) >= {"cpu_usage_ns", "memory_usage", "memory_limit", "pids_current",
                           "pids_limit", "blkio_read", "blkio_write"}

    # ------------------------------------------------------------------- pids

    def test_pids_limit_stops_a_fork_bomb(self, cg: Harness) -> None:
        handle = cg.create({"pids_limit": 20})
        bomb = cg.spawn(FORK_BOMB, handle, stdout=True)
        assert bomb.stdout is not None
        ok, fail = map(int, bomb.stdout.readline().split())
        assert ok <= 19 and fail >= 1  # the bomb's own process counts too
        assert cg.driver.stats(handle)["pids_current"] <= 20
        # the host is not affected: it can still start processes
        assert subprocess.run(["true"], check=False).returncode == 0

    # -------------------------------------------------------------------- cpu

    def test_cpus_half_a_core(self, cg: Harness) -> None:
        """Two busy loops under --cpus 0.5 use at most ~half a core, and about
        as much as a single unlimited loop next to them gets (up to half a core):
        a busy shared host may starve both, so the floor is relative to it."""
        limited = cg.create({"nano_cpus": 500_000_000})
        control = cg.create()
        cg.spawn(BUSY, limited)
        cg.spawn(BUSY, limited)  # two loops: unlimited they would take both cores
        cg.spawn(BUSY, control)
        time.sleep(0.3)
        seen = []
        for _ in range(4):
            a0, b0, t0 = cg.driver.stats(limited)["cpu_usage_ns"], cg.driver.stats(control)["cpu_usage_ns"], time.monotonic()
            time.sleep(2.0)
            a1, b1, t1 = cg.driver.stats(limited)["cpu_usage_ns"], cg.driver.stats(control)["cpu_usage_ns"], time.monotonic()
            a, b = (a1 - a0) / 1e9 / (t1 - t0), (b1 - b0) / 1e9 / (t1 - t0)
            seen.append((round(a, 3), round(b, 3)))
            assert a <= 0.7, f"busy loops under --cpus 0.5 used {a:.2f} CPUs"
            if a >= 0.6 * min(0.5, b):
                break
        else:
            pytest.fail(f"--cpus 0.5 starved the loops: (limited, unlimited control) CPUs per window: {seen}")
        # the kernel throttled them, unless the host never let them reach the quota
        assert cg.driver.stats(limited)["cpu_throttled_periods"] > 0 or max(x for x, _ in seen) < 0.45

    def test_freeze_and_thaw(self, cg: Harness) -> None:
        handle = cg.create()
        p = cg.spawn(BUSY, handle)
        time.sleep(0.2)
        cg.driver.freeze(handle)
        assert cpu_rate(cg.driver, handle, 0.5) < 0.02
        assert p.poll() is None
        cg.driver.thaw(handle)
        assert runs_again(cg.driver, handle)

    # ---------------------------------------------------------------- removal

    def test_destroy_kills_everything_and_is_idempotent(self, cg: Harness) -> None:
        handle = cg.create({"pids_limit": 50})
        bomb = cg.spawn(FORK_BOMB, handle, stdout=True)
        assert bomb.stdout is not None
        bomb.stdout.readline()
        children = cg.driver.pids(handle)
        assert len(children) > 1
        counters = cg.driver.destroy(handle)
        assert set(counters) >= {"oom", "oom_kill"}
        assert bomb.wait(timeout=10) == -9
        for pid in children:
            assert not is_alive(pid), f"pid {pid} survived destroy"
        assert cg.driver.pids(handle) == []
        cg.driver.destroy(handle)  # again: fine

    def test_destroy_of_a_frozen_cgroup(self, cg: Harness) -> None:
        handle = cg.create()
        p = cg.spawn(BUSY, handle)
        cg.driver.freeze(handle)
        cg.driver.destroy(handle)
        assert p.wait(timeout=10) == -9

    def test_cleanup_orphans_removes_only_the_dead(self, private: Harness) -> None:
        cg = private
        live_id, dead_id = cg.new_id(), cg.new_id()
        live = cg.create(container_id=live_id)
        dead = cg.create(container_id=dead_id)
        keep = cg.spawn(SLEEPER, live)
        gone = cg.spawn(SLEEPER, dead)
        removed = cg.driver.cleanup_orphans({live_id})
        assert dead_id in removed and live_id not in removed
        assert gone.wait(timeout=10) == -9
        assert keep.poll() is None and cg.driver.pids(live) == [keep.pid]
        assert cg.driver.pids(dead) == []

    def test_many_create_destroy_cycles(self, private: Harness) -> None:
        cg = private
        """The issue's "nothing left after 100 create/remove cycles"."""
        for _ in range(100):
            h = cg.create({"memory": 16 * MiB, "pids_limit": 10})
            p = cg.spawn(SLEEPER, h)
            cg.driver.destroy(h)
            assert p.wait(timeout=10) == -9
            cg.handles.remove(h)
            cg.procs.remove(p)
        assert cg.driver.cleanup_orphans(set()) == []


def is_alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie awaiting its parent counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class TestCgroupDriverConformance(CgroupDriverConformance):
    """Collected by ``--pyctr-driver=cgroup:NAME --pyargs pyctr.testing.conformance.cgroup``;
    the plugin's ``cgroup_driver`` fixture gives the driver a private placement."""


__all__ = ["CgroupDriverConformance", "Harness", "TestCgroupDriverConformance", "cpu_rate", "runs_again"]
