"""Fixtures for tests of the bridge network driver (import them into a test module).

Every name is unique to the test session (``pnet<hex>`` bridges, table
``pyctrnet<hex>``, a random 10.x pool), so sessions running side by side on
one machine never share a bridge, a subnet or a rule. ``bridge_leakcheck``
fails a test that leaves a veth on the session's bridges, a DNAT rule, a
lease or a test link behind; the session's bridges and nftables table are
removed at the end.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass
class BridgeSession:
    tag: str
    bridge: str
    table: str
    pools: str
    links: list[str] = field(default_factory=list)  #: links tests made (external hosts)
    drivers: list[Any] = field(default_factory=list)  #: every driver made, for the final teardown

    def options(self) -> dict[str, str]:
        # user networks' bridges carry the session's tag too, so parallel sessions can tell theirs apart
        return {"bridge": self.bridge, "table": self.table, "pools": self.pools, "user_prefix": f"pu{self.tag}-"}

    def make_driver(self, root: Path) -> Any:
        from pyctr.core.drivers import DriverContext
        from pyctr.network_plugins.bridge import BridgeNetworkDriver

        ctx = DriverContext(root=root / "root", runroot=root / "run", options=self.options())
        ctx.root.mkdir(parents=True, exist_ok=True)
        return BridgeNetworkDriver(ctx)


def _ip_json(*args: str) -> list[dict[str, Any]]:
    r = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=False)
    return json.loads(r.stdout or "[]") if r.returncode == 0 else []


def our_bridges(session: BridgeSession) -> list[str]:
    """The session's default bridge and the user-network bridges of its roots."""
    names = []
    for link in _ip_json("link", "show", "type", "bridge"):
        if link["ifname"] == session.bridge or link["ifname"] in session.links:
            names.append(link["ifname"])
    return names


def leftovers(session: BridgeSession, drivers: list[Any]) -> list[str]:
    """What a finished test must not leave."""
    out = []
    bridges = {session.bridge} | {n.bridge for d in drivers for n in _networks(d)}
    for br in sorted(bridges):
        for link in _ip_json("link", "show", "master", br):
            out.append(f"{link['ifname']} on {br}")
    r = subprocess.run(["nft", "-j", "list", "chain", "ip", session.table, "ports"],
                       capture_output=True, text=True, check=False)
    if r.returncode == 0:
        rules = [i for i in json.loads(r.stdout)["nftables"] if "rule" in i]
        out += [f"nft rule {i['rule'].get('comment', '')[:12]}" for i in rules]
    for d in drivers:
        from pyctr.core import state

        conn = state.connect(d.ctx.root)
        try:
            out += [f"lease {r[0]}" for r in conn.execute("SELECT address FROM bridge_leases")]
        finally:
            conn.close()
    for name in session.links:
        if _ip_json("link", "show", name):
            out.append(f"test link {name}")
    return out


def _networks(driver: Any) -> list[Any]:
    from pyctr.core import state
    from pyctr.network_plugins.bridge import ipam

    conn = state.connect(driver.ctx.root)
    try:
        return ipam.list_networks(conn)
    finally:
        conn.close()


@contextlib.contextmanager
def user_network(driver: Any) -> Iterator[str]:
    """A user network of ``driver`` (its bridge named with the session's tag), removed
    on exit: the bridge's ``network_factory`` for the network conformance suite."""
    name = f"conf{secrets.token_hex(4)}"
    driver.create_network(name)
    try:
        yield name
    finally:
        driver.remove_network(name)


@pytest.fixture(scope="session")
def bridge_session() -> Iterator[BridgeSession]:
    tag = secrets.token_hex(3)
    s = BridgeSession(tag=tag, bridge=f"pnet{tag}", table=f"pyctrnet{tag}",
                      pools=f"10.{secrets.randbelow(150) + 100}.0.0/16:24")
    yield s
    # the end of the session: our bridges (default and user networks) and table
    names = {s.bridge} | {n.bridge for d in s.drivers for n in _networks(d)}
    for name in names:
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
    subprocess.run(["nft", "delete", "table", "ip", s.table], capture_output=True, check=False)


@pytest.fixture
def bridge_driver(bridge_session: BridgeSession, tmp_path: Path) -> Iterator[Any]:
    """A bridge driver on a private root; fails the test if it leaks anything."""
    d = bridge_session.make_driver(tmp_path)
    bridge_session.drivers.append(d)
    yield d
    left = leftovers(bridge_session, [d])
    if left:
        # clean for the next test, then fail this one
        d.cleanup_orphans(set())
        pytest.fail("the test left behind: " + ", ".join(left))
