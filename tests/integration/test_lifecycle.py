"""Detached containers, their monitor and logs, and the lifecycle commands."""

from __future__ import annotations

import os
import signal
import time

import pytest

from pyctr.testing.waiting import until
from tests.helpers import both_watchers

pytestmark = pytest.mark.root

LOOP = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"


def _state(p, name: str) -> str:
    return p("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name, check=True).stdout.strip()


@both_watchers
def test_run_detached_prints_the_id_and_logs_are_kept(busybox, watcher):
    r = busybox("--network=none", "run", "-d", "--name", "ticker", "busybox", "sh", "-c", LOOP)
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert len(cid) == 64
    try:
        assert "ticker" in busybox("ps").stdout
        until(lambda: "tick 3" in busybox("logs", "ticker").stdout, 20)
        assert busybox("logs", "--tail", "1", "ticker").stdout.count("\n") == 1
        stamped = busybox("logs", "-t", "--tail", "1", "ticker").stdout
        assert stamped[:4].isdigit() and "T" in stamped.split()[0]
    finally:
        busybox("rm", "-f", "ticker")


@both_watchers
def test_the_monitor_is_small_and_the_init_is_its_child(busybox, watcher):
    busybox("--network=none", "run", "-d", "--name", "m", "busybox", "sleep", "300", check=True)
    try:
        pid = int(busybox("inspect", "--format", "{{.State.Pid}}", "m", check=True).stdout)
        with open(f"/proc/{pid}/stat") as f:
            monitor = int(f.read().rsplit(")", 1)[1].split()[1])
        with open(f"/proc/{monitor}/status") as f:
            rss_kb = int(next(line for line in f if line.startswith("VmRSS")).split()[1])
        with open(f"/proc/{monitor}/cmdline") as f:
            argv = f.read().split("\0")
        if watcher == "conmon":
            assert os.path.basename(argv[0]) == "conmon"
            assert rss_kb <= 4 * 1024, f"conmon uses {rss_kb} kB"
            # it runs in its own directory (where it writes ./oom), never holding the caller's
            assert os.readlink(f"/proc/{monitor}/cwd").endswith("/conmon"), os.readlink(f"/proc/{monitor}/cwd")
        else:
            assert "monitor.py" in " ".join(argv)
            assert rss_kb <= 12 * 1024, f"monitor uses {rss_kb} kB"
    finally:
        busybox("rm", "-f", "m")


@both_watchers
def test_stop_sends_the_stop_signal_then_kill(busybox, watcher):
    busybox("--network=none", "run", "-d", "--name", "s", "busybox", "sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.1; done", check=True)
    time.sleep(0.5)
    assert busybox("stop", "s").returncode == 0
    assert _state(busybox, "s") == "exited 7"
    # PID 1 without a TERM handler ignores it: stop falls back to SIGKILL after -t
    busybox("start", "s", check=True)
    busybox("--network=none", "run", "-d", "--name", "s2", "busybox", "sleep", "300", check=True)
    started = time.monotonic()
    busybox("stop", "-t", "1", "s2", check=True)
    assert time.monotonic() - started < 15
    assert _state(busybox, "s2") == "exited 137"
    busybox("rm", "-f", "s", "s2")


@both_watchers
def test_kill_with_a_signal_and_wait_reports_the_code(busybox, watcher):
    busybox("--network=none", "run", "-d", "--name", "k", "busybox", "sh", "-c", "trap 'exit 12' USR1; while true; do sleep 0.1; done", check=True)
    time.sleep(0.5)
    busybox("kill", "-s", "USR1", "k", check=True)
    assert busybox("wait", "k").stdout.strip() == "12"
    busybox("rm", "k", check=True)


def test_start_of_a_created_container_and_attach(busybox):
    cid = busybox("--network=none", "create", "--name", "c", "busybox", "sh", "-c", "echo hello-from-c; exit 4").stdout.strip()
    assert len(cid) == 64
    assert _state(busybox, "c") == "created 0"
    r = busybox("start", "-a", "c")
    assert r.returncode == 4 and "hello-from-c" in r.stdout
    busybox("rm", "c", check=True)


@both_watchers
def test_restart_policy_on_failure_counts(busybox, watcher):
    busybox("--network=none", "run", "-d", "--name", "r", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3", check=True)
    until(lambda: busybox("inspect", "--format", "{{.RestartCount}} {{.State.Status}}", "r").stdout.strip() == "2 exited", 20)
    busybox("rm", "-f", "r")


@both_watchers
def test_detached_rm_removes_after_exit(busybox, watcher):
    busybox("--network=none", "run", "-d", "--rm", "--name", "gone", "busybox", "true", check=True)
    until(lambda: "gone" not in busybox("ps", "-a").stdout, 20)


@both_watchers
def test_rm_refuses_a_running_container_unless_forced(busybox, watcher):
    busybox("--network=none", "run", "-d", "--name", "busy", "busybox", "sleep", "300", check=True)
    r = busybox("rm", "busy")
    assert r.returncode == 1 and "stop it first" in r.stderr
    assert busybox("rm", "-f", "busy").returncode == 0
    assert "busy" not in busybox("ps", "-a").stdout


@both_watchers
def test_sigkill_of_the_monitor_is_reported_truthfully_and_prune_cleans(busybox, watcher):
    busybox("--network=none", "run", "-d", "--name", "orphan", "busybox", "sleep", "300", check=True)
    pid = int(busybox("inspect", "--format", "{{.State.Pid}}", "orphan", check=True).stdout)
    with open(f"/proc/{pid}/stat") as f:
        monitor = int(f.read().rsplit(")", 1)[1].split()[1])
    os.kill(monitor, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    until(lambda: not os.path.exists(f"/proc/{pid}/stat") or open(f"/proc/{pid}/stat").read().split()[2] == "Z", 20)
    assert "Exited" in busybox("ps", "-a", "--filter", "name=orphan").stdout
    r = busybox("system", "prune", "-f")
    assert r.returncode == 0, r.stderr
    assert "orphan" not in busybox("ps", "-a").stdout


def test_bad_flag_is_one_line_and_exit_125(busybox):
    r = busybox("run", "--no-such-flag", "busybox", "true")
    assert r.returncode == 125
    assert r.stderr.startswith("Error:")
    # --pull never: a missing image is one line (without it, run would try a registry, as Docker does)
    r = busybox("run", "--pull", "never", "no-such-image", "true")
    assert r.returncode == 125 and len(r.stderr.strip().splitlines()) == 1
    r = busybox("run", "--name", "bad name!", "busybox", "true")
    assert r.returncode == 125
    assert busybox("ps", "-a", "-q").stdout.strip() == ""


@both_watchers
def test_exec_joins_every_namespace_with_the_containers_user_and_capabilities(busybox, watcher):
    busybox("--network=none", "run", "-d", "--name", "x", "--hostname", "xhost", "busybox", "sleep", "300", check=True)
    try:
        init = int(busybox("inspect", "--format", "{{.State.Pid}}", "x", check=True).stdout)
        r = busybox("exec", "x", "sh", "-c",
                    "hostname; for k in uts ipc pid net mnt; do readlink /proc/self/ns/$k; done; grep CapBnd /proc/self/status")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.split("\n")
        assert lines[0] == "xhost"
        for kind, line in zip(("uts", "ipc", "pid", "net", "mnt"), lines[1:6]):
            assert line == os.readlink(f"/proc/{init}/ns/{kind}"), kind
        assert lines[6].split()[1] == "00000000a80425fb"
        assert busybox("exec", "-u", "99:99", "x", "id", "-u").stdout.strip() == "99"
        assert busybox("exec", "x", "sh", "-c", "exit 9").returncode == 9
        assert busybox("exec", "x", "no-such-binary").returncode == 127
        assert busybox("exec", "-e", "FOO=bar", "-w", "/tmp", "x", "sh", "-c", "echo $FOO $(pwd)").stdout.strip() == "bar /tmp"
    finally:
        busybox("rm", "-f", "x")
    r = busybox("exec", "x", "true")
    assert r.returncode == 125


def test_attach_to_a_detached_tty_container_and_detach_with_ctrl_p_ctrl_q(busybox, watcher):
    import sys

    from tests.helpers import Terminal

    busybox("--network=none", "run", "-dit", "--name", "att", "busybox", "sh", check=True)
    try:
        term = Terminal([sys.executable, "-m", "pyctr", "attach", "att"], busybox.env)
        _until_attached(term)
        term.type("echo attached-$((40+2))")
        term.expect("attached-42")
        os.write(term.fd, b"\x10\x11")
        term.expect("read escape sequence")
        assert term.wait() == 1  # as docker attach
        assert "Up" in busybox("ps", "--filter", "name=att").stdout  # still running
        term = Terminal([sys.executable, "-m", "pyctr", "attach", "att"], busybox.env)
        _until_attached(term)
        term.type("exit 6")
        assert term.wait() == 6
    finally:
        busybox("rm", "-f", "att")


def test_run_it_at_a_terminal_detaches_with_ctrl_p_ctrl_q_and_follows_the_window_size(busybox, watcher):
    """Docker's ``run -it``: the terminal's size is the container's and follows it; Ctrl-P
    Ctrl-Q leaves the container running (exit 0, nothing printed); attach takes it up again."""
    import sys

    from tests.helpers import Terminal

    try:
        term = Terminal([sys.executable, "-m", "pyctr", "--network=none", "run", "-it", "--name", "rit", "busybox",
                         "sh"], busybox.env)
        term.resize(30, 100)
        _until_attached(term)
        term.type("stty size")
        term.expect("30 100")
        term.resize(44, 132)
        time.sleep(0.3)  # (the new size travels: SIGWINCH, our frame, the monitor's ioctl)
        term.type("stty size")
        term.expect("44 132")
        os.write(term.fd, b"\x10p")  # a beginning of the detach keys that is not: typed as it is
        os.write(term.fd, b"\x10\x11")
        assert term.wait() == 0
        assert "Up" in busybox("ps", "--filter", "name=rit").stdout
        term = Terminal([sys.executable, "-m", "pyctr", "attach", "rit"], busybox.env)
        _until_attached(term)
        term.type("exit 6")
        assert term.wait() == 6
    finally:
        busybox("rm", "-f", "rit")


def test_run_rm_it_at_a_terminal_returns_the_exit_code_once_removed(busybox, watcher):
    import sys

    from tests.helpers import Terminal

    term = Terminal([sys.executable, "-m", "pyctr", "--network=none", "run", "--rm", "-it", "--name", "rmit",
                     "busybox", "sh"], busybox.env)
    _until_attached(term)
    term.type("exit 5")
    assert term.wait() == 5
    assert "rmit" not in busybox("ps", "-a", "--format", "{{.Names}}").stdout


def test_bad_detach_keys_are_one_line_and_nothing_is_made(busybox):
    r = busybox("--network=none", "run", "--detach-keys", "ctrl-1", "--name", "badkeys", "busybox", "true")
    assert r.returncode == 125
    assert r.stderr.strip().splitlines() == ["Error: invalid detach key 'ctrl-1': use ctrl-<letter> or a single character"]
    assert "badkeys" not in busybox("ps", "-a", "--format", "{{.Names}}").stdout


def _until_attached(term) -> None:
    """Press Enter until the container's shell answers with a prompt: typing before the
    client has put the terminal in raw mode would be flushed, as on a real terminal."""
    for _ in range(30):
        term.type("")
        try:
            term.expect("# ", timeout=1)
            return
        except AssertionError:
            continue
    raise AssertionError("never attached")


@both_watchers
def test_attach_without_tty_forwards_stdin(busybox, watcher):
    import subprocess
    import sys

    busybox("--network=none", "run", "-di", "--name", "cat", "busybox", "sh", "-c", "read line; echo got:$line; exit 2", check=True)
    try:
        proc = subprocess.run([sys.executable, "-m", "pyctr", "attach", "cat"], input="hello\n", capture_output=True,
                              text=True, env=busybox.env, timeout=60)
        assert "got:hello" in proc.stdout
        assert proc.returncode == 2
    finally:
        busybox("rm", "-f", "cat")


def _layer_dirs(p) -> set[str]:
    home = p.root / "overlay2"
    return {n for n in os.listdir(home) if n != "l"} if home.is_dir() else set()


def test_a_hundred_run_rm_cycles_leave_nothing_behind(busybox):
    """Issue 4: 100 run/rm cycles through the CLI. The autouse leak check covers mounts,
    container processes (and so their namespaces), cgroups, links and /run/netns; this
    test the writable layers and the containers' directories and records."""
    layers_before = _layer_dirs(busybox)
    for i in range(100):
        name = f"cycle{i}"
        if i % 2:
            r = busybox("--network=none", "run", "--rm", "--name", name, "busybox", "true")
        else:
            # every tenth on the bridge, so veths and leases go through the loop too
            net = "bridge" if i % 10 == 0 else "none"
            r = busybox(f"--network={net}", "run", "--name", name, "busybox", "sh", "-c", f"exit {i % 7}")
            assert r.returncode == i % 7, r.stderr
            r = busybox("rm", name)
        assert r.returncode == 0, f"cycle {i}: {r.stderr}"
    assert busybox("ps", "-aq").stdout.strip() == ""
    assert _layer_dirs(busybox) == layers_before
    containers = busybox.root / "containers"
    assert not containers.exists() or not list(containers.iterdir())


# A `pyctr create` whose name generator has one name (and its ten digit variants), so that 16
# concurrent unnamed creates collide on nearly every name and some run out of names (then the
# short id is the name, as in Docker): none may fail for it.
NARROW_NAMES = ("import runpy, sys; import pyctr.core.names as n; n.LEFT = ('jolly',); n.RIGHT = ('hopper',);"
                " sys.argv = ['pyctr'] + sys.argv[1:]; runpy.run_module('pyctr', run_name='__main__')")


def test_many_concurrent_unnamed_creates_never_conflict(busybox):
    import subprocess
    import sys

    count = 16
    procs = [subprocess.Popen([sys.executable, "-c", NARROW_NAMES, "--network=none", "create", "busybox", "true"],
                              env=busybox.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(count)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    try:
        assert [r for r in results if r[0] != 0] == []
        ids = {r[1].strip() for r in results}
        assert len(ids) == count
        names = busybox("ps", "-a", "--format", "{{.ID}} {{.Names}}", check=True).stdout.split("\n")
        listed = dict(line.split() for line in names if line)
        assert len(set(listed.values())) == count
        assert all(n.startswith("jolly_hopper") or n == i for i, n in listed.items())
        assert sum(n == i for i, n in listed.items()) >= count - 11
    finally:
        ids = busybox("ps", "-aq").stdout.split()
        if ids:
            busybox("rm", "-f", *ids, check=True)


def test_group_add_by_id_and_by_name_for_the_init_and_exec(busybox):
    r = busybox("--network=none", "run", "--rm", "--group-add", "1000", "--group-add", "tty", "-u", "99",
                "busybox", "id", "-G")
    assert r.returncode == 0, r.stderr
    groups = r.stdout.split()
    assert groups[0] == "99" and sorted(groups[1:], key=int) == ["5", "1000"]
    busybox("--network=none", "run", "-d", "--name", "g", "--group-add", "daemon", "busybox", "sleep", "60", check=True)
    try:
        assert sorted(busybox("exec", "g", "id", "-G").stdout.split()) == ["0", "1"]
        assert busybox("inspect", "--format", "{{json .HostConfig.GroupAdd}}", "g").stdout.strip() == '["daemon"]'
    finally:
        busybox("rm", "-f", "g")
    r = busybox("--network=none", "run", "--rm", "--group-add", "no-such-group", "busybox", "true")
    assert r.returncode != 0 and "unable to find group no-such-group" in r.stderr and "Traceback" not in r.stderr
