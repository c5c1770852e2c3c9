"""The kernel-matrix runner boots Debian's 6.1 kernel and gives it what the suite needs."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from pyctr.testing.vm import Kernel, prepare_kernel, run_in_vm

pytestmark = pytest.mark.vm

ROOT = Path(__file__).resolve().parents[2]


def guest_sh(kernel: Kernel, script: str, timeout: float = 180):
    result = run_in_vm(["/bin/sh", "-ec", textwrap.dedent(script)], kernel, timeout=timeout)
    assert not result.message, result.message
    return result


def test_boots_the_kernel_and_returns_output_and_exit_code(guest_kernel: Kernel, tmp_path: Path):
    result = run_in_vm(["sh", "-c", 'uname -r; pwd; echo "$GREETING"; echo oops >&2; exit 3'],
                       guest_kernel, cwd=tmp_path, shares=[tmp_path],
                       env={"GREETING": "hello guest"}, timeout=180)
    assert result.message == ""
    assert result.returncode == 3
    release, cwd, greeting = result.output.splitlines()
    assert release.startswith("6.1.") and release == guest_kernel.version
    assert cwd == str(tmp_path)
    assert greeting == "hello guest"
    assert result.stderr == "oops\n"
    assert 0 < result.timings["guest_init"] < result.timings["guest_ready"]
    assert result.facts.splitlines()[0] == guest_kernel.version


def test_a_kernel_image_path_boots_through_its_cached_vmlinux(guest_kernel: Kernel):
    assert guest_kernel.modules_root is not None
    bzimage = guest_kernel.modules_root / "boot" / f"vmlinuz-{guest_kernel.version}"
    kernel = prepare_kernel(str(bzimage))
    assert kernel.version == guest_kernel.version
    assert kernel.image.read_bytes()[:4] == b"\x7fELF"
    assert kernel.modules_dir == guest_kernel.modules_dir


def test_host_root_is_read_only_and_shares_are_writable(guest_kernel: Kernel, tmp_path: Path):
    marker = tmp_path / "from-guest"
    result = run_in_vm(["sh", "-c", f"""
        touch {ROOT}/written-in-guest && echo overlay-writable
        echo hi > {marker}
        cd {tmp_path.parent}/not-shared
    """], guest_kernel, shares=[tmp_path], timeout=180)
    assert result.returncode != 0  # the guest's /tmp is its own: only the share is there
    assert "overlay-writable" in result.output
    assert not (ROOT / "written-in-guest").exists()  # the write stayed in the guest's tmpfs
    assert marker.read_text() == "hi\n"


def test_cgroup2_only_with_memory_delegated(guest_kernel: Kernel):
    result = guest_sh(guest_kernel, """
        awk '$3 ~ /^cgroup/ {print $2, $3}' /proc/mounts
        mkdir /sys/fs/cgroup/pyctr-vm-test
        cat /sys/fs/cgroup/pyctr-vm-test/cgroup.controllers
        echo 10485760 > /sys/fs/cgroup/pyctr-vm-test/memory.max
        echo 20 > /sys/fs/cgroup/pyctr-vm-test/pids.max
        echo "memory.max=$(cat /sys/fs/cgroup/pyctr-vm-test/memory.max)"
        echo "pids.max=$(cat /sys/fs/cgroup/pyctr-vm-test/pids.max)"
        rmdir /sys/fs/cgroup/pyctr-vm-test
    """)
    assert result.returncode == 0, result.stderr
    lines = result.output.splitlines()
    assert lines[0] == "/sys/fs/cgroup cgroup2"
    controllers = lines[1].split()
    assert {"memory", "pids", "cpu", "io", "cpuset"} <= set(controllers)
    assert "memory.max=10485760" in lines
    assert "pids.max=20" in lines


def test_overlayfs_with_upper_on_tmpfs(guest_kernel: Kernel):
    result = guest_sh(guest_kernel, """
        d=$(mktemp -d)
        mkdir $d/lower $d/upper $d/work $d/merged
        echo lower > $d/lower/a
        mount -t overlay -o lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work ov $d/merged
        echo changed > $d/merged/a
        echo new > $d/merged/b
        stat -f -c %T $d/upper
        cat $d/lower/a $d/upper/a $d/upper/b
        umount $d/merged
    """)
    assert result.returncode == 0, result.stderr
    assert result.output.split() == ["tmpfs", "lower", "changed", "new"]


NFS_IN_GUEST = """
import os, sys, tempfile, time
from pyctr.testing import nfs
assert nfs.nfs_client_available(), "no NFSv4 client"
export, target = tempfile.mkdtemp(), tempfile.mkdtemp()
t0 = time.monotonic()
with nfs.start_nfs_server(export) as server:
    t1 = time.monotonic()
    nfs.mount_nfs(server, target)
    try:
        with open(os.path.join(target, "through-nfs"), "w") as f:
            f.write("written over NFS")
        os.sync()
        print(open(os.path.join(export, "through-nfs")).read())
        print([l.split()[2] for l in open("/proc/mounts") if l.split()[1] == target][0])
    finally:
        nfs.umount(target)
print(f"server {t1 - t0:.1f} s, mount+io {time.monotonic() - t1:.1f} s", file=sys.stderr)
"""


def test_nfs_through_ganesha_in_the_guest(guest_kernel: Kernel):
    started = time.monotonic()
    result = run_in_vm([sys.executable, "-c", NFS_IN_GUEST], guest_kernel, cwd=ROOT, timeout=300)
    assert not result.message, result.message
    assert result.returncode == 0, result.stderr
    assert result.output.splitlines() == ["written over NFS", "nfs4"]
    print(f"NFS test: {time.monotonic() - started:.1f} s in all; {result.stderr.strip()}")


def test_a_hanging_guest_is_killed_at_the_time_limit(guest_kernel: Kernel):
    started = time.monotonic()
    result = run_in_vm(["sleep", "1000"], guest_kernel, timeout=20)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "timed out after 20 s" in result.message
    assert elapsed < 25


def test_cli_streams_output_and_exits_with_the_command_code(guest_kernel: Kernel):
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "pyctr.testing.vm", "--kernel",
                           str(guest_kernel.image), "--timeout", "20", "--", "sleep", "1000"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 124
    assert "timed out after 20 s" in proc.stderr
