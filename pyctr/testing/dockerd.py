"""A reference Docker engine for comparison tests: Debian's dockerd (docker.io 20.10) on
private roots, never the machine's own.

Everything it writes is under two directories of the test's own: ``--data-root`` (images,
volumes, the managed containerd's content), ``--exec-root`` (its containerd's sockets and
state, the pid file) and the trust key (``deprecated-key-path`` in a private daemon.json,
or it would write /etc/docker/key.json). ``--bridge=none --iptables=false
--ip-masq=false --ip-forward=false`` keep it off the host's network configuration (the last
one: the bridge driver would otherwise set net.ipv4.ip_forward on start), ``--storage-driver=vfs``
keeps it from mounting anything (and makes each image layer a plain directory: the
engine's own unpacked view of an image). It is stopped by its PID (SIGTERM, then SIGKILL),
and its managed containerd with it.

Only daemon-side operations are meant to be used (load, save, import, images, volumes,
create without start, ps): nothing that runs a container.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

DOCKERD = "/usr/sbin/dockerd"
#: the docker CLI of the same package (docker.io), whose tables pyctr's are compared with
DOCKER_CLI = "/usr/bin/docker"


def available() -> str | None:
    """None when a reference engine can run here, else why not."""
    if os.geteuid() != 0:
        return "dockerd needs root"
    for path in (DOCKERD, DOCKER_CLI, shutil.which("containerd")):
        if not path or not os.access(path, os.X_OK):
            return f"{path or 'containerd'} is missing (apt-get install docker.io)"
    return None


class Dockerd:
    """One private dockerd; :meth:`docker` runs the CLI against it."""

    def __init__(self, data_root: str | os.PathLike[str]) -> None:
        self.data_root = Path(data_root)
        # unix sockets live under the exec root: keep it short (108 bytes for a socket path)
        self.exec_root = Path(tempfile.mkdtemp(prefix="pyctr-dk-"))
        self.socket = self.exec_root / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.config_dir = self.data_root.parent / (self.data_root.name + "-client")  # the CLI's DOCKER_CONFIG
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_root.parent / (self.data_root.name + ".log")

    #: made by dockerd 20.10 whatever its roots (plugin discovery's socket directory is hard-coded):
    #: removed again by :meth:`stop` when they were not there before and are empty
    HOST_DIRS = ("/run/docker", "/run/docker/plugins")

    def start(self, timeout: float = 60.0) -> None:
        self._absent_host_dirs = [d for d in self.HOST_DIRS if not os.path.lexists(d)]
        self.data_root.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        daemon_json = self.exec_root / "daemon.json"
        daemon_json.write_text(json.dumps({"deprecated-key-path": str(self.exec_root / "key.json")}))
        args = [DOCKERD, "--config-file", str(daemon_json), "--data-root", str(self.data_root),
                "--exec-root", str(self.exec_root), "--pidfile", str(self.exec_root / "docker.pid"),
                "--host", self.host, "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false",
                "--storage-driver=vfs", "--log-level=warn"]
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "HOME": str(self.config_dir),
               "TMPDIR": str(self.exec_root)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited {self.proc.returncode}: {self.log()[-2000:]}")
            if self.socket.exists() and self.docker("version", "--format", "{{.Server.Version}}").returncode == 0:
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"dockerd did not answer in {timeout:.0f} s: {self.log()[-2000:]}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def env(self) -> dict[str, str]:
        return dict(os.environ, DOCKER_HOST=self.host, DOCKER_CONFIG=str(self.config_dir),
                    DOCKER_BUILDKIT="0", DOCKER_CLI_HINTS="false")

    def docker(self, *args: str, input: bytes | str | None = None, timeout: float = 300,
               check: bool = False) -> subprocess.CompletedProcess:
        """The docker CLI against this engine; text output unless ``input`` is bytes."""
        text = not isinstance(input, bytes)
        r = subprocess.run([DOCKER_CLI, *args], input=input, capture_output=True, text=text, env=self.env(),
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {r.returncode}: {r.stderr}")
        return r

    def layer_dir(self, image: str) -> Path:
        """The engine's own unpacked root filesystem of ``image``: with vfs, its top layer's directory
        (each vfs layer is a full copy of the layers below, with the whiteouts applied)."""
        chain = self.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", image, check=True).stdout
        diff_ids = json.loads(chain)
        chain_id = diff_ids[0]
        for diff_id in diff_ids[1:]:
            chain_id = "sha256:" + hashlib.sha256(f"{chain_id} {diff_id}".encode()).hexdigest()
        cache_id = (self.data_root / "image/vfs/layerdb/sha256" / chain_id[7:] / "cache-id").read_text().strip()
        return self.data_root / "vfs/dir" / cache_id

    def stop(self) -> None:
        """SIGTERM by PID (dockerd stops its containerd), SIGKILL after 20 s; then its containerd
        if it is still there, and the exec root."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._stop_containerd()
        shutil.rmtree(self.exec_root, ignore_errors=True)
        for d in reversed(getattr(self, "_absent_host_dirs", [])):
            try:
                os.rmdir(d)
            except OSError:
                pass  # not empty: someone else's now

    def _stop_containerd(self) -> None:
        """The containerd dockerd started (its pid file under our exec root), if dockerd died
        before stopping it: checked by its command line, which names our exec root."""
        try:
            pid = int((self.exec_root / "containerd/containerd.pid").read_text().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if str(self.exec_root).encode() not in f.read():
                    return
        except (OSError, ValueError):
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
            time.sleep(0.1)
        if os.path.exists(f"/proc/{pid}"):
            os.kill(pid, signal.SIGKILL)
