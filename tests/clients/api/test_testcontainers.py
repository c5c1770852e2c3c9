"""testcontainers-python starts a container through ``pyctr system service`` and waits for a log line."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.root
testcontainers = pytest.importorskip("testcontainers.core.container")


def test_a_container_started_and_waited_for(service, busybox, monkeypatch):
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    for key, value in service.client_env().items():
        if key.startswith("DOCKER_") or key.startswith("PYCTR_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    monkeypatch.setenv("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
    container = DockerContainer("busybox").with_command(
        ["sh", "-c", "echo warming up; sleep 0.5; echo server is ready; sleep 60"]).with_exposed_ports(80)
    with container:
        wait_for_logs(container, "server is ready", timeout=30)
        cid = container.get_wrapped_container().id
        assert busybox("inspect", "--format", "{{.State.Status}}", cid).stdout == "running\n"
        assert container.get_exposed_port(80)
        out = container.exec(["sh", "-c", "echo $((6 * 7))"])
        assert out.exit_code == 0 and out.output == b"42\n"
    assert busybox("ps", "-aq").stdout == ""
    assert os.environ["TESTCONTAINERS_RYUK_DISABLED"] == "true"
