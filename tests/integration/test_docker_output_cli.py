"""Docker's output from a running container: ps PORTS, tabwriter columns, --format 'table'."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from pyctr.testing.registry import free_port

pytestmark = [pytest.mark.root]


def test_ps_shows_published_and_exposed_ports_like_docker(busybox: Any) -> None:
    name = f"ports{secrets.token_hex(3)}"
    port = free_port()
    busybox("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:80", "--expose", "53/udp", "busybox",
            "sleep", "300", check=True)
    try:
        ports = busybox("ps", "--filter", f"name={name}", "--format", "{{.Ports}}", check=True).stdout.strip()
        assert ports == f"53/udp, 127.0.0.1:{port}->80/tcp"
        table = busybox("ps", "--filter", f"name={name}", check=True).stdout.splitlines()
        header, row = table[0], table[1]
        # tabwriter columns: each header starts where its cells start
        assert row[header.index("PORTS"):].startswith(ports)
        assert row[header.index("NAMES"):] == name
        assert row[header.index("STATUS"):].startswith("Up ")
        custom = busybox("ps", "--filter", f"name={name}", "--format", "table {{.Names}}\t{{.Ports}}",
                         check=True).stdout.splitlines()
        assert custom[0].split("   ")[0].rstrip() == "NAMES" and custom[0].rstrip().endswith("PORTS")
        assert custom[1] == name + " " * (max(len(name) + 3, 10) - len(name)) + ports
    finally:
        busybox("rm", "-f", name, check=True)
    # a stopped container publishes nothing
    assert busybox("ps", "-a", "--filter", f"name={name}", "--format", "{{.Ports}}", check=True).stdout == ""
