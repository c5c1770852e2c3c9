"""Run options and Docker's default hardening, read from what the kernel says inside."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.root


def run(p, *args: str, check: bool = True):
    r = p("--network=none", "run", "--rm", *args)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_kernel_information_is_masked_and_proc_sys_read_only(busybox):
    # /proc/kcore only exists with CONFIG_PROC_KCORE; timer_list always does and is large on the host
    masked = [p for p in ("/proc/kcore", "/proc/timer_list", "/proc/keys") if os.path.exists(p)]
    assert os.path.getsize("/proc/timer_list") == 0 and len(open("/proc/timer_list").read()) > 0
    script = "; ".join(f"cat {p} | wc -c" for p in masked)
    r = run(busybox, "busybox", "sh", "-c",
            script + "; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname && echo WROTE || echo REFUSED")
    *sizes, firmware, result = r.stdout.split()
    assert sizes == ["0"] * len(masked) and firmware == "0" and result == "REFUSED"


def test_dev_has_only_the_standard_devices(busybox):
    names = set(run(busybox, "busybox", "ls", "/dev").stdout.split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "ptmx"} <= names
    assert not names & {"sda", "vda", "kmsg", "mem", "loop0"}


def test_cap_drop_all_and_cap_add(busybox):
    assert run(busybox, "--cap-drop", "ALL", "busybox", "grep", "CapBnd", "/proc/self/status").stdout.split()[1] == "0000000000000000"
    r = run(busybox, "--cap-add", "SYS_ADMIN", "busybox", "grep", "CapEff", "/proc/self/status")
    assert int(r.stdout.split()[1], 16) & (1 << 21)
    r = run(busybox, "--cap-add", "NOT_A_CAP", "busybox", "true", check=False)
    assert r.returncode == 125 and "NOT_A_CAP" in r.stderr


def test_privileged_has_every_capability_pyctr_holds_and_no_masks(busybox):
    r = run(busybox, "--privileged", "busybox", "sh", "-c", "grep CapBnd /proc/self/status; test -n \"$(cat /proc/timer_list)\" && echo kcore-visible")
    with open("/proc/self/status") as f:
        ours = next(line for line in f if line.startswith("CapBnd")).split()[1]
    assert r.stdout.split()[1] == ours
    assert "kcore-visible" in r.stdout


def test_no_new_privileges(busybox):
    assert run(busybox, "--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs",
               "/proc/self/status").stdout.split()[1] == "1"


def test_read_only_rootfs(busybox):
    r = run(busybox, "--read-only", "busybox", "sh", "-c", "touch /x 2>&1 || echo REFUSED", check=False)
    assert "REFUSED" in r.stdout


def test_environment_workdir_entrypoint_and_env_file(busybox, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=1\n")
    r = run(busybox, "-e", "A=b", "--env-file", str(env_file), "-w", "/tmp", "--entrypoint", "sh", "busybox",
            "-c", "echo $A $FROM_FILE $(pwd) $HOME")
    assert r.stdout.split() == ["b", "1", "/tmp", "/root"]


def test_init_runs_a_reaper_as_pid_1(busybox):
    r = run(busybox, "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.stdout.startswith("/sbin/pyctr-init -- sh")


def test_pid_host_and_pid_container(busybox):
    r = run(busybox, "--pid", "host", "busybox", "sh", "-c", "readlink /proc/self/ns/pid")
    assert r.stdout.strip() == os.readlink("/proc/self/ns/pid")
    busybox("--network=none", "run", "-d", "--name", "target", "busybox", "sleep", "300", check=True)
    try:
        r = run(busybox, "--pid", "container:target", "busybox", "ps", "-o", "args")
        assert "sleep 300" in r.stdout
    finally:
        busybox("rm", "-f", "target")


@pytest.fixture
def reachable(busybox_rootfs):
    """A storage root the remapped root can reach (pytest's own tmp dirs are 0700)."""
    import shutil
    import tempfile

    from tests.conftest import Pyctr

    base = tempfile.mkdtemp(prefix="pyctr-userns-", dir="/var/tmp")
    os.chmod(base, 0o711)
    p = Pyctr(__import__("pathlib").Path(base))
    p("import", "--change", 'CMD ["sh"]', str(busybox_rootfs), "busybox", check=True)
    yield p
    p("system", "prune", "-f")
    shutil.rmtree(base, ignore_errors=True)


def test_user_namespace_maps_root_to_an_unprivileged_host_uid(reachable):
    r = run(reachable, "--userns", "private", "busybox", "sh", "-c", "cat /proc/self/uid_map; id -u; touch /ok && echo wrote")
    fields = r.stdout.split()
    assert fields[:3] == ["0", "100000", "65536"] and fields[3] == "0" and fields[4] == "wrote"
    r = run(reachable, "--uidmap", "0:200000:1000", "busybox", "cat", "/proc/self/uid_map")
    assert r.stdout.split() == ["0", "200000", "1000"]
    assert run(reachable, "--uidmap", "nonsense", "busybox", "true", check=False).returncode == 125


def test_user_namespace_refuses_a_root_the_remapped_uid_cannot_reach(busybox):
    r = run(busybox, "--userns", "private", "busybox", "true", check=False)
    assert r.returncode == 125 and "chmod o+x" in r.stderr
    assert busybox("ps", "-a", "-q").stdout.strip() == ""


def test_an_image_whose_proc_is_a_symlink_is_refused(pyctr, busybox_rootfs, tmp_path):
    import shutil

    evil = tmp_path / "evil"
    shutil.copytree(busybox_rootfs, evil, symlinks=True)
    shutil.rmtree(evil / "proc")
    os.symlink("/etc", evil / "proc")
    pyctr("import", str(evil), "evil", check=True)
    r = pyctr("--network=none", "run", "--rm", "evil", "/bin/true")
    assert r.returncode == 125
    assert "proc" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert os.path.isdir("/etc") and not os.path.ismount("/etc")


def test_labels_are_recorded(busybox):
    busybox("--network=none", "run", "--name", "lab", "-l", "team=blue", "busybox", "true", check=True)
    assert busybox("inspect", "--format", "{{index .Config.Labels \"team\"}}", "lab").stdout.strip() == "blue"
    assert "lab" in busybox("ps", "-a", "--filter", "label=team=blue", "--format", "{{.Names}}").stdout
    busybox("rm", "lab", check=True)


def test_joining_a_stopped_containers_namespace_fails_cleanly(busybox):
    busybox("--network=none", "run", "--name", "stopped", "busybox", "true", check=True)
    r = busybox("--network=none", "run", "--rm", "--pid", "container:stopped", "-m", "16m", "busybox", "true")
    assert r.returncode == 125 and "not running" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    busybox("rm", "stopped", check=True)
    # the leak check proves the mount and the cgroup made before the failure are gone
