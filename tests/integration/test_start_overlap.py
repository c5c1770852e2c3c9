"""What a foreground ``run`` does side by side, and that each side still cleans up.

The cgroups are made in a thread while ``create`` makes the layer and the
files (pyctr.core.lifecycle._make_cgroups_ahead); at the end, the rootfs and
the cgroups are released side by side when the container had its own PID
namespace, one after the other when it did not (what outlived the init is
killed first). The session's leak check (mounts, cgroups, processes) runs
after each of these tests too.
"""

from __future__ import annotations

import os
import time

import pytest

from pyctr.testing import leaks

pytestmark = [pytest.mark.root, pytest.mark.matrix]

# A hook plugin that fails the create once the cgroups made ahead exist: it
# waits for them in every hierarchy, so the failure comes after the thread
# made them, never before.
FAILING_CREATE = r'''
import os, time
from pyctr import hookimpl

def _container_cgroups(cid):
    found = []
    for base in os.environ["OWN_CGROUP_DIRS"].split(":"):
        for dirpath, dirs, _files in os.walk(base):
            if "pyctr-" + cid in dirs:
                found.append(dirpath)
    return found

@hookimpl
def pyctr_create_container(container):
    deadline = time.monotonic() + 10
    hierarchies = len(os.environ["OWN_CGROUP_DIRS"].split(":"))
    while len(_container_cgroups(container.id)) < hierarchies and time.monotonic() < deadline:
        time.sleep(0.01)
    with open(os.environ["SEEN_FILE"], "w") as f:
        f.write(f"{container.id} {len(_container_cgroups(container.id))}")
    raise RuntimeError("refused by the test plugin")
'''


def _named_cgroups(cid: str) -> list[str]:
    return [dirpath for base in leaks.own_cgroup_dirs() for dirpath, dirs, _f in os.walk(base)
            if f"pyctr-{cid}" in dirs]


def test_a_create_that_fails_after_its_cgroups_were_made_ahead_leaves_none(busybox, tmp_path):
    from tests.helpers import install_hook_plugin

    busybox.env["PYTHONPATH"] = install_hook_plugin(tmp_path / "site", "pyctr-failing-create",
                                                    "pyctr_failing_create", FAILING_CREATE)
    # only hierarchies pyctr makes cgroups in: not a hybrid host's named systemd one or its cgroup2 mount
    skipped = ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified")
    busybox.env["OWN_CGROUP_DIRS"] = ":".join(d for d in leaks.own_cgroup_dirs()
                                              if not any(d.rstrip("/") == s or d.startswith(s + "/") for s in skipped))
    busybox.env["SEEN_FILE"] = str(tmp_path / "seen")
    r = busybox("--network=none", "run", "--rm", "busybox", "true")
    assert r.returncode == 125, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "refused by the test plugin" in r.stderr
    cid, seen = (tmp_path / "seen").read_text().split()
    assert int(seen) >= 1, "the plugin never saw the cgroups made ahead: the test proves nothing"
    assert _named_cgroups(cid) == []
    assert cid not in busybox("ps", "-a", "--no-trunc", "-q").stdout


def test_a_process_left_in_the_containers_pid_namespace_goes_with_it(busybox):
    """Own PID namespace: the rootfs goes while the cgroups do; the kernel killed the rest already."""
    started = time.monotonic()
    r = busybox("--network=none", "run", "--rm", "busybox", "sh", "-c", "sleep 60 & echo started")
    assert r.returncode == 0 and r.stdout.strip() == "started", r.stderr
    assert time.monotonic() - started < 30


def test_what_outlives_the_init_in_the_hosts_pid_namespace_is_killed_before_its_root_goes(busybox):
    """No PID namespace of its own: the cgroups first (their removal kills the rest), then the rootfs."""
    r = busybox("--network=none", "run", "--rm", "--pid", "host", "busybox", "sh", "-c", "sleep 60 & echo $!")
    assert r.returncode == 0, r.stderr
    pid = int(r.stdout.strip())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state in ("Z", "X"):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"pid {pid}, left behind by the container, is still alive")


def test_a_run_killed_at_random_moments_is_reported_truly_and_rm_and_prune_leave_nothing(busybox):
    """SIGKILL of a foreground ``pyctr run`` anywhere in its start (the cgroups' thread, the
    fork, "go") or while its container runs: ``ps -a`` says what is true (a running container
    has a live init), ``rm -f`` removes each, ``system prune`` what no record names (cgroups
    made ahead before their handle was saved); the leak check after the test sees nothing."""
    import random
    import signal
    import subprocess

    from tests.conftest import PYCTR

    started = time.monotonic()
    busybox("--network=none", "run", "--rm", "busybox", "true", check=True)
    full = time.monotonic() - started
    rnd = random.Random(5)
    killed = 0
    for i in range(16):
        p = subprocess.Popen(PYCTR + ["--network=none", "run", "--rm", "busybox", "sleep", "1"], env=busybox.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            p.wait(timeout=rnd.uniform(0.0, full * 1.3))
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
            killed += 1
        running = []
        for cid in busybox("ps", "-a", "-q", "--no-trunc", check=True).stdout.split():
            status, pid = busybox("inspect", "--format", "{{.State.Status}} {{.State.Pid}}", cid,
                                  check=True).stdout.split()
            if status == "running":
                assert os.path.exists(f"/proc/{pid}"), f"{cid[:12]} is said to run as pid {pid}, which is gone"
                running.append(cid)
            elif i % 2 == 0:
                busybox("rm", "-f", cid, check=True)  # (the others: system prune's, below)
        if running:
            busybox("rm", "-f", *running, check=True)
    assert killed, "every run finished before it could be killed: the test proves nothing"
    busybox("system", "prune", "-f", check=True)
    assert busybox("ps", "-a", "-q").stdout.strip() == ""


# What a run SIGKILLed between its cgroups' mkdir (made ahead, in a thread) and the save of their
# handle leaves: a container record that does not name the cgroups the driver made (and recorded).
MAKE_CGROUPS_AHEAD = """
import sys
from pyctr.core import config
from pyctr.core.engine import Engine
eng = Engine(config.load({}))
eng.driver("cgroup", eng.config.cgroup_manager).create(sys.argv[1], None, {})
"""


def test_system_prune_removes_the_cgroups_of_a_start_killed_before_their_handle_was_saved(busybox):
    """(CI's kernel leg once saw it: prune looked for orphan cgroups while the record was
    still there, then removed the record, and the cgroups stayed.)"""
    import subprocess
    import sys

    cid = busybox("--network=none", "create", "busybox", "true", check=True).stdout.strip()
    subprocess.run([sys.executable, "-c", MAKE_CGROUPS_AHEAD, cid], env=busybox.env, check=True)
    assert _named_cgroups(cid), "the driver made no cgroup: the test proves nothing"
    out = busybox("system", "prune", "-f", check=True).stdout
    assert cid in out, out  # removed as a stopped container
    assert _named_cgroups(cid) == [], out
    assert busybox("ps", "-a", "-q").stdout.strip() == ""


def test_rm_removes_the_cgroups_of_a_start_killed_before_their_handle_was_saved(busybox):
    import subprocess
    import sys

    cid = busybox("--network=none", "create", "busybox", "true", check=True).stdout.strip()
    subprocess.run([sys.executable, "-c", MAKE_CGROUPS_AHEAD, cid], env=busybox.env, check=True)
    assert _named_cgroups(cid), "the driver made no cgroup: the test proves nothing"
    busybox("rm", "-f", cid, check=True)
    assert _named_cgroups(cid) == []
