"""docker-compose 1.29 (Debian's) runs a stack through ``pyctr system service``: two services on a user
network that find each other by name, a named volume, depends_on, logs, ps, down -v."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

pytestmark = [pytest.mark.root, pytest.mark.skipif(shutil.which("docker-compose") is None,
                                                   reason="no docker-compose (Debian package docker-compose)")]

STACK = """\
version: "3.7"
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo db-ready; echo stored > /data/value; httpd -f -p 8080 -h /data"]
    volumes:
      - dbdata:/data
  web:
    image: busybox
    depends_on:
      - db
    command: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://db:8080/value && break; sleep 1; done; sleep 600"]
volumes:
  dbdata: {}
"""


def compose(service, project_dir, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker-compose", "--no-ansi", "-p", "stack", *args], cwd=project_dir,
                          env=service.client_env(), capture_output=True, text=True, timeout=timeout)


def test_a_two_service_stack_with_a_network_and_a_volume(service, busybox, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "docker-compose.yml").write_text(STACK)
    try:
        r = compose(service, project, "up", "-d")
        assert r.returncode == 0, r.stdout + r.stderr
        ps = compose(service, project, "ps")
        assert "stack_db_1" in ps.stdout and "stack_web_1" in ps.stdout and "Up" in ps.stdout, ps.stdout
        deadline = time.monotonic() + 30
        logs = ""
        while time.monotonic() < deadline:
            logs = compose(service, project, "logs", "--no-color").stdout
            if "stored" in logs:
                break
            time.sleep(0.5)
        assert "db-ready" in logs and "stored" in logs, logs  # web reached db by its name on the stack's network
        names = busybox("ps", "--format", "{{.Names}}").stdout.split()
        assert sorted(names) == ["stack_db_1", "stack_web_1"]
        assert "stack_dbdata" in busybox("volume", "ls", "-q").stdout.split()
        # up again: nothing changed, nothing recreated
        r = compose(service, project, "up", "-d")
        assert r.returncode == 0 and "is up-to-date" in r.stderr, r.stderr
    finally:
        r = compose(service, project, "down", "-v", "-t", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert busybox("ps", "-aq").stdout == ""
    assert "stack_dbdata" not in busybox("volume", "ls", "-q").stdout.split()
