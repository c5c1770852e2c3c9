"""``pyctr system service`` in a test: started on a private socket, stopped with SIGTERM.

The real clients (the docker CLI, docker-py, compose, testcontainers) are
pointed at it with ``DOCKER_HOST``; ``client_env()`` is their environment.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def docker_clis() -> list[str]:
    """The docker CLIs on this machine: Debian's docker.io (20.10) and a newer one, if installed."""
    found = []
    for path in ("/usr/bin/docker", "/usr/local/bin/docker"):
        if os.path.exists(path) and os.path.realpath(path) not in {os.path.realpath(p) for p in found}:
            found.append(path)
    return found


class Service:
    """A running service; ``env`` is what started it (PYCTR_ROOT ...)."""

    def __init__(self, base: Path, env: dict[str, str], idle: float = 0) -> None:
        self.base = base
        self.socket = str(base / "api.sock")
        self.uri = f"unix://{self.socket}"
        self.env = env
        self.idle = idle
        self.log = base / "service.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> Service:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "pyctr", "system", "service", "--time",
                                          str(self.idle), self.uri], env=self.env, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the service exited {self.proc.returncode}: {self.log.read_text()}")
            if self.answers():
                return self
            time.sleep(0.05)
        raise AssertionError(f"the service did not answer in {timeout}s: {self.log.read_text()}")

    def answers(self) -> bool:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.socket)
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False
        finally:
            s.close()

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the service did not stop within 30s of SIGTERM") from None

    def client_env(self) -> dict[str, str]:
        env = dict(self.env, DOCKER_HOST=self.uri, DOCKER_CONFIG=str(self.base / "docker-config"))
        env.pop("DOCKER_CONTEXT", None)
        return env

    def docker(self, *args: str, cli: str = "/usr/bin/docker", input: str | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against the service."""
        return subprocess.run([cli, *args], input=input, capture_output=True, text=True,
                              env=self.client_env(), timeout=timeout)


def has_docker_cli() -> bool:
    return bool(docker_clis()) or shutil.which("docker") is not None
