"""containerd 1.6 (Debian's) runs pyctr containers: ``ctr`` with ``--runc-binary pyctr-runtime``.

containerd is started by the test with a private root, state and socket and
its CRI plugin disabled; the busybox image is an OCI archive built from
busybox-static and imported with ``ctr images import``. The shim
(containerd-shim-runc-v2) calls pyctr-runtime exactly as it calls runc.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import pytest

from pyctr.testing.leaks import remove_cgroup
from pyctr.testing.containerd import Containerd, available, image_archive

pytestmark = [pytest.mark.root, pytest.mark.slow]

RUNTIME = os.path.join(os.path.dirname(sys.executable), "pyctr-runtime")
IMAGE = "localhost/busybox:latest"


@pytest.fixture
def cgroup_parent():
    name = "pyctr-ctr-" + secrets.token_hex(4)
    yield name
    left = remove_cgroup(name)
    assert not left, f"{left} is left"


@pytest.fixture
def containerd(tmp_path, busybox_rootfs):
    why = available()
    if why:
        pytest.skip(why)
    c = Containerd(tmp_path / "ctrd", runtime=RUNTIME).start()
    try:
        archive = image_archive(busybox_rootfs, tmp_path / "busybox.tar", IMAGE, ["sh"])
        p = c.ctr("images", "import", str(archive))
        assert p.returncode == 0, p.stderr
        yield c
    finally:
        for cid in c.ctr("containers", "ls", "-q").stdout.decode().split():
            c.ctr("task", "kill", "-s", "SIGKILL", cid)
            c.ctr("task", "delete", "-f", cid)
            c.ctr("containers", "delete", cid)
        c.ctr("images", "rm", IMAGE)
        c.stop()


def run(c: Containerd, cgroup_parent: str, cid: str, *args: str, opts: tuple[str, ...] = ("--rm",),
        **kw) -> subprocess.CompletedProcess:
    return c.ctr("run", *opts, "--runtime", "io.containerd.runc.v2", "--runc-binary", RUNTIME,
                 "--cgroup", f"{cgroup_parent}/{cid}", IMAGE, cid, *args, **kw)


def test_ctr_run_output_and_exit_code(containerd, cgroup_parent):
    p = run(containerd, cgroup_parent, "out1", "sh", "-c", "echo hello; echo err >&2; exit 3")
    assert p.returncode == 3, (p.stderr, containerd.log_tail())
    assert p.stdout == b"hello\n" and b"err" in p.stderr
    p = run(containerd, cgroup_parent, "out2", "sh", "-c", "echo $$; cat /proc/self/cgroup")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.decode().splitlines()
    assert lines[0] == "1"
    assert any(line.endswith(f"/{cgroup_parent}/out2") for line in lines[1:]), lines


def test_ctr_missing_command_is_an_error(containerd, cgroup_parent):
    p = run(containerd, cgroup_parent, "nocmd", "no-such-command")
    assert p.returncode != 0
    assert b"no-such-command" in p.stderr  # the runtime's error reached ctr (log.json, last error line)


def test_ctr_tty(containerd, cgroup_parent, tmp_path):
    cmd = " ".join(["ctr", "--address", containerd.address, "--namespace", containerd.namespace, "run", "--rm", "-t",
                    "--runtime", "io.containerd.runc.v2", "--runc-binary", RUNTIME, "--cgroup",
                    f"{cgroup_parent}/tty1", IMAGE, "tty1", "sh", "-c", "'tty; exit 5'"])
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    assert b"/dev/pts/0" in p.stdout, (p.stdout, p.stderr)
    assert p.returncode == 5


def test_ctr_exec_kill_delete_metrics_ps(containerd, cgroup_parent):
    # PID 1 has no default signal actions: the trap makes SIGTERM end it
    p = run(containerd, cgroup_parent, "d1", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done",
            opts=("-d",))
    assert p.returncode == 0, p.stderr
    try:
        p = containerd.ctr("task", "exec", "--exec-id", "e1", "d1", "sh", "-c", "echo in-exec $$; exit 4")
        assert p.returncode == 4, p.stderr
        assert p.stdout.startswith(b"in-exec ") and p.stdout.split()[1] != b"1"
        p = containerd.ctr("task", "metrics", "d1")
        assert p.returncode == 0, p.stderr
        assert b"memory" in p.stdout.lower()
        p = containerd.ctr("task", "ps", "d1")
        assert p.returncode == 0 and len(p.stdout.decode().splitlines()) >= 2
        p = containerd.ctr("task", "pause", "d1")
        assert p.returncode == 0, p.stderr
        assert b"PAUSED" in containerd.ctr("task", "ls").stdout
        assert containerd.ctr("task", "resume", "d1").returncode == 0
        assert containerd.ctr("task", "kill", "-s", "SIGTERM", "d1").returncode == 0
        deadline = time.monotonic() + 30
        while b"STOPPED" not in containerd.ctr("task", "ls").stdout and time.monotonic() < deadline:
            time.sleep(0.1)
        assert b"STOPPED" in containerd.ctr("task", "ls").stdout
    finally:
        containerd.ctr("task", "delete", "-f", "d1")
        containerd.ctr("containers", "delete", "d1")
    assert containerd.ctr("task", "ls", "-q").stdout.strip() == b""
    assert not os.listdir(containerd.base / "state" / "io.containerd.runtime.v2.task" / containerd.namespace) \
        if (containerd.base / "state" / "io.containerd.runtime.v2.task" / containerd.namespace).exists() else True


def test_ctr_seccomp(containerd, cgroup_parent):
    p = run(containerd, cgroup_parent, "sc1", "grep", "Seccomp:", "/proc/self/status", opts=("--rm", "--seccomp"))
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [b"Seccomp:", b"2"]
    p = run(containerd, cgroup_parent, "sc2", "grep", "Seccomp:", "/proc/self/status")
    assert p.stdout.split() == [b"Seccomp:", b"0"]
