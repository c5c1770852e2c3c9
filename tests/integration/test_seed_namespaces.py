"""The seed article's namespace chapter, demo by demo, through a real pty."""

from __future__ import annotations

import os
import sys
import time

import pytest

from tests.helpers import Terminal

pytestmark = pytest.mark.root


def _shell(busybox, *flags: str) -> Terminal:
    term = Terminal([sys.executable, "-m", "pyctr", "--network=none", "run", "-it", "--name", "busybox", "--rm",
                     *flags, "busybox", "/bin/sh"], busybox.env)
    term.expect("# " if "--user=99:99" not in flags else "$ ")
    return term


def test_interactive_shell_is_pid_1_on_a_container_tty(busybox):
    term = _shell(busybox)
    term.type("ps -o pid,args; tty")
    out = term.expect("/dev/pts/0")
    assert "    1 /bin/sh" in out.replace("\r", "")
    term.type("exit 3")
    assert term.wait() == 3
    assert busybox("ps", "-a", "-q").stdout.strip() == ""  # --rm removed it


def test_inspect_gives_the_host_pid_and_a_background_cat_is_an_ordinary_host_process(busybox):
    term = _shell(busybox)
    try:
        pid = int(busybox("inspect", "--format", "{{.State.Pid}}", "busybox", check=True).stdout)
        assert os.readlink(f"/proc/{pid}/exe").endswith("busybox")
        term.type("cat & echo started-$!-")
        term.expect("\n")  # the echo of what was typed
        inner_pid = term.expect("-\r").rsplit("started-", 1)[1]
        deadline = time.monotonic() + 10
        cats = []
        while not cats and time.monotonic() < deadline:
            cats = [p for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == pid and _comm(int(p)) == "cat"]
        assert cats, "the container's cat is not a child of its init in the host's process table"
        os.kill(int(cats[0]), 9)  # killing it from the host is seen inside
        term.type(f"wait {inner_pid}; echo status=$?")
        term.expect("status=137")
    finally:
        term.type("exit")
        term.wait()


def test_user_99_runs_every_process_as_99_and_namespaces_differ(busybox):
    term = _shell(busybox, "--user=99:99")
    try:
        pid = int(busybox("inspect", "--format", "{{.State.Pid}}", "busybox", check=True).stdout)
        status = open(f"/proc/{pid}/status").read()
        assert "Uid:\t99\t99\t99\t99" in status and "Gid:\t99\t99\t99\t99" in status
        for ns in ("uts", "ipc", "pid", "net", "mnt"):
            assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
        term.type("id -u; id -g")
        out = term.expect("$ ")
        assert "99" in out
    finally:
        term.type("exit")
        term.wait()


def test_the_overlay_merged_mount_is_visible_on_the_host_while_running(busybox):
    term = _shell(busybox)
    try:
        with open("/proc/self/mountinfo") as f:
            mounts = [line for line in f if " overlay " in line and str(busybox.root) in line]
        assert len(mounts) == 1
        assert mounts[0].split()[4].startswith(str(busybox.root / "overlay2"))
        assert mounts[0].split()[4].endswith("/merged")
        assert "lowerdir=" in mounts[0] and "upperdir=" in mounts[0]
    finally:
        term.type("exit")
        term.wait()
    with open("/proc/self/mountinfo") as f:
        assert str(busybox.root) not in f.read()


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError):
        return -1


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""
