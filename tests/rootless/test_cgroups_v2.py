"""cgroup v2 with a subtree delegated to the user (the kernel leg's guest: pure cgroup v2):
limits work for a rootless user as for root, read back by root from the cgroup files."""

from __future__ import annotations

import os

import pytest

from pyctr.testing import rootless

pytestmark = [pytest.mark.matrix,
              pytest.mark.skipif(not rootless.cgroup_v2(), reason="needs cgroup v2 (the kernel-debian61 leg)")]


@pytest.fixture
def delegated(busybox):
    top, leaf, containers = rootless.delegate_cgroup(busybox.user, f"pyctr-rootless-{os.getpid()}")
    busybox.cgroup = leaf
    yield busybox, containers
    busybox.finish()
    rootless.remove_cgroup_tree(top)


def test_limits_in_a_delegated_subtree(delegated):
    s, containers = delegated
    parent = "/" + str(containers.relative_to(rootless.CGROUP2))
    s.pyctr("run", "-d", "--name", "lim", "--network", "none", "--cgroup-parent", parent, "-m", "32m",
            "--pids-limit", "20", "--cpus", "0.5", "busybox", "sleep", "60", check=True)
    try:
        cid = s.pyctr("inspect", "--format", "{{.Id}}", "lim", check=True).stdout.strip()
        path = containers / f"pyctr-{cid}"
        assert (path / "memory.max").read_text().strip() == str(32 << 20)
        assert (path / "pids.max").read_text().strip() == "20"
        assert (path / "cpu.max").read_text().split() == ["50000", "100000"]
        pid = int(s.pyctr("inspect", "--format", "{{.State.Pid}}", "lim", check=True).stdout)
        assert str(pid) in (path / "cgroup.procs").read_text().split()
        inside = s.pyctr("exec", "lim", "cat", "/sys/fs/cgroup/memory.max", check=True).stdout.strip()
        assert inside == str(32 << 20)
        s.pyctr("update", "--pids-limit", "30", "lim", check=True)
        assert (path / "pids.max").read_text().strip() == "30"
    finally:
        s.pyctr("rm", "-f", "lim")
    assert not any(p.name.startswith("pyctr-") for p in containers.iterdir())


def test_not_delegated_is_one_line(busybox):
    """The same host, without a delegated subtree: a limit is refused, a run without one works."""
    done = busybox.pyctr("run", "--rm", "--network", "none", "-m", "32m", "busybox", "true")
    assert done.returncode == 125 and len(done.stderr.strip().splitlines()) == 1
    assert "not delegated to you" in done.stderr
    assert busybox.pyctr("run", "--rm", "--network", "none", "busybox", "true", check=True).returncode == 0
