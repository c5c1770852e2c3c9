"""The seed's network chapter through the CLI: veth pairs on a bridge, eth0 inside, the bridge as gateway."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

pytestmark = pytest.mark.root


def _bridge() -> str:
    return dict(i.split("=", 1) for i in os.environ["PYCTR_NETWORK_OPT"].split(";"))["bridge"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_each_container_gets_eth0_on_a_veth_whose_peer_is_on_the_bridge(busybox):
    busybox("run", "-d", "--name", "n1", "busybox", "sleep", "300", check=True)
    busybox("run", "-d", "--name", "n2", "busybox", "sleep", "300", check=True)
    try:
        ip1 = busybox("inspect", "--format", "{{.NetworkSettings.IPAddress}}", "n1", check=True).stdout.strip()
        ip2 = busybox("inspect", "--format", "{{.NetworkSettings.IPAddress}}", "n2", check=True).stdout.strip()
        gw = busybox("inspect", "--format", "{{.NetworkSettings.Gateway}}", "n1", check=True).stdout.strip()
        assert ip1 and ip2 and ip1 != ip2
        pid = busybox("inspect", "--format", "{{.State.Pid}}", "n1", check=True).stdout.strip()
        # the container's view, as `nsenter -n -t PID ip a / ip r` shows it
        addrs = subprocess.run(["nsenter", "-n", "-t", pid, "ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
        assert f"eth0    inet {ip1}/" in addrs.replace("  ", "    ") or f"eth0 inet {ip1}/" in " ".join(addrs.split())
        routes = subprocess.run(["nsenter", "-n", "-t", pid, "ip", "route"], capture_output=True, text=True).stdout
        assert f"default via {gw} dev eth0" in routes
        # the host side: the gateway is the bridge's address, and each container has a veth on it
        bridge = _bridge()
        host_addrs = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", bridge], capture_output=True, text=True).stdout
        assert f"inet {gw}/" in host_addrs
        ports = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True).stdout
        assert sum(1 for line in ports.splitlines() if "veth" in line) >= 2
        # they reach each other
        r = busybox("exec", "n1", "ping", "-c", "1", "-W", "5", ip2)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        busybox("rm", "-f", "n1", "n2")


def test_user_network_containers_reach_each_other_by_name(busybox):
    busybox("network", "create", "appnet", check=True)
    try:
        busybox("run", "-d", "--network", "appnet", "--name", "db", "--network-alias", "database", "busybox", "sleep", "300", check=True)
        busybox("run", "-d", "--network", "appnet", "--name", "web", "busybox", "sleep", "300", check=True)
        assert busybox("exec", "web", "ping", "-c", "1", "-W", "5", "db").returncode == 0
        assert busybox("exec", "web", "ping", "-c", "1", "-W", "5", "database").returncode == 0
        assert "appnet" in busybox("network", "ls").stdout
        r = busybox("network", "rm", "appnet")
        assert r.returncode != 0  # in use
    finally:
        busybox("rm", "-f", "db", "web")
        busybox("network", "rm", "appnet")
    assert "appnet" not in busybox("network", "ls").stdout


def test_none_network_has_only_loopback(busybox):
    r = busybox("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
    assert r.stdout.split() == ["lo"]


def test_published_port_answers_on_the_hosts_loopback(busybox):
    port = _free_port()
    busybox("run", "-d", "--name", "www", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
            "mkdir -p /www && echo hello-from-container > /www/index.html && httpd -f -p 80 -h /www", check=True)
    try:
        assert busybox("port", "www").stdout.strip() == f"80/tcp -> 127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        body = ""
        while time.monotonic() < deadline and "hello-from-container" not in body:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                    body = s.recv(4096).decode(errors="replace")
            except OSError:
                time.sleep(0.2)
        assert "hello-from-container" in body
    finally:
        busybox("rm", "-f", "www")


def test_ports_on_a_network_without_one_are_refused(busybox):
    r = busybox("run", "--rm", "--network", "none", "-p", "80", "busybox", "true")
    assert r.returncode == 125 and len(r.stderr.strip().splitlines()) == 1
