"""Issue 2's acceptance: a real container through the whole stack."""

from __future__ import annotations

import os
import sys

import pytest

pytestmark = pytest.mark.root


def test_shell_is_pid_1_with_its_own_hostname_and_only_its_processes(busybox):
    r = busybox("--network=none", "run", "--rm", "busybox", "sh", "-c", "echo $$; hostname; ps -o pid,comm")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "1"
    assert lines[1] and lines[1] != os.uname().nodename
    pids = [ln.split()[0] for ln in lines[3:]]
    assert pids and all(int(p) < 10 for p in pids), lines  # only the container's own few processes


def test_exit_status_is_passed_through(busybox):
    assert busybox("--network=none", "run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3


def test_missing_command_exits_127_with_one_line(busybox):
    r = busybox("--network=none", "run", "--rm", "busybox", "no-such-command")
    assert r.returncode == 127
    assert len(r.stderr.strip().splitlines()) == 1
    assert "no-such-command" in r.stderr


def test_not_executable_exits_126(busybox):
    r = busybox("--network=none", "run", "--rm", "busybox", "/etc/passwd")
    assert r.returncode == 126, r.stderr


def test_killed_by_signal_exits_128_plus_n(busybox):
    """PID 1 ignores signals from inside; kill it from the host, as the kernel sees it."""
    import subprocess
    import time

    from tests.helpers import find_container_process

    proc = subprocess.Popen([sys.executable, "-m", "pyctr", "--network=none", "run", "--rm", "busybox", "sh", "-c",
                             "echo ready; sleep 98765"], env=busybox.env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        pid = find_container_process("sleep 98765")
        os.kill(pid, 9)
        assert proc.wait(timeout=30) == 137
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        time.sleep(0)


def test_namespaces_differ_from_the_hosts(busybox):
    r = busybox("--network=none", "run", "--rm", "busybox", "sh", "-c",
                "for k in uts ipc pid net mnt; do readlink /proc/self/ns/$k; done")
    assert r.returncode == 0, r.stderr
    inside = r.stdout.split()
    host = [os.readlink(f"/proc/self/ns/{k}") for k in ("uts", "ipc", "pid", "net", "mnt")]
    assert len(inside) == 5
    assert all(a != b for a, b in zip(inside, host)), (inside, host)


def test_none_network_has_only_loopback(busybox):
    r = busybox("--network=none", "run", "--rm", "busybox", "ls", "/sys/class/net")
    assert r.stdout.split() == ["lo"]


def test_host_network_shares_the_hosts_namespace(busybox):
    r = busybox("--network=host", "run", "--rm", "busybox", "readlink", "/proc/self/ns/net")
    assert r.stdout.strip() == os.readlink("/proc/self/ns/net")


def test_unknown_storage_driver_is_one_line_exit_125_and_creates_nothing(busybox):
    before = busybox("ps", "-a", "-q").stdout
    r = busybox("--storage-driver=nope", "run", "busybox", "true")
    assert r.returncode == 125
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope" in lines[0] and "vfs" in lines[0], r.stderr
    assert busybox("ps", "-a", "-q").stdout == before


def test_rm_without_rm_flag_leaves_a_container_that_rm_removes(busybox):
    assert busybox("--network=none", "run", "--name", "keep", "busybox", "true").returncode == 0
    ps = busybox("ps", "-a").stdout
    assert "keep" in ps and "Exited (0)" in ps
    assert busybox("rm", "keep").returncode == 0
    assert "keep" not in busybox("ps", "-a").stdout


def test_the_driver_names_are_stored_with_the_container(busybox):
    busybox("--network=none", "run", "--name", "c1", "busybox", "true", check=True)
    import sqlite3

    conn = sqlite3.connect(busybox.root / "pyctr.db")
    drivers = conn.execute("SELECT drivers FROM containers WHERE name='c1'").fetchone()[0]
    assert '"network": "none"' in drivers and '"storage"' in drivers
    # a later command on it uses the stored names, not today's flags
    assert busybox("--network=host", "rm", "c1").returncode == 0


def test_hostname_flag_and_user_flag(busybox):
    r = busybox("--network=none", "run", "--rm", "--hostname", "box1", "--user=99:99", "busybox", "sh", "-c",
                "hostname; id -u; id -g")
    assert r.stdout.split() == ["box1", "99", "99"], r.stderr


def test_default_capabilities_are_dockers_fourteen(busybox):
    r = busybox("--network=none", "run", "--rm", "busybox", "grep", "CapBnd", "/proc/self/status")
    assert r.stdout.split()[1] == "00000000a80425fb"


def test_only_stdio_fds_are_inherited(busybox):
    # two commands, so sh stays PID 1 instead of exec'ing ls
    r = busybox("--network=none", "run", "--rm", "busybox", "sh", "-c", "ls /proc/1/fd; true")
    assert r.stdout.split() == ["0", "1", "2"], r.stdout
