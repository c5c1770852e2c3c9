"""Issue 17's benchmark: the docker CLI through ``pyctr system service`` against the same CLI
talking to a reference dockerd 20.10, and against pyctr's own command line.

    docker run --rm --network none busybox true   (service | dockerd 20.10 | podman service | ``pyctr run``)
    docker ps                                     (service | dockerd 20.10 | podman service | ``pyctr ps``)
    the idle service's RSS (and dockerd's + containerd's, podman's service's, for scale)

Targets: run through the service <= 0.5x dockerd's and <= 1.2x ``pyctr run``; ``docker ps``
through the service <= 1.5x ``pyctr ps``; the idle service < 40 MB RSS.

The reference daemon is private: its own containerd (root, state and socket in the
workspace), dockerd with its own data-root, exec-root, socket and pidfile,
``--bridge=none --iptables=false``, its cgroups under its own (``--cgroup-parent``
relative); both are stopped by PID and everything they left is removed. Nothing is
started when ``/usr/sbin/dockerd`` or ``containerd`` is missing (those rows say so).
The docker CLI is Debian's docker.io 20.10 (``/usr/bin/docker``), as the daemon.
``podman system service`` (when podman is installed) runs with a root, runroot and socket
of its own (runc and explicit ulimits, as benchmarks/common.py's podman rows), stopped by PID.
The tools take turns (common.interleaved_medians).

Run as root, under the privileged lock: ``python benchmarks/bench_api.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

from common import PODMAN, PODMAN_RUN, PYCTR, have, interleaved_medians, report  # noqa: E402

DOCKER = "/usr/bin/docker"  # Debian's docker.io 20.10 CLI
DOCKERD = "/usr/sbin/dockerd"


def _wait_for_socket(path: Path, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if path.exists():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(path))
                return
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {path} within {timeout}s")


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _stop(proc: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ReferenceDaemon:
    """containerd + dockerd 20.10, private to ``base``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.sock = base / "docker.sock"
        self.containerd: subprocess.Popen[bytes] | None = None
        self.dockerd: subprocess.Popen[bytes] | None = None
        self.cgroup_parent = f"pyctr-bench-dockerd-{os.getpid()}"
        self.run_docker_was_there = True

    def start(self) -> ReferenceDaemon:
        # dockerd 20.10 makes /run/docker (and plugins/ in it) whatever its roots: ours to remove if it was not there
        self.run_docker_was_there = os.path.lexists("/run/docker")
        ctd = self.base / "containerd"
        ctd.mkdir(parents=True)
        (ctd / "config.toml").write_text(
            "version = 2\n"
            f'root = "{ctd / "root"}"\nstate = "{ctd / "state"}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{ctd / "containerd.sock"}"\n'
            f'[ttrpc]\n  address = "{ctd / "containerd.sock.ttrpc"}"\n'
            '[debug]\n  address = ""\n[metrics]\n  address = ""\n')
        with open(self.base / "containerd.log", "wb") as log:
            self.containerd = subprocess.Popen(["containerd", "--config", str(ctd / "config.toml")],
                                               stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        _wait_for_socket(ctd / "containerd.sock", self.containerd, "containerd")
        (self.base / "daemon.json").write_text("{}")
        with open(self.base / "dockerd.log", "wb") as log:
            self.dockerd = subprocess.Popen(
                [DOCKERD, "--config-file", str(self.base / "daemon.json"), "--data-root", str(self.base / "data"),
                 "--exec-root", str(self.base / "exec"), "--pidfile", str(self.base / "dockerd.pid"),
                 "-H", f"unix://{self.sock}", "--containerd", str(ctd / "containerd.sock"),
                 "--bridge=none", "--iptables=false", "--ip-masq=false", "--userland-proxy=false",
                 "--cgroup-parent", self.cgroup_parent],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        _wait_for_socket(self.sock, self.dockerd, "dockerd")
        return self

    def rss_kib(self) -> int:
        return sum(_rss_kib(p.pid) for p in (self.dockerd, self.containerd) if p is not None and p.poll() is None)

    def stop(self) -> None:
        if self.dockerd is not None and self.dockerd.poll() is None:
            env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}")
            ids = subprocess.run([DOCKER, "ps", "-aq"], env=env, capture_output=True, text=True).stdout.split()
            if ids:
                subprocess.run([DOCKER, "rm", "-f", *ids], env=env, capture_output=True)
        _stop(self.dockerd)
        _stop(self.containerd)
        # what they may have left: mounts under the workspace, cgroups of our own naming, /run/docker
        _umount_under(self.base)
        if not self.run_docker_was_there:
            for place in ("/run/docker/plugins", "/run/docker"):
                try:
                    os.rmdir(place)  # only when empty: anything else in it is not ours
                except OSError:
                    pass
        for root in Path("/sys/fs/cgroup").iterdir():
            own = root / _own_cgroup(root.name).lstrip("/") / self.cgroup_parent
            if own.is_dir():
                for sub in sorted(own.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                    if sub.is_dir():
                        try:
                            sub.rmdir()
                        except OSError:
                            pass
                try:
                    own.rmdir()
                except OSError:
                    pass


class PodmanService:
    """``podman system service`` with a storage root, runroot and socket private to ``base``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.sock = base / "podman.sock"
        self.argv = [*PODMAN, "--root", str(base / "root"), "--runroot", str(base / "run"),
                     "--events-backend", "file", "--cgroup-manager", "cgroupfs"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PodmanService:
        self.base.mkdir(parents=True)
        with open(self.base / "podman.log", "wb") as log:
            self.proc = subprocess.Popen([*self.argv, "system", "service", "--time", "0", f"unix://{self.sock}"],
                                         stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        _wait_for_socket(self.sock, self.proc, "podman system service")
        return self

    def rss_kib(self) -> int:
        return _rss_kib(self.proc.pid) if self.proc is not None and self.proc.poll() is None else 0

    def stop(self) -> None:
        _stop(self.proc)
        # its containers, storage and mounts: all under its own root
        # (not ``system reset``: it would also remove the machine's podman networks, which are shared)
        subprocess.run([*self.argv, "rm", "-af"], capture_output=True)
        subprocess.run([*self.argv, "rmi", "-af"], capture_output=True)
        _umount_under(self.base)


def _umount_under(base: Path) -> None:
    mounts = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True).stdout.split()
    for target in sorted((m for m in mounts if m.startswith(str(base))), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)


def _own_cgroup(controller_dir: str) -> str:
    """This process's cgroup path in the hierarchy mounted at /sys/fs/cgroup/<controller_dir>."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            names = controllers.split(",") if controllers else ["unified"]
            if controller_dir in names or controller_dir.split(",")[0] in names or \
                    controllers == f"name={controller_dir}":
                return path
    return "/"


def _load_busybox(env: dict[str, str], engine: dict[str, str]) -> None:
    """``pyctr save busybox | docker load`` into the engine ``engine`` (DOCKER_HOST) names."""
    saved = subprocess.Popen(PYCTR + ["save", "busybox"], env=env, stdout=subprocess.PIPE)
    subprocess.run([DOCKER, "load"], env=engine, stdin=saved.stdout, check=True, stdout=subprocess.DEVNULL)
    saved.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pyctr-bench-api-"))
    env = dict(os.environ, PYCTR_ROOT=str(work / "root"), PYCTR_RUNROOT=str(work / "run"),
               PYCTR_CONFIG=str(work / "none.toml"), DOCKER_CONFIG=str(work / "docker-config"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as an installed wheel has it
    if not os.environ.get("PYCTR_BENCH_PLUGINS"):
        env["PYCTR_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # no third-party hook plugin (the dev venv has one)
    (work / "docker-config").mkdir()
    service: subprocess.Popen[bytes] | None = None
    daemon: ReferenceDaemon | None = None
    podman: PodmanService | None = None
    try:
        from pyctr.testing.rootfs import build_busybox_rootfs

        rootfs = build_busybox_rootfs(work / "rootfs")
        subprocess.run(PYCTR + ["import", "--change", 'CMD ["sh"]', str(rootfs), "busybox"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        sock = work / "pyctr.sock"
        with open(work / "service.log", "wb") as log:
            service = subprocess.Popen(PYCTR + ["system", "service", "--time", "0", f"unix://{sock}"], env=env,
                                       stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        _wait_for_socket(sock, service, "pyctr system service")
        via_service = dict(env, DOCKER_HOST=f"unix://{sock}")
        time.sleep(2)
        rss_fresh = _rss_kib(service.pid)
        have_daemon = os.path.exists(DOCKERD) and shutil.which("containerd") is not None
        via_dockerd = None
        if have_daemon:
            daemon = ReferenceDaemon(work / "dockerd").start()
            via_dockerd = dict(env, DOCKER_HOST=f"unix://{daemon.sock}")
            _load_busybox(env, via_dockerd)
        via_podman = None
        if have("podman"):
            podman = PodmanService(work / "podman").start()
            via_podman = dict(env, DOCKER_HOST=f"unix://{podman.sock}")
            _load_busybox(env, via_podman)
        run = ["run", "--rm", "--network", "none", "busybox", "true"]
        cmds = {"docker run (pyctr service)": ([DOCKER, *run], via_service),
                "pyctr run": (PYCTR + run, env)}
        if via_dockerd:
            cmds["docker run (dockerd 20.10)"] = ([DOCKER, *run], via_dockerd)
        if via_podman:
            cmds["docker run (podman service)"] = ([DOCKER, "run", *PODMAN_RUN, *run[1:]], via_podman)
        runs = interleaved_medians(cmds, args.runs)
        report("docker run --rm --network none busybox true",
               [(k, runs.get(k)) for k in ("docker run (pyctr service)", "docker run (dockerd 20.10)",
                                           "docker run (podman service)", "pyctr run")],
               ratio_to="docker run (dockerd 20.10)" if via_dockerd else "pyctr run")
        if via_dockerd:
            print(f"  service / pyctr run: {runs['docker run (pyctr service)'] / runs['pyctr run']:.2f}x")
        # one created container in each store, as ps lists it
        subprocess.run(PYCTR + ["create", "--name", "listed", "--network", "none", "busybox", "true"], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        ps = {"docker ps -a (pyctr service)": ([DOCKER, "ps", "-a"], via_service),
              "pyctr ps -a": (PYCTR + ["ps", "-a"], env)}
        if via_dockerd:
            subprocess.run([DOCKER, "create", "--name", "listed", "--network", "none", "busybox", "true"],
                           env=via_dockerd, check=True, stdout=subprocess.DEVNULL)
            ps["docker ps -a (dockerd 20.10)"] = ([DOCKER, "ps", "-a"], via_dockerd)
        if via_podman:
            subprocess.run([DOCKER, "create", "--name", "listed", "--network", "none", "busybox", "true"],
                           env=via_podman, check=True, stdout=subprocess.DEVNULL)
            ps["docker ps -a (podman service)"] = ([DOCKER, "ps", "-a"], via_podman)
        listed = interleaved_medians(ps, args.runs)
        report("docker ps -a", list(listed.items()), ratio_to="pyctr ps -a")
        time.sleep(2)
        print("\nidle RSS")
        print(f"  pyctr system service, fresh            {rss_fresh / 1024:8.1f} MB")
        print(f"  pyctr system service, after the runs   {_rss_kib(service.pid) / 1024:8.1f} MB")
        if daemon is not None:
            print(f"  dockerd + containerd                   {daemon.rss_kib() / 1024:8.1f} MB")
        if podman is not None:
            print(f"  podman system service                  {podman.rss_kib() / 1024:8.1f} MB")
        print(json.dumps({"run": runs, "ps": listed, "service_rss_kib": [rss_fresh, _rss_kib(service.pid)]}))
    finally:
        if daemon is not None:
            daemon.stop()
        if podman is not None:
            podman.stop()
        _stop(service)
        subprocess.run(PYCTR + ["rm", "-f", "listed"], env=env, capture_output=True)
        subprocess.run(PYCTR + ["system", "prune", "-f"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
