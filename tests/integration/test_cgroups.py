"""cgroups through the real CLI: limits, OOM reporting, pids, cpus, stats, update, pause."""

from __future__ import annotations

import os
import time

import pytest

from pyctr.testing.leaks import own_cgroup_dirs

pytestmark = [pytest.mark.root, pytest.mark.matrix]  # kernel-dependent: runs on every kernel leg


def _cgroup_dir(p, name: str, controller: str) -> str:
    cid = p("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
    parent = os.environ.get("PYCTR_CGROUP_SUBTREE", "")
    for base in own_cgroup_dirs():
        candidate = os.path.join(base, parent, f"pyctr-{cid}")
        if os.path.isdir(candidate) and (f"/{controller}/" in candidate or os.path.exists(os.path.join(candidate, f"{controller}.max"))):
            return candidate
    raise AssertionError(f"no {controller} cgroup for {name}")


def _v1() -> bool:
    return os.path.isdir("/sys/fs/cgroup/memory")


def test_memory_limit_is_written_and_the_init_is_in_the_cgroup(busybox):
    busybox("--network=none", "run", "-d", "--name", "lim", "-m", "10m", "busybox", "sleep", "300", check=True)
    try:
        pid = busybox("inspect", "--format", "{{.State.Pid}}", "lim", check=True).stdout.strip()
        path = _cgroup_dir(busybox, "lim", "memory")
        limit_file = "memory.limit_in_bytes" if _v1() else "memory.max"
        assert open(os.path.join(path, limit_file)).read().strip() == "10485760"
        assert pid in open(os.path.join(path, "cgroup.procs")).read().split()
        # the cgroup namespace hides the host path inside
        inside = busybox("exec", "lim", "cat", "/proc/self/cgroup").stdout
        assert "pyctr-" not in inside
    finally:
        busybox("rm", "-f", "lim")


def test_oom_killed_main_process_exits_137_and_inspect_says_so(busybox):
    r = busybox("--network=none", "run", "--name", "hog", "-m", "32m", "--memory-swap", "32m", "busybox",
                "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
    assert r.returncode == 137, r.stderr
    assert busybox("inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", "hog").stdout.strip() == "true 137"
    r = busybox("--network=none", "run", "--name", "ok", "-m", "32m", "busybox",
                "dd", "if=/dev/zero", "of=/dev/null", "bs=1M", "count=1")
    assert r.returncode == 0
    assert busybox("inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", "ok").stdout.strip() == "false 0"
    busybox("rm", "hog", "ok", check=True)


def test_a_killed_child_leaves_the_container_running_and_counted(busybox):
    busybox("--network=none", "run", "-d", "--name", "seed", "-m", "10m", "--memory-swap", "10m", "busybox",
            "sleep", "300", check=True)
    try:
        r = busybox("exec", "seed", "dd", "if=/dev/zero", "of=/dev/null", "bs=32M", "count=1")
        assert r.returncode == 137
        assert busybox("inspect", "--format", "{{.State.Status}}", "seed").stdout.strip() == "running"
        assert int(busybox("inspect", "--format", "{{.State.OOMEvents}}", "seed").stdout) >= 1
    finally:
        busybox("rm", "-f", "seed")


def test_pids_limit_stops_a_fork_bomb_and_the_host_is_fine(busybox):
    busybox("--network=none", "run", "-d", "--name", "bomb", "--pids-limit", "20", "busybox", "sleep", "300", check=True)
    try:
        r = busybox("exec", "bomb", "sh", "-c", "i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done; wait")
        assert r.returncode != 0 and "fork" in r.stderr.lower()  # the shell could not fork past the limit
        path = _cgroup_dir(busybox, "bomb", "pids")
        assert int(open(os.path.join(path, "pids.current")).read()) <= 20
        assert busybox("inspect", "--format", "{{.State.Status}}", "bomb").stdout.strip() == "running"
        assert os.system("true") == 0  # the host still forks
    finally:
        busybox("rm", "-f", "bomb")


def test_cpus_holds_a_busy_loop_near_half_a_core(busybox):
    busybox("--network=none", "run", "-d", "--name", "spin", "--cpus", "0.5", "busybox", "sh", "-c",
            "while :; do :; done", check=True)
    try:
        path = _cgroup_dir(busybox, "spin", "cpuacct" if _v1() else "cpu")
        def usage_ns() -> int:
            if _v1():
                return int(open(os.path.join(path, "cpuacct.usage")).read())
            return int(next(ln for ln in open(os.path.join(path, "cpu.stat")) if ln.startswith("usage_usec")).split()[1]) * 1000
        time.sleep(0.5)
        start, t0 = usage_ns(), time.monotonic()
        time.sleep(2.0)
        used = (usage_ns() - start) / ((time.monotonic() - t0) * 1e9)
        assert used < 0.7, used  # the quota is a ceiling whatever the machine's load
    finally:
        busybox("rm", "-f", "spin")


def test_stats_update_pause_unpause(busybox):
    busybox("--network=none", "run", "-d", "--name", "st", "-m", "16m", "busybox", "sleep", "300", check=True)
    try:
        r = busybox("stats", "--no-stream")
        assert "MEM USAGE / LIMIT" in r.stdout and "16MiB" in r.stdout
        row = busybox("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "st").stdout.split()
        assert row == ["st", "1"]
        busybox("update", "-m", "24m", "--memory-swap", "48m", "st", check=True)
        path = _cgroup_dir(busybox, "st", "memory")
        limit_file = "memory.limit_in_bytes" if _v1() else "memory.max"
        assert open(os.path.join(path, limit_file)).read().strip() == str(24 << 20)
        busybox("pause", "st", check=True)
        assert "(Paused)" in busybox("ps").stdout
        state = open(os.path.join(_cgroup_dir(busybox, "st", "freezer"), "freezer.state")).read().strip() if _v1() else ""
        assert not _v1() or state == "FROZEN"
        busybox("unpause", "st", check=True)
        assert "(Paused)" not in busybox("ps").stdout
    finally:
        busybox("rm", "-f", "st")


def test_nonsense_limits_are_one_line_exit_125_and_nothing_is_made(busybox):
    for flags in (["-m", "1k"], ["-m", "lots"], ["--cpus", "-1"], ["--blkio-weight", "5"], ["--cpuset-cpus", "999"]):
        r = busybox("--network=none", "run", "--rm", *flags, "busybox", "true")
        assert r.returncode == 125, (flags, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert busybox("ps", "-a", "-q").stdout.strip() == ""


def test_seed_demo_dd_in_tmpfs_is_killed_and_the_shell_survives(busybox):
    """The seed's cgroup chapter, typed into an interactive shell on a real pty."""
    import sys

    from tests.helpers import Terminal

    term = Terminal([sys.executable, "-m", "pyctr", "--network=none", "run", "--rm", "-it", "--name", "busybox",
                     "-m", "10m", "--mount", "type=tmpfs,dst=/tmp", "busybox", "/bin/sh"], busybox.env)
    try:
        term.expect("# ")
        pid = busybox("inspect", "--format", "{{.State.Pid}}", "busybox", check=True).stdout.strip()
        path = _cgroup_dir(busybox, "busybox", "memory")
        assert pid in open(os.path.join(path, "cgroup.procs")).read().split()
        limit_file = "memory.limit_in_bytes" if _v1() else "memory.max"
        assert open(os.path.join(path, limit_file)).read().strip() == "10485760"
        term.type("dd if=/dev/urandom of=/tmp/xxx bs=2M count=10; echo dd-status=$?")
        term.expect("\n")  # the echo of what was typed
        out = term.expect("dd-status=")
        term.expect("# ", timeout=30)
        assert "Killed" in out
        term.type("echo still-alive-$$")
        term.expect("still-alive-1")
        assert int(busybox("inspect", "--format", "{{.State.OOMEvents}}", "busybox").stdout) >= 1
    finally:
        term.type("exit")
        term.wait()
