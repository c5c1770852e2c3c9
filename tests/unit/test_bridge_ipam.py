"""IP leases in the state database: no root, a real SQLite file, real processes."""

from __future__ import annotations

import multiprocessing
import secrets
from pathlib import Path

import pytest

from pyctr.core import state
from pyctr.core.errors import Conflict, UsageError
from pyctr.core.state import transaction
from pyctr.network_plugins.bridge import ipam, plan


def _net(conn, subnet: str = "10.77.0.0/24", name: str = "n") -> plan.Network:
    import ipaddress

    gw = str(ipaddress.ip_network(subnet).network_address + 1)
    with transaction(conn):
        return ipam.insert_network(conn, name, None, subnet, gw)


def _ep(cid: str | None = None, ports: list[str] = ()) -> ipam.Endpoint:  # type: ignore[assignment]
    return ipam.Endpoint(container_id=cid or secrets.token_hex(32), network_id="", veth="", address="", mac="",
                         ports=[plan.parse_port(p) for p in ports])


@pytest.fixture
def conn(tmp_path: Path):
    c = state.connect(tmp_path)
    yield c
    c.close()


def test_first_address_skips_network_and_gateway(conn) -> None:
    net = _net(conn)
    ep = ipam.allocate(conn, net, _ep())
    assert ep.address == "10.77.0.2"
    assert ep.mac == "02:42:0a:4d:00:02"
    assert ep.veth == plan.veth_name(ep.container_id, net.id)


def test_a_slash_30_has_one_address_and_no_broadcast(conn) -> None:
    net = _net(conn, "10.77.0.0/30")  # .0 network, .1 gateway, .2 free, .3 broadcast
    assert ipam.allocate(conn, net, _ep()).address == "10.77.0.2"
    with pytest.raises(Conflict, match="no free address"):
        ipam.allocate(conn, net, _ep())


def test_release_frees_the_address(conn) -> None:
    net = _net(conn, "10.77.0.0/30")
    ep = ipam.allocate(conn, net, _ep())
    ipam.release(conn, ep.container_id)
    ipam.release(conn, ep.container_id)  # idempotent
    assert ipam.allocate(conn, net, _ep()).address == "10.77.0.2"
    assert ipam.endpoints(conn, ep.container_id) == []


def test_allocation_is_idempotent_per_container(conn) -> None:
    net = _net(conn)
    cid = secrets.token_hex(32)
    a = ipam.allocate(conn, net, _ep(cid))
    b = ipam.allocate(conn, net, _ep(cid))
    assert a.address == b.address
    assert conn.execute("SELECT COUNT(*) FROM bridge_leases").fetchone()[0] == 1


def test_requested_address(conn) -> None:
    net = _net(conn)
    assert ipam.allocate(conn, net, _ep(), requested="10.77.0.50").address == "10.77.0.50"
    with pytest.raises(Conflict, match="already in use"):
        ipam.allocate(conn, net, _ep(), requested="10.77.0.50")
    for bad in ("10.77.0.1", "10.77.0.255", "10.77.0.0", "10.78.0.5"):
        with pytest.raises(UsageError):
            ipam.allocate(conn, net, _ep(), requested=bad)
    # a failed allocation leaves nothing
    assert conn.execute("SELECT COUNT(*) FROM bridge_leases").fetchone()[0] == 1


def test_published_host_ports_cannot_be_taken_twice(conn) -> None:
    net = _net(conn)
    ipam.allocate(conn, net, _ep(ports=["8080:80"]))
    with pytest.raises(Conflict, match="already published"):
        ipam.allocate(conn, net, _ep(ports=["127.0.0.1:8080:81"]))
    ipam.allocate(conn, net, _ep(ports=["8080:80/udp"]))


def test_random_host_port_is_chosen_inside_the_transaction(conn) -> None:
    net = _net(conn)
    seen = []

    def chooser(p: plan.PortMapping, taken: list[plan.PortMapping]) -> int:
        seen.append([t.host_port for t in taken])
        return 40000 + len(seen)

    ep = ipam.allocate(conn, net, _ep(ports=["80", "81"]), host_port_chooser=chooser)
    assert [p.host_port for p in ep.ports] == [40001, 40002]
    assert seen == [[], [40001]]  # the second choice sees the first


def test_network_with_endpoints_cannot_be_deleted(conn) -> None:
    net = _net(conn)
    ep = ipam.allocate(conn, net, _ep())
    with pytest.raises(Conflict), transaction(conn):
        ipam.delete_network(conn, net.id)
    ipam.release(conn, ep.container_id)
    with transaction(conn):
        ipam.delete_network(conn, net.id)
    assert ipam.get_network(conn, net.name) is None


def test_network_names_are_unique(conn) -> None:
    _net(conn, name="x")
    with pytest.raises(Conflict):
        _net(conn, "10.78.0.0/24", name="x")


def test_lookup_by_name_id_and_prefix(conn) -> None:
    net = _net(conn, name="front")
    assert ipam.get_network(conn, "front").id == net.id
    assert ipam.get_network(conn, net.id).name == "front"
    assert ipam.get_network(conn, net.id[:6]).name == "front"
    assert ipam.get_network(conn, "nope") is None


def _allocate_in_child(root: str, net_id: str, out: multiprocessing.Queue) -> None:
    c = state.connect(root)
    net = ipam.get_network(c, net_id)
    out.put(ipam.allocate(c, net, _ep()).address)
    c.close()


def test_50_concurrent_allocations_get_50_addresses(tmp_path: Path, conn) -> None:
    net = _net(conn)
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_allocate_in_child, args=(str(tmp_path), net.id, q)) for _ in range(50)]
    for p in procs:
        p.start()
    got = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(set(got)) == 50
    rows = conn.execute("SELECT COUNT(DISTINCT address), COUNT(*) FROM bridge_leases").fetchone()
    assert tuple(rows) == (50, 50)
    assert "10.77.0.1" not in got and "10.77.0.0" not in got


def test_one_endpoint_per_network_each_with_its_interface(conn) -> None:
    a, b = _net(conn, "10.77.0.0/24", "a"), _net(conn, "10.78.0.0/24", "b")
    cid = secrets.token_hex(32)
    e0 = ipam.allocate(conn, a, _ep(cid))
    e1 = _ep(cid)
    e1.ifname = "eth1"
    e1 = ipam.allocate(conn, b, e1)
    assert [(e.network_id, e.ifname) for e in ipam.endpoints(conn, cid)] == [(a.id, "eth0"), (b.id, "eth1")]
    assert e0.veth != e1.veth
    ipam.release(conn, cid, b.id)  # network disconnect: that lease only
    assert [e.network_id for e in ipam.endpoints(conn, cid)] == [a.id]
    assert ipam.allocate(conn, b, _ep()).address == e1.address  # the address is free again


def test_recorded_networks_of_a_container(conn) -> None:
    cid, other = secrets.token_hex(32), secrets.token_hex(32)
    assert ipam.wanted_networks(conn, cid) is None  # never changed: the spec's network
    ipam.set_wanted_networks(conn, cid, [{"network_id": "x", "name": "app", "aliases": [], "ip": "",
                                          "primary": False}])
    ipam.set_wanted_networks(conn, other, [])  # disconnected from everything is not "never changed"
    assert ipam.wanted_networks(conn, cid)[0]["name"] == "app"
    assert ipam.wanted_networks(conn, other) == []
    assert ipam.forget_wanted_networks(conn, keep={cid}) == 1
    assert ipam.wanted_networks(conn, other) is None and ipam.wanted_networks(conn, cid) is not None
