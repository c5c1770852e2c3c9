"""podman 4.3 (and its conmon) runs pyctr containers with ``--runtime pyctr-runtime``.

podman gets a private storage root, run root and events file; the image is
an OCI archive built from busybox-static (``podman load``). No network
(``--network none``) and no cgroup of podman's own placement
(``--cgroups=disabled``: the runtime then puts the container below the cgroup
it runs in, which is the test's).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from pyctr.testing.containerd import image_archive

pytestmark = [pytest.mark.root, pytest.mark.slow]

RUNTIME = os.path.join(os.path.dirname(sys.executable), "pyctr-runtime")
IMAGE = "localhost/busybox:latest"


class Podman:
    def __init__(self, base) -> None:
        self.base = base
        conf = base / "containers.conf"
        conf.write_text('[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n')
        self.env = dict(os.environ, CONTAINERS_CONF=str(conf), XDG_RUNTIME_DIR=str(base / "xdg"))
        self.cgroup_parent = "pyctr-pm-" + base.name.split("-")[-1]
        self.args = ["podman", "--root", str(base / "storage"), "--runroot", str(base / "run"),
                     "--runtime", RUNTIME, "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
                     "--events-backend", "file", "--tmpdir", str(base / "tmp")]

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.args + list(args), capture_output=True, text=True, timeout=timeout,
                              env=self.env, stdin=subprocess.DEVNULL)

    def run(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self("run", *self.run_options, *args, **kw)

    @property
    def run_options(self) -> list[str]:
        # a relative cgroup parent: the runtime places the container below the cgroup it runs
        # in (conmon's, left where podman is: --cgroups=no-conmon), i.e. below the test's
        # explicit ulimits: podman raises nofile/nproc to the maximum otherwise, which needs
        # CAP_SYS_RESOURCE (not every test machine's root has it; runc fails the same way)
        return ["--network", "none", "--cgroups", "no-conmon", "--cgroup-parent", self.cgroup_parent,
                "--log-driver", "k8s-file", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


@pytest.fixture
def podman(tmp_path, busybox_rootfs):
    if shutil.which("podman") is None or shutil.which("conmon") is None:
        pytest.skip("podman and conmon are not installed")
    import tempfile
    from pathlib import Path

    short = Path(tempfile.mkdtemp(prefix="pm-", dir="/tmp"))  # podman wants a run root under 50 characters
    (short / "xdg").mkdir()
    p = Podman(short)
    archive = image_archive(busybox_rootfs, tmp_path / "busybox.tar", IMAGE, ["sh"])
    r = p("load", "-i", str(archive))
    assert r.returncode == 0, r.stderr
    yield p
    p("rm", "-af", "-t", "0")
    p("rmi", "-af")
    shutil.rmtree(short, ignore_errors=True)
    from pyctr.testing.leaks import remove_cgroup

    left = remove_cgroup(p.cgroup_parent)
    assert not left, f"{left} is left"


def test_podman_run_output_and_exit_code(podman):
    r = podman.run("--rm", IMAGE, "sh", "-c", "echo hello; echo $$; exit 3")
    assert r.returncode == 3, r.stderr
    assert r.stdout.split() == ["hello", "1"]


def test_podman_exit_codes_126_127(podman, tmp_path):
    r = podman.run("--rm", IMAGE, "no-such-command")
    assert r.returncode == 127, r.stderr
    assert "no-such-command" in r.stderr
    r = podman.run("--rm", IMAGE, "/etc/passwd")
    assert r.returncode == 126, r.stderr


def test_podman_run_it(podman):
    cmd = " ".join(podman.args + ["run", "--rm", "-it", *podman.run_options, IMAGE, "sh", "-c", "'tty; exit 4'"])
    r = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, timeout=120, env=podman.env,
                       stdin=subprocess.DEVNULL)
    assert b"/dev/pts/0" in r.stdout, (r.stdout, r.stderr)
    assert r.returncode == 4


def test_podman_detached_exec_stop_rm(podman):
    r = podman.run("-d", "--name", "d1", IMAGE, "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done")
    assert r.returncode == 0, r.stderr
    r = podman("exec", "d1", "sh", "-c", "echo in-exec; exit 6")
    assert r.returncode == 6 and r.stdout == "in-exec\n", r.stderr
    r = podman("inspect", "--format", "{{.State.Status}}", "d1")
    assert r.stdout.strip() == "running"
    started = time.monotonic()
    r = podman("stop", "-t", "10", "d1")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - started < 8  # the trap ran: SIGTERM reached the container's PID 1
    r = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "d1")
    assert r.stdout.split() == ["exited", "0"]
    assert podman("rm", "d1").returncode == 0
    assert podman("ps", "-aq").stdout.strip() == ""
