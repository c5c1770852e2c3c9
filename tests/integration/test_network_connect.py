"""``network connect`` / ``disconnect``: a second interface in a running container's netns.

Driver-level tests use stand-in containers (processes in fresh network
namespaces, see :mod:`pyctr.testing.netns`); CLI tests run busybox containers
through the real runtime. Pings only go between namespaces the tests made.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from pyctr.core.errors import Conflict, UsageError
from pyctr.testing.bridge import BridgeSession, bridge_driver, bridge_session, leftovers  # noqa: F401  (fixtures)
from pyctr.testing.netns import NetnsProcess, fake_container

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


@pytest.fixture
def procs() -> Iterator[list[NetnsProcess]]:
    made: list[NetnsProcess] = []
    yield made
    for p in made:
        p.kill()


def ctr(procs: list[NetnsProcess], mount: bool = False) -> NetnsProcess:
    p = NetnsProcess(mount=mount)
    procs.append(p)
    return p


def addrs(p: NetnsProcess) -> dict[str, list[str]]:
    """ifname -> ["a.b.c.d/len"], as `ip -j addr` inside shows it."""
    out = json.loads(p.run(["ip", "-j", "addr"], check=True).stdout)
    return {i["ifname"]: [f"{a['local']}/{a['prefixlen']}" for a in i["addr_info"] if a["family"] == "inet"]
            for i in out}


def in_subnet(cidr: str, subnet: str) -> bool:
    import ipaddress

    return ipaddress.ip_interface(cidr).network == ipaddress.ip_network(subnet)


def test_connect_a_running_container_to_a_second_network_and_back(bridge_driver: Any,  # noqa: F811
                                                                   procs: list[NetnsProcess]) -> None:
    tag = secrets.token_hex(3)
    info = bridge_driver.create_network(f"app{tag}")
    subnet = info["IPAM"]["Config"][0]["Subnet"]
    one, two = ctr(procs, mount=True), ctr(procs, mount=True)
    c1 = fake_container(bridge_driver.ctx.root, name=f"one{tag}")  # on the default bridge
    c2 = fake_container(bridge_driver.ctx.root, name=f"two{tag}", network={"network": f"app{tag}"})
    try:
        a1 = bridge_driver.connect(c1, one.pid)
        one.run(["mount", "--bind", str(c1.dir / "hosts"), "/etc/hosts"], check=True)
        a2 = bridge_driver.connect(c2, two.pid)
        two.run(["mount", "--bind", str(c2.dir / "hosts"), "/etc/hosts"], check=True)
        assert set(addrs(one)) == {"lo", "eth0"}

        att = bridge_driver.connect_network(c1, f"app{tag}", one.pid, aliases=[f"web{tag}"])
        seen = addrs(one)
        assert set(seen) == {"lo", "eth0", "eth1"}
        assert seen["eth0"] == [f"{a1.ip_address}/{a1.prefix_len}"]  # the first network is untouched
        (eth1,) = seen["eth1"]
        assert in_subnet(eth1, subnet)
        # Docker keeps the first network's gateway: still one default route, via eth0
        routes = one.run(["ip", "route", "show", "default"], check=True).stdout.splitlines()
        assert routes == [f"default via {a1.gateway} dev eth0 "] or \
            [r.split() for r in routes] == [["default", "via", a1.gateway, "dev", "eth0"]]
        nets = att.extra["networks"]
        assert set(nets) == {"bridge", f"app{tag}"} and nets[f"app{tag}"]["IPAddress"] == eth1.split("/")[0]
        assert att.ip_address == a1.ip_address  # the top level stays the first interface
        assert c1.id in bridge_driver.inspect_network(f"app{tag}")["Containers"]
        # names resolve both ways on the shared network (files rewritten in place)
        r = one.run(["busybox", "ping", "-c", "1", "-W", "2", f"two{tag}"])
        assert r.returncode == 0 and a2.ip_address in r.stdout, r.stdout + r.stderr
        for name in (f"one{tag}", f"web{tag}"):
            r = two.run(["busybox", "ping", "-c", "1", "-W", "2", name])
            assert r.returncode == 0 and eth1.split("/")[0] in r.stdout, r.stdout + r.stderr

        with pytest.raises(Conflict, match=f"endpoint with name one{tag} already exists in network app{tag}"):
            bridge_driver.connect_network(c1, f"app{tag}", one.pid)
        with pytest.raises(UsageError):
            bridge_driver.connect_network(c2, "bridge", two.pid, ip="10.0.0.9")

        after = bridge_driver.disconnect_network(c1, f"app{tag}")
        assert set(addrs(one)) == {"lo", "eth0"}
        assert set(after.extra["networks"]) == {"bridge"}
        assert c1.id not in bridge_driver.inspect_network(f"app{tag}")["Containers"]
        r = two.run(["busybox", "ping", "-c", "1", "-W", "1", f"one{tag}"])
        assert r.returncode != 0 and "bad address" in r.stderr, r.stdout + r.stderr
        assert f"two{tag}" not in (c1.dir / "hosts").read_text()
        with pytest.raises(Conflict, match="is not connected to network"):
            bridge_driver.disconnect_network(c1, f"app{tag}")
        # the lease is released: a fresh allocation can get that very address
        three = ctr(procs)
        c3 = fake_container(bridge_driver.ctx.root, network={"network": f"app{tag}", "ip": eth1.split("/")[0]})
        try:
            assert bridge_driver.connect(c3, three.pid).ip_address == eth1.split("/")[0]
        finally:
            bridge_driver.disconnect(c3)
    finally:
        for c in (c1, c2):
            bridge_driver.disconnect(c)
        bridge_driver.remove_network(f"app{tag}")


def test_a_stopped_container_gets_the_network_at_its_next_start(bridge_driver: Any,  # noqa: F811
                                                                procs: list[NetnsProcess]) -> None:
    tag = secrets.token_hex(3)
    info = bridge_driver.create_network(f"late{tag}")
    c = fake_container(bridge_driver.ctx.root, name=f"late{tag}")
    att = bridge_driver.connect_network(c, f"late{tag}", 0)  # created, not running: recorded only
    assert att.extra["networks"][f"late{tag}"]["IPAddress"] == ""
    assert bridge_driver.inspect_network(f"late{tag}")["Containers"] == {}
    p = ctr(procs)
    try:
        start = bridge_driver.connect(c, p.pid)
        seen = addrs(p)
        assert set(seen) == {"lo", "eth0", "eth1"}
        assert in_subnet(seen["eth1"][0], info["IPAM"]["Config"][0]["Subnet"])
        assert set(start.extra["networks"]) == {"bridge", f"late{tag}"}
        bridge_driver.disconnect(c)  # the container stops: both interfaces and leases go
        assert addrs(p) == {"lo": ["127.0.0.1/8"]}
        # disconnecting the first network while stopped: the next start has the other one as eth0
        bridge_driver.disconnect_network(c, "bridge")
        start = bridge_driver.connect(c, p.pid)
        assert set(addrs(p)) == {"lo", "eth0"} and start.network == f"late{tag}"
        assert p.run(["ip", "route", "show", "default"], check=True).stdout.split()[:3] == \
            ["default", "via", info["IPAM"]["Config"][0]["Gateway"]]
        # disconnecting the last network of a running container is allowed: lo only
        bridge_driver.disconnect_network(c, f"late{tag}")
        assert set(addrs(p)) == {"lo"}
        # the container is removed: prune forgets its recorded networks
        bridge_driver.cleanup_orphans(set())
        from pyctr.network_plugins.bridge import ipam

        assert ipam.wanted_networks(bridge_driver._db(), c.id) is None
    finally:
        bridge_driver.disconnect(c)
        bridge_driver.remove_network(f"late{tag}")


def test_disconnecting_the_gateway_network_moves_the_default_route(bridge_driver: Any,  # noqa: F811
                                                                    procs: list[NetnsProcess]) -> None:
    tag = secrets.token_hex(3)
    info = bridge_driver.create_network(f"gw{tag}")
    p = ctr(procs)
    c = fake_container(bridge_driver.ctx.root)
    try:
        first = bridge_driver.connect(c, p.pid)
        bridge_driver.connect_network(c, f"gw{tag}", p.pid)
        assert p.run(["ip", "route", "show", "default"], check=True).stdout.split()[:5] == \
            ["default", "via", first.gateway, "dev", "eth0"]
        bridge_driver.disconnect_network(c, "bridge", p.pid)
        assert set(addrs(p)) == {"lo", "eth1"}
        assert p.run(["ip", "route", "show", "default"], check=True).stdout.split()[:5] == \
            ["default", "via", info["IPAM"]["Config"][0]["Gateway"], "dev", "eth1"]
        # connecting again: the new eth0 does not take the route back (eth1 keeps it)
        bridge_driver.connect_network(c, "bridge", p.pid)
        assert set(addrs(p)) == {"lo", "eth0", "eth1"}
        assert p.run(["ip", "route", "show", "default"], check=True).stdout.split()[4] == "eth1"
    finally:
        bridge_driver.disconnect(c)
        bridge_driver.remove_network(f"gw{tag}")


def test_cleanup_orphans_removes_every_attachment(bridge_driver: Any, procs: list[NetnsProcess]) -> None:  # noqa: F811
    tag = secrets.token_hex(3)
    bridge_driver.create_network(f"orph{tag}")
    p = ctr(procs)
    c = fake_container(bridge_driver.ctx.root)
    try:
        bridge_driver.connect(c, p.pid)
        att = bridge_driver.connect_network(c, f"orph{tag}", p.pid)
        veths = {n["EndpointID"] for n in att.extra["networks"].values()}
        assert len(veths) == 2
        report = bridge_driver.cleanup_orphans(set())  # the container record is gone
        assert all(any(v in line for line in report) for v in veths), report
        assert sum("lease" in line for line in report) == 2, report
        assert set(addrs(p)) == {"lo"}
    finally:
        bridge_driver.disconnect(c)
        bridge_driver.remove_network(f"orph{tag}")


# ---------------------------------------------------------------------------
# Through the CLI and the runtime


def _leases(pyctr: Any) -> list[tuple[str, str]]:
    from pyctr.core import state

    conn = state.connect(pyctr.root)
    try:
        return [(r[0], r[1]) for r in conn.execute("SELECT container_id, address FROM bridge_leases")]
    finally:
        conn.close()


def _fmt(pyctr: Any, fmt: str, *names: str) -> str:
    return pyctr("inspect", "--format", fmt, *names, check=True).stdout.strip()


def test_cli_connect_disconnect_and_rm_f_of_a_doubly_connected_container(busybox: Any,
                                                                        bridge_session: BridgeSession) -> None:  # noqa: F811
    tag = secrets.token_hex(3)
    net, a, b = f"net2{tag}", f"a{tag}", f"b{tag}"
    busybox("network", "create", net, check=True)
    subnet = json.loads(busybox("network", "inspect", net, check=True).stdout)[0]["IPAM"]["Config"][0]["Subnet"]
    try:
        busybox("run", "-d", "--name", a, "busybox", "sleep", "300", check=True)
        busybox("run", "-d", "--name", b, "--network", net, "busybox", "sleep", "300", check=True)
        busybox("network", "connect", "--alias", f"al{tag}", net, a, check=True)
        out = busybox("exec", a, "ip", "-o", "-4", "addr", "show", "eth1", check=True).stdout
        ip1 = out.split("inet ")[1].split()[0]
        assert in_subnet(ip1, subnet), out
        ip1 = ip1.split("/")[0]
        nets = json.loads(_fmt(busybox, "{{json .NetworkSettings.Networks}}", a))
        assert set(nets) == {"bridge", net} and nets[net]["IPAddress"] == ip1 and nets[net]["Aliases"] == [f"al{tag}"]
        members = json.loads(busybox("network", "inspect", net, check=True).stdout)[0]["Containers"]
        assert {m["Name"] for m in members.values()} == {a, b}
        r = busybox("exec", a, "ping", "-c", "1", "-W", "3", b)
        assert r.returncode == 0, r.stdout + r.stderr
        for name in (a, f"al{tag}"):
            r = busybox("exec", b, "ping", "-c", "1", "-W", "3", name)
            assert r.returncode == 0 and ip1 in r.stdout, r.stdout + r.stderr

        # Docker's errors: one line, exit 1
        for args, msg in ((("network", "connect", net, a), f"endpoint with name {a} already exists in network {net}"),
                          (("network", "connect", f"nonet{tag}", a), f"network nonet{tag} not found"),
                          (("network", "connect", net, f"noctr{tag}"), f"no such container: noctr{tag}")):
            r = busybox(*args)
            assert r.returncode == 1 and r.stderr.strip().splitlines() == [f"Error: {msg}"], r.stderr

        busybox("network", "disconnect", net, a, check=True)
        assert "eth1" not in busybox("exec", a, "ip", "-o", "link", check=True).stdout
        r = busybox("exec", b, "ping", "-c", "1", "-W", "1", a)
        assert r.returncode != 0 and "bad address" in r.stdout + r.stderr, r.stdout + r.stderr
        assert set(json.loads(_fmt(busybox, "{{json .NetworkSettings.Networks}}", a))) == {"bridge"}
        cid_a = _fmt(busybox, "{{.Id}}", a)
        assert [ip for cid, ip in _leases(busybox) if cid == cid_a] == [_fmt(busybox, "{{.NetworkSettings.IPAddress}}", a)]
        r = busybox("network", "disconnect", net, a)
        assert r.returncode == 1 and "is not connected to network" in r.stderr

        # the released address can be taken again (by --ip), then rm -f takes both interfaces
        busybox("network", "connect", "--ip", ip1, net, a, check=True)
        assert f"inet {ip1}/" in busybox("exec", a, "ip", "-o", "-4", "addr", "show", "eth1", check=True).stdout
        assert len([1 for cid, _ in _leases(busybox) if cid == cid_a]) == 2
        busybox("rm", "-f", a, check=True)
        assert [1 for cid, _ in _leases(busybox) if cid == cid_a] == []
        bridges = [bridge_session.bridge, json.loads(busybox("network", "inspect", net, check=True).stdout)[0]
                   ["Options"]["com.docker.network.bridge.name"]]
        on_bridges = [lk["ifname"] for br in bridges for lk in json.loads(subprocess.run(
            ["ip", "-j", "link", "show", "master", br], capture_output=True, text=True, check=True).stdout or "[]")]
        assert len(on_bridges) == 1, on_bridges  # b's veth only
    finally:
        busybox("rm", "-f", a, b)
        busybox("network", "rm", net)
    assert _leases(busybox) == []


def test_cli_created_container_and_network_modes(busybox: Any) -> None:
    tag = secrets.token_hex(3)
    net, c, n, k = f"later{tag}", f"c{tag}", f"n{tag}", f"k{tag}"
    busybox("network", "create", net, check=True)
    try:
        busybox("create", "--name", c, "busybox", "sleep", "300", check=True)
        busybox("network", "connect", net, c, check=True)
        nets = json.loads(_fmt(busybox, "{{json .NetworkSettings.Networks}}", c))
        assert net in nets and nets[net]["IPAddress"] == ""
        busybox("start", c, check=True)
        links = busybox("exec", c, "ip", "-o", "-4", "addr", check=True).stdout
        assert " eth0 " in f" {' '.join(links.split())} " and " eth1 " in f" {' '.join(links.split())} ", links
        nets = json.loads(_fmt(busybox, "{{json .NetworkSettings.Networks}}", c))
        assert all(v["IPAddress"] for v in nets.values()) and set(nets) == {"bridge", net}

        busybox("run", "-d", "--name", n, "--network", "none", "busybox", "sleep", "300", check=True)
        r = busybox("network", "connect", net, n)
        assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "private (none) mode" in r.stderr
        r = busybox("network", "connect", "host", c)
        assert r.returncode == 1 and "host network" in r.stderr
        busybox("run", "-d", "--name", k, "--network", f"container:{c}", "busybox", "sleep", "300", check=True)
        r = busybox("network", "connect", net, k)
        assert r.returncode == 1 and "sharing network namespace" in r.stderr, r.stderr
        busybox("rm", "-f", k, check=True)
        # rm of a stopped container drops its recorded networks (NetworkDriver.forget)
        busybox("rm", "-f", n, check=True)
        busybox("stop", "-t", "1", c, check=True)
        from pyctr.core import state

        def recorded() -> int:
            conn = state.connect(busybox.root)
            try:
                return conn.execute("SELECT COUNT(*) FROM bridge_container_networks").fetchone()[0]
            finally:
                conn.close()

        assert recorded() == 1  # c's: bridge + the connected network, for its next start
        busybox("rm", c, check=True)
        assert recorded() == 0
    finally:
        busybox("rm", "-f", k, c, n)
        busybox("network", "rm", net)
    assert _leases(busybox) == []
