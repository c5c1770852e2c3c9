"""The rootless network (slirp4netns): outbound through the helper, published ports on the
host's loopback reached with curl, -P, none, host; privileged ports refused before anything exists."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from pyctr.testing.registry import free_port


def _curl(session, url: str, tries: int = 50) -> str:
    for _ in range(tries):
        done = session.run(["curl", "-s", "--max-time", "2", url])
        if done.returncode == 0 and done.stdout:
            return done.stdout
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


HTTPD = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


def test_default_network_is_slirp4netns(busybox):
    out = busybox.pyctr("run", "--rm", "busybox", "sh", "-c", "ip -o -4 addr show; ip route; cat /etc/resolv.conf",
                        check=True).stdout
    assert "tap0    inet 10.0.2.100/24" in out
    assert "default via 10.0.2.2 dev tap0" in out
    assert "nameserver 10.0.2.3" in out


def test_published_port_on_loopback(busybox):
    port = free_port()
    busybox.pyctr("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c", HTTPD,
                  check=True)
    try:
        host = busybox.pyctr("inspect", "--format", "{{.Config.Hostname}}", "web", check=True).stdout.strip()
        assert _curl(busybox, f"http://127.0.0.1:{port}/") == f"hello-from-{host}\n"
        assert busybox.pyctr("port", "web", check=True).stdout.strip() == f"80/tcp -> 127.0.0.1:{port}"
        # slirp4netns listens in the host's namespace, as the user: only on loopback
        listening = [p for p, (uid, cmd) in busybox.processes().items() if cmd.startswith("/usr/bin/slirp4netns")]
        assert len(listening) == 1
    finally:
        busybox.pyctr("rm", "-f", "web")


def test_publish_all_picks_free_ports(busybox):
    busybox.pyctr("run", "-d", "--name", "web", "--expose", "80", "-P", "busybox", "sh", "-c", HTTPD, check=True)
    try:
        mapping = busybox.pyctr("port", "web", "80", check=True).stdout.strip()
        host_port = int(mapping.rsplit(":", 1)[1])
        assert host_port >= 1024
        assert _curl(busybox, f"http://127.0.0.1:{host_port}/").startswith("hello-from-")
    finally:
        busybox.pyctr("rm", "-f", "web")


def _http_server(address: str, body) -> http.server.ThreadingHTTPServer:
    """An HTTP server of the test's own on ``address`` (port chosen by the kernel), answering
    every GET with ``body(client_address)``; the caller shuts it down."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            data = body(self.client_address[0])
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((address, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def host_http_server():
    """An HTTP server on the host's loopback (this test's own, stopped after)."""
    server = _http_server("127.0.0.1", lambda _client: b"outbound-ok\n")
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_outbound_through_the_helper(busybox, host_http_server):
    """The container's connection leaves through slirp4netns as an ordinary socket of the user's:
    here to the host's loopback (10.0.2.2), which only allow_host_loopback opens."""
    url = f"http://10.0.2.2:{host_http_server}/"
    # (busybox-static's wget -T crashes: the time limit is timeout's)
    done = busybox.pyctr("run", "--rm", "busybox", "timeout", "5", "wget", "-q", "-O-", url,
                         env={"PYCTR_NETWORK_OPT": "allow_host_loopback=true"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "outbound-ok\n"
    closed = busybox.pyctr("run", "--rm", "busybox", "timeout", "5", "wget", "-q", "-O-", url)
    assert closed.returncode != 0  # podman's default: the host's loopback is not reachable


def test_network_none_and_host(busybox):
    none = busybox.pyctr("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link", check=True).stdout
    assert [line.split(":")[1].strip() for line in none.splitlines()] == ["lo"]
    host = busybox.pyctr("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link", check=True).stdout
    with open("/proc/net/dev") as f:
        ours = {line.split(":")[0].strip() for line in f.readlines()[2:]}
    assert {line.split(":")[1].strip().split("@")[0] for line in host.splitlines()} == ours


def test_privileged_port_refused(busybox):
    done = busybox.pyctr("run", "-d", "--name", "low", "-p", "80:80", "busybox", "true")
    assert done.returncode == 125
    assert len(done.stderr.strip().splitlines()) == 1
    assert "port 80 is privileged" in done.stderr and "ip_unprivileged_port_start" in done.stderr
    assert busybox.pyctr("ps", "-aq", check=True).stdout.strip() == ""


def test_port_in_use_is_one_line(busybox):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = busybox.pyctr("run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
    assert done.returncode == 125
    assert len(done.stderr.strip().splitlines()) == 1 and f"127.0.0.1:{port}" in done.stderr
    assert busybox.pyctr("ps", "-aq", check=True).stdout.strip() == ""


def _uplinks(session) -> list[str]:
    """The slirp4netns processes of the user attached to its network namespace (not to a container)."""
    return [cmd for uid, cmd in session.processes().values()
            if cmd.startswith("/usr/bin/slirp4netns") and "--netns-type=path" in cmd]


def test_user_network_name_resolution_and_published_port(busybox):
    """Two containers on a user network of the rootless user: bridged in the user's own network
    namespace, one reaches the other by name; the server's published port answers curl on the
    host's loopback; everything ends with the last container."""
    s = busybox
    s.pyctr("network", "create", "appnet", check=True)
    port = free_port()
    try:
        s.pyctr("run", "-d", "--name", "web", "--network", "appnet", "-p", f"127.0.0.1:{port}:80", "busybox",
                "sh", "-c", HTTPD, check=True)
        assert len(_uplinks(s)) == 1
        host = s.pyctr("inspect", "--format", "{{.Config.Hostname}}", "web", check=True).stdout.strip()
        ip = s.pyctr("inspect", "--format", "{{.NetworkSettings.Networks.appnet.IPAddress}}", "web",
                     check=True).stdout.strip()
        out = s.pyctr("run", "--rm", "--network", "appnet", "busybox", "sh", "-c",
                      "for i in $(seq 50); do wget -q -O- http://web/ && exit 0; sleep 0.1; done; exit 1",
                      check=True).stdout
        assert out == f"hello-from-{host}\n"
        resolved = s.pyctr("run", "--rm", "--network", "appnet", "busybox", "sh", "-c", "ip -o -4 addr show eth0; "
                           "grep -w web /etc/hosts", check=True).stdout
        assert resolved.splitlines()[-1].split()[0] == ip and "eth0" in resolved  # (hosts: "IP<tab>names")
        assert _curl(s, f"http://127.0.0.1:{port}/") == f"hello-from-{host}\n"
        assert s.pyctr("port", "web", check=True).stdout.strip() == f"80/tcp -> 127.0.0.1:{port}"
        # the bridge is in the user's namespace, not the host's
        bridge = s.pyctr("network", "inspect", "--format",
                         '{{index .Options "com.docker.network.bridge.name"}}', "appnet", check=True).stdout.strip()
        with open("/proc/net/dev") as f:
            assert bridge not in f.read()
    finally:
        s.pyctr("rm", "-f", "web")
    assert _uplinks(s) == []  # the last container gone: the uplink too
    s.pyctr("network", "rm", "appnet", check=True)
    assert "appnet" not in s.pyctr("network", "ls", "--format", "{{.Name}}", check=True).stdout.split()


def _host_address() -> str:
    """An address of the host's own that is not loopback (the container reaches it through the uplink)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 9))  # (no packet: a UDP connect only picks the route's source)
        return s.getsockname()[0]


def test_user_network_outbound(busybox):
    """A container on a user network goes out through the uplink, as the user: here to an HTTP
    server of the test's own on one of the host's addresses."""

    address = _host_address()
    server = _http_server(address, lambda client: f"from-{client}\n".encode())
    try:
        busybox.pyctr("network", "create", "out", check=True)
        done = busybox.pyctr("run", "--rm", "--network", "out", "busybox", "timeout", "5", "wget", "-q", "-O-",
                             f"http://{address}:{server.server_address[1]}/")
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"from-{address}\n"  # slirp's socket: the host's own address
    finally:
        server.shutdown()
        server.server_close()
        busybox.pyctr("network", "rm", "out")
