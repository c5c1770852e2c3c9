"""The bridge driver on a real kernel: veths, NAT, published ports, user networks.

"Containers" are processes in fresh network namespaces (``unshare --net``);
"external" and "upstream" hosts are namespaces of their own joined to the
host by veth pairs the tests make. All traffic stays on loopback or inside
those namespaces. Names are unique per session (see pyctr.testing.bridge).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pyctr.core.errors import Conflict, DriverError
from pyctr.network_plugins.bridge import plan
from pyctr.testing.bridge import BridgeSession, bridge_driver, bridge_session, leftovers  # noqa: F401  (fixtures)
from pyctr.testing.netns import (
    NetnsProcess,
    fake_container,
    free_port,
    http_get,
    wait_for,
)

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


@pytest.fixture
def procs() -> Iterator[list[Any]]:
    """Processes a test starts (containers, servers): all killed at the end."""
    made: list[Any] = []
    yield made
    for p in reversed(made):
        if isinstance(p, NetnsProcess):
            p.kill()
        elif p.poll() is None:
            p.kill()
            p.wait()


def ctr(procs: list[Any], mount: bool = False) -> NetnsProcess:
    p = NetnsProcess(mount=mount)
    procs.append(p)
    return p


class Peer:
    """A host in its own netns, joined to ours by a veth pair /30 (external client, upstream server)."""

    def __init__(self, session: BridgeSession, procs: list[Any], n: int) -> None:
        self.proc = ctr(procs)
        a, b = secrets.randbelow(250) + 1, secrets.randbelow(63) * 4
        self.host_ip, self.ip = f"198.18.{a}.{b + 1}", f"198.18.{a}.{b + 2}"
        self.link = f"vnet{session.tag}{n}"
        session.links.append(self.link)
        sh = ["ip", "link", "add", self.link, "type", "veth", "peer", "name", "ext0", "netns", str(self.proc.pid)]
        subprocess.run(sh, check=True)
        subprocess.run(["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.link], check=True)
        subprocess.run(["ip", "link", "set", self.link, "up"], check=True)
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{self.ip}/30", "dev", "ext0"],
                    ["ip", "link", "set", "ext0", "up"], ["ip", "route", "add", "default", "via", self.host_ip]):
            self.proc.run(cmd, check=True)

    def remove(self) -> None:
        subprocess.run(["ip", "link", "del", self.link], capture_output=True, check=False)
        self.proc.kill()


@pytest.fixture
def peers(bridge_session: BridgeSession, procs: list[Any]) -> Iterator[Any]:  # noqa: F811
    made: list[Peer] = []

    def make() -> Peer:
        p = Peer(bridge_session, procs, len(made) + len(bridge_session.links))
        made.append(p)
        return p

    yield make
    for p in made:
        p.remove()


def http_server(procs: list[Any], c: NetnsProcess, tmp_path: Path, marker: str, port: int = 80) -> None:
    d = tmp_path / f"www{marker}"
    d.mkdir()
    (d / "index.html").write_text(marker)
    p = c.popen_in([sys.executable, "-m", "http.server", str(port), "--bind", "0.0.0.0", "--directory", str(d)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    wait_for(lambda: c.run(["ss", "-Htln", f"sport = :{port}"]).stdout.strip())


def in_ns_get(c: NetnsProcess, url: str) -> str:
    code = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=3).read().decode())"
    r = c.run([sys.executable, "-c", code], timeout=15)
    return r.stdout.strip() if r.returncode == 0 else f"failed: {r.stderr.strip().splitlines()[-1:]}"


# ---------------------------------------------------------------------------


def test_two_containers_on_the_default_bridge_reach_each_other(bridge_driver: Any, procs: list[Any],  # noqa: F811
                                                               bridge_session: BridgeSession) -> None:  # noqa: F811
    a, b = ctr(procs), ctr(procs)
    ca, cb = fake_container(bridge_driver.ctx.root), fake_container(bridge_driver.ctx.root)
    att_a = bridge_driver.connect(ca, a.pid)
    att_b = bridge_driver.connect(cb, b.pid)
    try:
        assert att_a.ip_address != att_b.ip_address
        assert att_a.network == "bridge" and att_a.extra["bridge"] == bridge_session.bridge
        # the container's view, as `nsenter -n -t PID ip a / ip r` shows it
        addrs = {i["ifname"]: i for i in json.loads(a.run(["ip", "-j", "addr"], check=True).stdout)}
        assert set(addrs) == {"lo", "eth0"}
        assert "UP" in addrs["lo"]["flags"] and "UP" in addrs["eth0"]["flags"]
        assert addrs["eth0"]["address"] == att_a.mac_address and att_a.mac_address.startswith("02:42:")
        assert {(x["local"], x["prefixlen"]) for x in addrs["eth0"]["addr_info"] if x["family"] == "inet"} == \
            {(att_a.ip_address, att_a.prefix_len)}
        assert a.run(["ip", "route", "show", "default"], check=True).stdout.split()[:3] == \
            ["default", "via", att_a.gateway]
        # brctl show: both host ends are ports of the bridge
        ports = {p["ifname"] for p in json.loads(subprocess.run(
            ["ip", "-j", "link", "show", "master", bridge_session.bridge], capture_output=True, text=True,
            check=True).stdout)}
        assert {att_a.extra["veth"], att_b.extra["veth"]} <= ports
        assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
        r = a.run(["busybox", "ping", "-c", "2", "-W", "2", att_b.ip_address])
        assert r.returncode == 0, r.stdout + r.stderr
        r = b.run(["busybox", "ping", "-c", "1", "-W", "2", att_a.gateway])
        assert r.returncode == 0, r.stdout + r.stderr
        # the files the runtime bind-mounts
        assert f"{att_a.ip_address}\t{ca.spec.hostname} {ca.name}" in (ca.dir / "hosts").read_text()
        assert "127.0.0.53" not in (ca.dir / "resolv.conf").read_text()
    finally:
        bridge_driver.disconnect(ca)
        bridge_driver.disconnect(cb)
    assert a.links() == ["lo"] and b.links() == ["lo"]


def test_published_on_127_0_0_1_answers_from_the_host(bridge_driver: Any, procs: list[Any],  # noqa: F811
                                                      tmp_path: Path) -> None:
    c = ctr(procs)
    hp = free_port()
    cont = fake_container(bridge_driver.ctx.root, network={"ports": [f"127.0.0.1:{hp}:80"]})
    att = bridge_driver.connect(cont, c.pid)
    try:
        assert att.extra["ports"] == [{"proto": "tcp", "host_ip": "127.0.0.1", "host_port": hp,
                                       "container_port": 80}]
        assert bridge_driver.ports(cont.id) == att.extra["ports"]
        http_server(procs, c, tmp_path, "hello-localhost")
        assert wait_for(lambda: http_get(f"http://127.0.0.1:{hp}/")) == "hello-localhost"
    finally:
        bridge_driver.disconnect(cont)


def test_published_on_all_addresses_answers_an_external_host_and_hairpin(
        bridge_driver: Any, procs: list[Any], peers: Any, tmp_path: Path) -> None:  # noqa: F811
    ext = peers()
    server, other = ctr(procs), ctr(procs)
    hp = free_port()
    srv = fake_container(bridge_driver.ctx.root, network={"ports": [f"{hp}:80"]})
    cli = fake_container(bridge_driver.ctx.root)
    bridge_driver.connect(srv, server.pid)
    bridge_driver.connect(cli, other.pid)
    try:
        http_server(procs, server, tmp_path, "hello-world")
        # another host, through the host's address on the link it came from
        assert wait_for(lambda: in_ns_get(ext.proc, f"http://{ext.host_ip}:{hp}/") == "hello-world")
        # the host itself, on its own addresses including 127.0.0.1
        assert http_get(f"http://127.0.0.1:{hp}/") == "hello-world"
        assert http_get(f"http://{ext.host_ip}:{hp}/") == "hello-world"
        # another container on the bridge, through the host's address (hairpin NAT)
        assert in_ns_get(other, f"http://{ext.host_ip}:{hp}/") == "hello-world"
        # and the server itself through its published port (hairpin mode on its port)
        assert in_ns_get(server, f"http://{ext.host_ip}:{hp}/") == "hello-world"
    finally:
        bridge_driver.disconnect(srv)
        bridge_driver.disconnect(cli)
    # the mapping is gone with the container
    assert "failed" in in_ns_get(ext.proc, f"http://{ext.host_ip}:{hp}/")


def test_random_host_port_for_a_bare_container_port(bridge_driver: Any, procs: list[Any],  # noqa: F811
                                                    tmp_path: Path) -> None:
    c = ctr(procs)
    cont = fake_container(bridge_driver.ctx.root, network={"ports": ["127.0.0.1::80"],
                                                           "publish_all": True, "expose": ["8000/tcp"]})
    att = bridge_driver.connect(cont, c.pid)
    try:
        hps = {p["container_port"]: p["host_port"] for p in att.extra["ports"]}
        assert set(hps) == {80, 8000} and all(1024 < h < 65536 for h in hps.values())
        http_server(procs, c, tmp_path, "random-port")
        assert wait_for(lambda: http_get(f"http://127.0.0.1:{hps[80]}/")) == "random-port"
    finally:
        bridge_driver.disconnect(cont)


def test_outbound_nat_hides_the_container_address(bridge_driver: Any, procs: list[Any], peers: Any) -> None:  # noqa: F811
    up = peers()
    c = ctr(procs)
    code = ("import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1);"
            "s.bind(('0.0.0.0', 9000)); s.listen(); c, a = s.accept(); print(a[0], flush=True)")
    server = up.proc.popen_in([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    procs.append(server)
    wait_for(lambda: up.proc.run(["ss", "-Htln", "sport = :9000"]).stdout.strip())
    cont = fake_container(bridge_driver.ctx.root)
    att = bridge_driver.connect(cont, c.pid)
    try:
        r = c.run([sys.executable, "-c", f"import socket; socket.create_connection(({up.ip!r}, 9000), timeout=5)"])
        assert r.returncode == 0, r.stderr
        seen = server.communicate(timeout=10)[0].strip()
        assert seen == up.host_ip, f"upstream saw {seen}, container is {att.ip_address}"
    finally:
        bridge_driver.disconnect(cont)


def test_user_network_resolves_names_and_is_isolated(bridge_driver: Any, procs: list[Any]) -> None:  # noqa: F811
    tag = secrets.token_hex(3)
    info = bridge_driver.create_network(f"net{tag}")
    assert info["Driver"] == "bridge" and info["Options"]["com.docker.network.bridge.name"] == plan.user_bridge_name(info["Id"], bridge_driver.user_prefix)
    assert any(n["Name"] == f"net{tag}" for n in bridge_driver.list_networks())
    with pytest.raises(Conflict):
        bridge_driver.create_network(f"net{tag}")
    one, two, outsider = ctr(procs, mount=True), ctr(procs, mount=True), ctr(procs)
    c1 = fake_container(bridge_driver.ctx.root, name=f"one{tag}", network={"network": f"net{tag}"})
    c2 = fake_container(bridge_driver.ctx.root, name=f"two{tag}",
                        network={"network": f"net{tag}", "aliases": [f"db{tag}"]})
    c3 = fake_container(bridge_driver.ctx.root)
    try:
        a1 = bridge_driver.connect(c1, one.pid)
        # the runtime bind-mounts the hosts file after connect: do the same
        one.run(["mount", "--bind", str(c1.dir / "hosts"), "/etc/hosts"], check=True)
        a2 = bridge_driver.connect(c2, two.pid)
        two.run(["mount", "--bind", str(c2.dir / "hosts"), "/etc/hosts"], check=True)
        a3 = bridge_driver.connect(c3, outsider.pid)
        # c1 was connected first: its bind-mounted file was updated in place
        for name in (f"two{tag}", f"db{tag}"):
            r = one.run(["busybox", "ping", "-c", "1", "-W", "2", name])
            assert r.returncode == 0 and a2.ip_address in r.stdout, r.stdout + r.stderr
        r = two.run(["busybox", "ping", "-c", "1", "-W", "2", f"one{tag}"])
        assert r.returncode == 0 and a1.ip_address in r.stdout, r.stdout + r.stderr
        assert bridge_driver.inspect_network(f"net{tag}")["Containers"].keys() == {c1.id, c2.id}
        # the default bridge does not route into the user network
        r = outsider.run(["busybox", "ping", "-c", "1", "-W", "1", a1.ip_address])
        assert r.returncode != 0
        with pytest.raises(Conflict):
            bridge_driver.remove_network(f"net{tag}")
        bridge_driver.disconnect(c2)
        assert a2.ip_address not in (c1.dir / "hosts").read_text()  # peers forget it
        assert a3.network == "bridge"
    finally:
        for c in (c1, c2, c3):
            bridge_driver.disconnect(c)
    bridge_driver.remove_network(f"net{tag}")
    assert subprocess.run(["ip", "link", "show", info["Options"]["com.docker.network.bridge.name"]],
                          capture_output=True, check=False).returncode != 0


def test_internal_network_has_no_way_out(bridge_driver: Any, procs: list[Any], peers: Any) -> None:  # noqa: F811
    up = peers()
    tag = secrets.token_hex(3)
    bridge_driver.create_network(f"int{tag}", subnet=f"10.{secrets.randbelow(50) + 50}.{secrets.randbelow(250)}.0/24",
                                 internal=True)
    a, b = ctr(procs), ctr(procs)
    ca = fake_container(bridge_driver.ctx.root, network={"network": f"int{tag}"})
    cb = fake_container(bridge_driver.ctx.root, network={"network": f"int{tag}", "ip": None})
    try:
        bridge_driver.connect(ca, a.pid)
        att_b = bridge_driver.connect(cb, b.pid)
        assert a.run(["busybox", "ping", "-c", "1", "-W", "2", att_b.ip_address]).returncode == 0
        assert a.run(["busybox", "ping", "-c", "1", "-W", "1", up.ip]).returncode != 0
    finally:
        bridge_driver.disconnect(ca)
        bridge_driver.disconnect(cb)
        bridge_driver.remove_network(f"int{tag}")


def test_50_concurrent_connects_then_nothing_left(bridge_driver: Any, procs: list[Any],  # noqa: F811
                                                  bridge_session: BridgeSession) -> None:  # noqa: F811
    host_ports: set[int] = set()
    while len(host_ports) < 50:  # free_port() may hand out a port again once it is closed
        host_ports.add(free_port())
    cs = [(ctr(procs), fake_container(bridge_driver.ctx.root, network={"ports": [f"127.0.0.1:{hp}:80"]}))
          for hp in sorted(host_ports)]
    try:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=10) as pool:
            atts = list(pool.map(lambda pc: bridge_driver.connect(pc[1], pc[0].pid), cs))
        elapsed = time.perf_counter() - t0
        assert len({a.ip_address for a in atts}) == 50
        ports = json.loads(subprocess.run(["ip", "-j", "link", "show", "master", bridge_session.bridge],
                                          capture_output=True, text=True, check=True).stdout)
        assert {a.extra["veth"] for a in atts} <= {p["ifname"] for p in ports}
        rules = subprocess.run(["nft", "-j", "list", "chain", "ip", bridge_session.table, "ports"],
                               capture_output=True, text=True, check=True).stdout
        assert sum(1 for i in json.loads(rules)["nftables"] if "rule" in i) == 50
        print(f"\n50 concurrent connects (10 threads): {elapsed:.2f} s")
    finally:
        with ThreadPoolExecutor(max_workers=10) as pool:
            list(pool.map(lambda pc: bridge_driver.disconnect(pc[1]), cs))
    # the leak check of the bridge_driver fixture proves: no veth, rule or lease left


CRASHER = """
import os, signal, sys
from pathlib import Path
from pyctr.testing.bridge import BridgeSession
from pyctr.testing.netns import fake_container
s = BridgeSession(tag=sys.argv[1], bridge=sys.argv[2], table=sys.argv[3], pools=sys.argv[4])
d = s.make_driver(Path(sys.argv[5]))
c = fake_container(d.ctx.root, network={"ports": ["127.0.0.1:" + sys.argv[7] + ":80"]})
if len(sys.argv) > 8 and sys.argv[8] == "before-nft":
    # die in the middle of connect: veth made and moved, no rule yet
    from pyctr.network_plugins.bridge import nat, plan
    def die(cmds):
        print(c.id, plan.veth_name(c.id, plan_net_id()), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    def plan_net_id():
        from pyctr.network_plugins.bridge import ipam
        return ipam.endpoints(d._db(), c.id)[0].network_id
    nat.run = die
att = d.connect(c, int(sys.argv[6]))
print(c.id, att.extra["veth"], flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # pyctr dies before the container runs or is removed
"""


@pytest.mark.parametrize("stage", ["after-connect", "before-nft"])
def test_cleanup_orphans_after_pyctr_was_killed(bridge_driver: Any, procs: list[Any],  # noqa: F811
                                                bridge_session: BridgeSession, stage: str) -> None:  # noqa: F811
    c = ctr(procs)
    s = bridge_session
    r = subprocess.run([sys.executable, "-c", CRASHER, s.tag, s.bridge, s.table, s.pools,
                        str(Path(bridge_driver.ctx.root).parent), str(c.pid), str(free_port()), stage],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == -signal.SIGKILL, r.stderr
    _cid, veth = r.stdout.split()
    assert c.links() == ["lo", "eth0"]
    assert subprocess.run(["ip", "link", "show", veth], capture_output=True, check=False).returncode == 0
    # the container record is gone: only the live set (empty) tells
    report = bridge_driver.cleanup_orphans(set())
    assert any(veth in line for line in report), report
    assert any("nftables" in line for line in report) == (stage == "after-connect"), report
    assert any("lease" in line for line in report)
    assert c.links() == ["lo"]
    assert bridge_driver.cleanup_orphans(set()) == []


def test_disconnect_after_the_container_died(bridge_driver: Any, procs: list[Any]) -> None:  # noqa: F811
    c = ctr(procs)
    cont = fake_container(bridge_driver.ctx.root, network={"ports": [f"127.0.0.1:{free_port()}:80"]})
    att = bridge_driver.connect(cont, c.pid)
    c.kill()  # the netns goes, and the veth pair with it
    wait_for(lambda: subprocess.run(["ip", "link", "show", att.extra["veth"]], capture_output=True, check=False).returncode)
    bridge_driver.disconnect(cont)
    bridge_driver.disconnect(cont)


def test_published_port_taken_twice_is_refused(bridge_driver: Any, procs: list[Any]) -> None:  # noqa: F811
    hp = free_port()
    a, b = ctr(procs), ctr(procs)
    ca = fake_container(bridge_driver.ctx.root, network={"ports": [f"{hp}:80"]})
    cb = fake_container(bridge_driver.ctx.root, network={"ports": [f"127.0.0.1:{hp}:80"]})
    bridge_driver.connect(ca, a.pid)
    try:
        with pytest.raises(Conflict):
            bridge_driver.connect(cb, b.pid)
        assert b.links() == ["lo"]  # nothing made for the refused one
    finally:
        bridge_driver.disconnect(ca)
        bridge_driver.disconnect(cb)


def test_the_ruleset_passes_nft_check(bridge_session: BridgeSession) -> None:  # noqa: F811
    net = plan.Network(id="ab" * 32, name="x", bridge="pyctr0", subnet="10.9.0.0/24", gateway="10.9.0.1")
    doc = plan.document(plan.base_ruleset(f"chk{bridge_session.table}") + plan.network_elements(
        f"chk{bridge_session.table}", net) + plan.port_rules(f"chk{bridge_session.table}", "c" * 64, "10.9.0.2",
                                                             [plan.parse_port("127.0.0.1:8080:80/udp")]))
    r = subprocess.run(["nft", "-c", "-j", "-f", "-"], input=json.dumps(doc), capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stderr


def test_pyctr_run_with_the_bridge_driver(busybox: Any, bridge_session: BridgeSession) -> None:  # noqa: F811
    """Through the real runtime and CLI: the container sees eth0, its address and the default route."""
    busybox.env["PYCTR_NETWORK_OPT"] = ";".join(f"{k}={v}" for k, v in bridge_session.options().items())
    r = busybox("run", "--rm", "--network", "bridge", "busybox", "sh", "-c",
                "ip -o -4 addr show eth0; ip route; cat /etc/hosts; ping -c 1 -W 2 $(ip route | awk '/default/ {print $3}')",
                check=True)
    pool_prefix = bridge_session.pools.split(".")[:2]
    assert f"inet {'.'.join(pool_prefix)}." in r.stdout, r.stdout
    assert "default via " in r.stdout and "1 packets received" in r.stdout
    veth_links = subprocess.run(["ip", "-j", "link", "show", "master", bridge_session.bridge],
                                capture_output=True, text=True, check=True).stdout
    assert json.loads(veth_links or "[]") == []  # --rm took the veth with it
    from pyctr.core import state

    conn = state.connect(busybox.root)
    try:
        assert conn.execute("SELECT COUNT(*) FROM bridge_leases").fetchone()[0] == 0
    finally:
        conn.close()


def test_system_prune_cleans_what_a_killed_pyctr_left(busybox: Any, bridge_session: BridgeSession,  # noqa: F811
                                                      procs: list[Any]) -> None:
    """A connect whose pyctr died (no container record): `pyctr system prune` removes veth, rule, lease."""
    s = bridge_session
    opts = ";".join(f"{k}={v}" for k, v in s.options().items())
    busybox.env["PYCTR_NETWORK_OPT"] = opts
    c = ctr(procs)
    r = subprocess.run([sys.executable, "-c", CRASHER, s.tag, s.bridge, s.table, s.pools,
                        str(busybox.root.parent), str(c.pid), str(free_port())],
                       capture_output=True, text=True, timeout=60, check=False,
                       env={**busybox.env, "PYCTR_NETWORK_OPT": opts})
    assert r.returncode == -signal.SIGKILL, r.stderr
    _cid, veth = r.stdout.split()
    assert c.links() == ["lo", "eth0"]
    out = busybox("system", "prune", "--force", check=True).stdout
    assert veth in out, out
    assert c.links() == ["lo"]
    # (with no container of any store on the bridge any more, the prune may have taken the table too)
    listing = subprocess.run(["nft", "-j", "list", "chain", "ip", s.table, "ports"], capture_output=True, text=True)
    rules = json.loads(listing.stdout)["nftables"] if listing.returncode == 0 else []
    assert not [i for i in rules if "rule" in i]


def test_published_udp_port(bridge_driver: Any, procs: list[Any]) -> None:  # noqa: F811
    import socket as _socket

    c = ctr(procs)
    hp = free_port(_socket.SOCK_DGRAM)
    cont = fake_container(bridge_driver.ctx.root, network={"ports": [f"127.0.0.1:{hp}:5353/udp"]})
    bridge_driver.connect(cont, c.pid)
    try:
        echo = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 5353))\n"
                "while True:\n    d, a = s.recvfrom(100); s.sendto(b'echo:' + d, a)")
        procs.append(c.popen_in([sys.executable, "-c", echo]))
        wait_for(lambda: c.run(["ss", "-Huln", "sport = :5353"]).stdout.strip())

        def ask() -> bytes:
            with _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM) as s:
                s.settimeout(1)
                s.sendto(b"hi", ("127.0.0.1", hp))
                return s.recv(100)

        assert wait_for(ask) == b"echo:hi"
    finally:
        bridge_driver.disconnect(cont)


@pytest.mark.parametrize("via", ["libnftables", "nft binary"])
def test_nat_backends(via: str, monkeypatch: pytest.MonkeyPatch, bridge_session: BridgeSession) -> None:  # noqa: F811
    """Both ways of talking to nftables apply, list and delete the same rules."""
    from pyctr.network_plugins.bridge import nat, plan

    if via == "nft binary":
        monkeypatch.setattr(nat, "_lib", False)
    else:
        assert nat._libnft(), "libnftables.so.1 is part of Debian's nftables: it should load"
    table = f"chk{bridge_session.tag}{len(via)}"
    cid = secrets.token_hex(32)
    try:
        nat.run(plan.base_ruleset(table) + plan.port_rules(table, cid, "10.9.0.2", [plan.parse_port("8080:80")]))
        assert nat.list_table(table) is not None
        assert nat.delete_rules(table, owners={cid}) == 1
        assert [i for i in nat.list_ports(table)["nftables"] if "rule" in i] == []
        with pytest.raises(DriverError):
            nat.run([{"add": {"rule": {"family": "ip", "table": table, "chain": "nochain", "expr": []}}}])
    finally:
        assert nat.remove_table(table)
    assert nat.list_table(table) is None


RACER = """
import sys
from pathlib import Path
from pyctr.testing.bridge import BridgeSession
from pyctr.testing.netns import fake_container
s = BridgeSession(tag=sys.argv[1], bridge=sys.argv[2], table=sys.argv[3], pools=sys.argv[4])
d = s.make_driver(Path(sys.argv[5]))
c = fake_container(d.ctx.root, network={"ports": ["127.0.0.1:" + sys.argv[7] + ":80"]})
sys.stdin.read()  # start together
att = d.connect(c, int(sys.argv[6]))
print(c.id, att.ip_address, att.extra["network_id"], flush=True)
"""


def test_first_connects_race_from_many_processes(tmp_path: Path, procs: list[Any]) -> None:
    """8 pyctr processes connect at once on a host with no bridge, no table, no default network yet."""
    tag = secrets.token_hex(3)
    s = BridgeSession(tag=tag, bridge=f"pnet{tag}", table=f"pyctrnet{tag}",
                      pools=f"10.{secrets.randbelow(100) + 100}.0.0/16:24")
    d = s.make_driver(tmp_path)
    ports: set[int] = set()
    while len(ports) < 8:
        ports.add(free_port())
    ctrs = [ctr(procs) for _ in ports]
    racers = [subprocess.Popen([sys.executable, "-c", RACER, s.tag, s.bridge, s.table, s.pools, str(tmp_path),
                                str(c.pid), str(p)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
              for c, p in zip(ctrs, sorted(ports))]
    try:
        for r in racers:
            r.stdin.close()  # type: ignore[union-attr]
        outs = [r.stdout.read().split() for r in racers]  # type: ignore[union-attr]
        assert all(r.wait(timeout=120) == 0 for r in racers)
        assert len({o[1] for o in outs}) == 8  # distinct addresses
        assert len({o[2] for o in outs}) == 1  # one default network, created once
        for c in ctrs:
            assert c.links() == ["lo", "eth0"]
        assert d.cleanup_orphans(set())  # the racers' records are all this driver's root has
        assert all(c.links() == ["lo"] for c in ctrs)
        assert leftovers(s, [d]) == []
    finally:
        for r in racers:
            if r.poll() is None:
                r.kill()
                r.wait()
        d.cleanup_orphans(set())
        subprocess.run(["ip", "link", "del", s.bridge], capture_output=True, check=False)
        subprocess.run(["nft", "delete", "table", "ip", s.table], capture_output=True, check=False)


def test_an_unchanged_ruleset_is_not_applied_again_and_a_lost_one_is(busybox: Any,
                                                                      bridge_session: BridgeSession) -> None:  # noqa: F811
    """The nftables generation stamp: a second start commits nothing; after someone deletes
    the table, the next start puts the whole ruleset back and the container reaches its gateway."""
    from pyctr.network_plugins.bridge import nat

    busybox.env["PYCTR_NETWORK_OPT"] = ";".join(f"{k}={v}" for k, v in bridge_session.options().items())
    busybox("run", "--rm", "--network", "bridge", "busybox", "true", check=True)
    before = nat.generation()
    busybox("run", "--rm", "--network", "bridge", "busybox", "true", check=True)
    assert nat.generation() == before  # no nftables transaction: the stamp vouched for the ruleset
    subprocess.run(["nft", "delete", "table", "ip", bridge_session.table], check=True)
    r = busybox("run", "--rm", "--network", "bridge", "busybox", "sh", "-c",
                "ping -c 1 -W 2 $(ip route | awk '/default/ {print $3}')", check=True)
    assert "1 packets received" in r.stdout, r.stdout
    table = json.loads(subprocess.run(["nft", "-j", "list", "table", "ip", bridge_session.table],
                                      capture_output=True, text=True, check=True).stdout)["nftables"]
    chains = {i["chain"]["name"] for i in table if "chain" in i}
    assert {"prerouting", "output", "postrouting", "forward", "ports"} <= chains
    elements = [i["set"] for i in table if "set" in i and i["set"]["name"] == "nat_bridges"]
    assert elements and bridge_session.bridge in elements[0].get("elem", []), elements


def test_a_roots_share_of_the_shared_bridge_goes_with_system_prune(busybox: Any, busybox_rootfs: Path,
                                                                    tmp_path: Path) -> None:
    """Every root's default network is a subnet on one bridge (pyctr0): its address there and
    its subnet in the nftables sets go with `system prune` once no container of the root is on
    it, and the bridge and the table with the last root's; another root's stay untouched."""
    from tests.conftest import Pyctr

    tag = secrets.token_hex(3)
    bridge, table = f"prel{tag}", f"pyctrrel{tag}"
    opts = f"bridge={bridge};table={table};pools=10.{secrets.randbelow(150) + 100}.0.0/16:24"
    a, b = busybox, Pyctr(tmp_path / "b")
    b("import", "--change", 'CMD ["sh"]', str(busybox_rootfs), "busybox", check=True)
    for store in (a, b):
        store.env["PYCTR_NETWORK_OPT"] = opts

    def addresses() -> list[str]:
        r = subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", bridge], capture_output=True, text=True)
        return [i["local"] for link in json.loads(r.stdout or "[]") for i in link["addr_info"]] if r.returncode == 0 \
            else []

    def subnets() -> list[str] | None:
        r = subprocess.run(["nft", "-j", "list", "set", "ip", table, "subnets"], capture_output=True, text=True)
        if r.returncode != 0:
            return None
        elems = [i["set"].get("elem", []) for i in json.loads(r.stdout)["nftables"] if "set" in i][0]
        return [f"{e['prefix']['addr']}/{e['prefix']['len']}" for e in elems]

    def gateway(store: Any) -> tuple[str, str]:
        cfg = json.loads(store("network", "inspect", "bridge", check=True).stdout)[0]["IPAM"]["Config"][0]
        return cfg["Gateway"], cfg["Subnet"]

    try:
        cid = a("run", "-d", "--network", "bridge", "busybox", "sleep", "60", check=True).stdout.strip()
        b("run", "--rm", "--network", "bridge", "busybox", "true", check=True)
        (gw_a, sub_a), (gw_b, sub_b) = gateway(a), gateway(b)
        assert sorted(addresses()) == sorted([gw_a, gw_b]) and sorted(subnets()) == sorted([sub_a, sub_b])
        out = b("system", "prune", "--force", check=True).stdout
        assert f"released the default network's subnet {sub_b} on {bridge}" in out, out
        assert addresses() == [gw_a] and subnets() == [sub_a]
        # made again by the next container of the root, which works
        r = b("run", "--rm", "--network", "bridge", "busybox", "sh", "-c",
              "ping -c 1 -W 2 $(ip route | awk '/default/ {print $3}')", check=True)
        assert "1 packets received" in r.stdout
        assert len(addresses()) == 2
        b("system", "prune", "--force", check=True)
        a("rm", "-f", cid, check=True)
        out = a("system", "prune", "--force", check=True).stdout
        assert f"removed the bridge {bridge}" in out and f"removed the nftables table {table}" in out, out
        assert not addresses() and subnets() is None
        assert subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode != 0
    finally:
        a("rm", "-f", cid) if "cid" in locals() else None
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
        subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True, check=False)
