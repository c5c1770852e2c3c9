"""The bridge driver's plan: pure decisions, checked against golden files.

Regenerate the golden files after an intended change with
``PYCTR_UPDATE_GOLDEN=1 pytest tests/unit/test_bridge_plan.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from pyctr.network_plugins.bridge import plan

GOLDEN = Path(__file__).parent / "golden"
NET = plan.Network(id="ab12cd34" + "0" * 56, name="bridge", bridge="pyctr0", subnet="172.17.0.0/16",
                   gateway="172.17.0.1")
CID = "c0ffee" + "1" * 58


def golden(name: str, value: object) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(value, indent=1, sort_keys=True) + "\n"
    if os.environ.get("PYCTR_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}: run with PYCTR_UPDATE_GOLDEN=1 and review it"
    assert json.loads(text) == json.loads(path.read_text())


# -- names and addresses -----------------------------------------------------


def test_veth_name_is_short_stable_and_per_network() -> None:
    a = plan.veth_name(CID, NET.id)
    assert re.fullmatch(r"veth[0-9a-f]{7}", a)
    assert len(a) <= 15  # IFNAMSIZ - 1
    assert a == plan.veth_name(CID, NET.id)
    assert a != plan.veth_name(CID, "ff" * 32)


def test_mac_is_derived_from_the_ip_as_docker_does() -> None:
    assert plan.mac_for_ip("172.17.0.2") == "02:42:ac:11:00:02"
    assert plan.mac_for_ip("10.88.255.254") == "02:42:0a:58:ff:fe"


def test_user_bridge_name() -> None:
    assert plan.user_bridge_name("0123456789abcdef" * 4) == "pyctr-01234567"


# -- subnet choice --------------------------------------------------------------


def test_first_pool_subnet_when_nothing_overlaps() -> None:
    routes = ["192.0.2.0/24", "127.0.0.0/8", "127.0.0.1/32", "192.0.2.2/32"]
    assert plan.choose_subnet(plan.DEFAULT_POOLS, routes, []) == "172.17.0.0/16"


def test_subnets_overlapping_host_routes_are_skipped() -> None:
    routes = ["172.17.5.0/24", "172.18.0.0/15"]  # a docker0-like route and a wider one
    assert plan.choose_subnet(plan.DEFAULT_POOLS, routes, []) == "172.20.0.0/16"


def test_subnets_of_our_networks_are_skipped() -> None:
    assert plan.choose_subnet(plan.DEFAULT_POOLS, [], ["172.17.0.0/16"]) == "172.18.0.0/16"


def test_default_route_does_not_count_as_overlap() -> None:
    assert plan.choose_subnet([("10.88.0.0/16", 24)], ["0.0.0.0/0"], []) == "10.88.0.0/24"


def test_a_route_covering_the_whole_pool_exhausts_it() -> None:
    assert plan.choose_subnet([("10.88.0.0/16", 24)], ["10.0.0.0/8"], []) is None
    pools = [("10.88.0.0/16", 24), ("192.168.0.0/16", 20)]
    assert plan.choose_subnet(pools, ["10.0.0.0/8", "192.168.0.0/20"], []) == "192.168.16.0/20"


def test_parse_pools() -> None:
    assert plan.parse_pools("10.88.0.0/16:24, 192.168.0.0/16") == [("10.88.0.0/16", 24), ("192.168.0.0/16", 16)]
    with pytest.raises(ValueError):
        plan.parse_pools("10.88.0.0/16:8")
    with pytest.raises(ValueError):
        plan.parse_pools("10.88.0.1/16:24")  # host bits set


def test_check_subnet() -> None:
    assert plan.check_subnet("10.9.0.0/24", None, [], []) == ("10.9.0.0/24", "10.9.0.1")
    assert plan.check_subnet("10.9.0.0/24", "10.9.0.254", [], []) == ("10.9.0.0/24", "10.9.0.254")
    for subnet, gw, routes, taken in [
        ("10.9.0.0/24", "10.9.1.1", [], []),       # gateway outside
        ("10.9.0.0/24", "10.9.0.255", [], []),     # broadcast
        ("10.9.0.0/24", None, ["10.9.0.0/16"], []),  # host route
        ("10.9.0.0/24", None, [], ["10.9.0.128/25"]),  # our network
        ("10.9.0.0/31", None, [], []),             # too small
        ("fd00::/64", None, [], []),
    ]:
        with pytest.raises(ValueError):
            plan.check_subnet(subnet, gw, routes, taken)


# -- ports ----------------------------------------------------------------------


@pytest.mark.parametrize("text, want", [
    ("80", ("tcp", "", 0, 80)),
    ("8080:80", ("tcp", "", 8080, 80)),
    ("127.0.0.1:8080:80", ("tcp", "127.0.0.1", 8080, 80)),
    ("127.0.0.1::80/udp", ("udp", "127.0.0.1", 0, 80)),
    ("0.0.0.0:53:53/UDP", ("udp", "", 53, 53)),
])
def test_parse_port(text: str, want: tuple) -> None:
    p = plan.parse_port(text)
    assert (p.proto, p.host_ip, p.host_port, p.container_port) == want


@pytest.mark.parametrize("text", ["80/sctp", "x:80", "70000:80", "1.2.3:80:80", "80:0"])
def test_parse_port_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        plan.parse_port(text)


def test_port_conflicts() -> None:
    any8080 = plan.PortMapping("tcp", "", 8080, 80)
    assert plan.ports_conflict(any8080, plan.PortMapping("tcp", "127.0.0.1", 8080, 81))
    assert not plan.ports_conflict(any8080, plan.PortMapping("udp", "", 8080, 80))
    assert not plan.ports_conflict(plan.PortMapping("tcp", "127.0.0.1", 8080, 80),
                                   plan.PortMapping("tcp", "127.0.0.2", 8080, 80))


# -- netlink plans ----------------------------------------------------------------


def test_plan_on_a_bare_host_creates_the_bridge() -> None:
    golden("plan_bridge_new", plan.plan_bridge(plan.HostView(), NET))


def test_plan_on_a_ready_host_does_nothing() -> None:
    view = plan.HostView(
        links={"pyctr0": {"index": 7, "kind": "bridge", "up": True, "master": 0, "mtu": 1500}},
        addresses={"pyctr0": ["172.17.0.1/16"]},
        sysctls={"/proc/sys/net/ipv4/ip_forward": "1", "/proc/sys/net/ipv4/conf/pyctr0/route_localnet": "1"})
    assert plan.plan_bridge(view, NET) == []


def test_plan_completes_a_half_made_bridge() -> None:
    # a run killed after creating the bridge: no address, down, forwarding off
    view = plan.HostView(links={"pyctr0": {"index": 7, "kind": "bridge", "up": False, "master": 0}})
    ops = plan.plan_bridge(view, NET)
    assert [o["op"] for o in ops] == ["addr_add", "link_up", "sysctl", "sysctl"]


def test_plan_refuses_a_foreign_interface_with_the_bridge_name() -> None:
    view = plan.HostView(links={"pyctr0": {"index": 7, "kind": "veth", "up": True}})
    with pytest.raises(ValueError):
        plan.plan_bridge(view, NET)


def test_plan_endpoint() -> None:
    golden("plan_endpoint", plan.plan_endpoint(NET, CID, 4242, "172.17.0.2"))


def test_plan_teardown_only_deletes_what_exists() -> None:
    view = plan.HostView(links={"veth1234567": {"index": 9}})
    assert plan.plan_teardown(view, ["veth1234567", "vethabcdef0"]) == [
        {"op": "link_del", "ns": "host", "ifname": "veth1234567"}]


# -- nftables ---------------------------------------------------------------------


def test_connect_ruleset() -> None:
    ports = [plan.parse_port("127.0.0.1:8080:80"), plan.parse_port("5353:53/udp")]
    doc = plan.document(plan.base_ruleset("pyctr") + plan.network_elements("pyctr", NET)
                        + plan.port_rules("pyctr", CID, "172.17.0.2", ports))
    golden("nft_connect", doc)


def test_internal_network_elements() -> None:
    internal = plan.Network(id="ef" * 32, name="backend", bridge="pyctr-efefefef", subnet="10.5.0.0/24",
                            gateway="10.5.0.1", internal=True)
    golden("nft_internal_elements", plan.network_elements("pyctr", internal))


def test_remove_network_elements_adds_before_deleting() -> None:
    cmds = plan.remove_network_elements("pyctr", NET)
    verbs = [next(iter(c)) for c in cmds]
    assert verbs == ["add"] * 4 + ["delete"] * 4  # delete of a missing element fails: add first


def test_base_ruleset_is_static() -> None:
    # every connect sends it; it must not depend on anything but the table name
    assert plan.base_ruleset("pyctr") == plan.base_ruleset("pyctr")
    assert all("pyctr0" not in json.dumps(c) for c in plan.base_ruleset("pyctr"))


LISTING = {"nftables": [
    {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
    {"chain": {"family": "ip", "table": "pyctr", "name": "ports", "handle": 3}},
    {"rule": {"family": "ip", "table": "pyctr", "chain": "ports", "handle": 5, "comment": "aaa", "expr": []}},
    {"rule": {"family": "ip", "table": "pyctr", "chain": "ports", "handle": 8, "comment": "bbb", "expr": []}},
    {"rule": {"family": "ip", "table": "pyctr", "chain": "ports", "handle": 9, "expr": []}},
]}


def test_rules_to_delete_by_owner() -> None:
    assert plan.rules_to_delete(LISTING, "pyctr", owners={"aaa"}) == [
        {"delete": {"rule": {"family": "ip", "table": "pyctr", "chain": "ports", "handle": 5}}}]


def test_rules_to_delete_all_but_the_live() -> None:
    handles = [c["delete"]["rule"]["handle"] for c in plan.rules_to_delete(LISTING, "pyctr", keep={"bbb"})]
    assert handles == [5, 9]  # an untagged rule in our chain belongs to no live container


# -- network connect / disconnect ---------------------------------------------------


def test_a_connected_network_is_the_next_ethN_without_a_default_route() -> None:
    user = plan.Network(id="ef56" * 16, name="app", bridge="pyctr-ef56ef56", subnet="10.5.0.0/24",
                        gateway="10.5.0.1")
    ops = plan.plan_endpoint(user, CID, 4242, "10.5.0.3", ifname="eth1", default_route=False)
    assert not [op for op in ops if op["op"] == "route_add"]
    assert ops[0] == {"op": "veth_add", "ifname": plan.veth_name(CID, user.id), "master": "pyctr-ef56ef56",
                      "mtu": 1500, "peer": "eth1", "peer_mac": "02:42:0a:05:00:03", "pid": 4242}
    assert {op["ifname"] for op in ops if op.get("ns") == "container"} == {"lo", "eth1"}
    # the first network keeps the golden plan: eth0 and the default route
    assert plan.plan_endpoint(NET, CID, 4242, "172.17.0.2") == \
        plan.plan_endpoint(NET, CID, 4242, "172.17.0.2", ifname="eth0", default_route=True)


def test_next_ifname_takes_the_first_free_ethN() -> None:
    assert plan.next_ifname({"lo"}) == "eth0"
    assert plan.next_ifname({"lo", "eth0"}) == "eth1"
    assert plan.next_ifname(["lo", "eth0", "eth2"]) == "eth1"  # a disconnected network's name is reused
    assert plan.next_ifname({"eth0", "eth1", "eth2"}) == "eth3"


def test_wanted_networks_add_and_remove() -> None:
    first = {"network_id": "a" * 64, "name": "bridge", "aliases": [], "ip": "", "primary": True}
    second = {"network_id": "b" * 64, "name": "app", "aliases": ["db"], "ip": "", "primary": False}
    wanted = plan.add_wanted([first], second, "web", "app")
    assert wanted == [first, second]  # order is kept: the first is eth0 at the next start
    with pytest.raises(ValueError, match="endpoint with name web already exists in network app"):
        plan.add_wanted(wanted, dict(second, aliases=[]), "web", "app")
    assert plan.remove_wanted(wanted, "a" * 64) == [second]
    assert plan.remove_wanted(wanted, "c" * 64) == wanted


def test_gateway_is_rechosen_only_when_the_default_route_went() -> None:
    user = plan.Network(id="ef56" * 16, name="app", bridge="pyctr-ef56ef56", subnet="10.5.0.0/24",
                        gateway="10.5.0.1")
    assert plan.plan_gateway("172.17.0.1", [("eth1", user)]) == []  # eth0's route is still there
    assert plan.plan_gateway(None, []) == []  # on no network any more
    assert plan.plan_gateway(None, [("eth1", user), ("eth2", NET)]) == [
        {"op": "route_add", "ns": "container", "dst": "0.0.0.0/0", "gateway": "10.5.0.1"}]
