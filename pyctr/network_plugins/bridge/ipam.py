"""Networks, IP leases and endpoints in pyctr's state database.

Every allocation is one ``BEGIN IMMEDIATE`` transaction (see
:func:`pyctr.core.state.transaction`): the write lock is taken before the
free address is looked for, so concurrent ``pyctr run``s serialise on it and
never get the same address. The lease row and the endpoint row (the intent:
which veth, which ports) are written in that same transaction, before any
interface exists, so a run killed at any later point leaves a record that
``disconnect``/``cleanup_orphans`` can undo.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time

from pyctr.core.errors import Conflict, NotFound, UsageError
from pyctr.core.records import Record, factory
from pyctr.core.state import register_migration, sqlite3, transaction
from pyctr.network_plugins.bridge.plan import Network, PortMapping, ports_conflict

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

MIGRATION = """
CREATE TABLE bridge_networks (
    id TEXT PRIMARY KEY,            -- 64 hex
    name TEXT NOT NULL UNIQUE,
    bridge TEXT NOT NULL UNIQUE,    -- interface name
    subnet TEXT NOT NULL,
    gateway TEXT NOT NULL,
    internal INTEGER NOT NULL DEFAULT 0,
    mtu INTEGER NOT NULL DEFAULT 1500,
    is_default INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE bridge_leases (
    network_id TEXT NOT NULL,
    address TEXT NOT NULL,
    container_id TEXT NOT NULL,
    PRIMARY KEY (network_id, address),
    UNIQUE (network_id, container_id)
);
CREATE TABLE bridge_endpoints (
    container_id TEXT NOT NULL,
    network_id TEXT NOT NULL,
    veth TEXT NOT NULL,
    address TEXT NOT NULL,
    mac TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',      -- container name, for peers' /etc/hosts
    hostname TEXT NOT NULL DEFAULT '',
    aliases TEXT NOT NULL DEFAULT '[]', -- JSON
    extra_hosts TEXT NOT NULL DEFAULT '[]', -- JSON ["name:ip", ...]
    hosts_path TEXT NOT NULL DEFAULT '',
    ports TEXT NOT NULL DEFAULT '[]',   -- JSON [PortMapping dict, ...] as applied
    created REAL NOT NULL,
    PRIMARY KEY (container_id, network_id)
);
"""

register_migration("bridge-1", MIGRATION)

# network connect/disconnect: a container can have one endpoint per network
# (eth0, eth1, ...); the networks it is wired to at each start are recorded
# once a connect or disconnect changed them (no row: the spec's network only).
register_migration("bridge-2", """
ALTER TABLE bridge_endpoints ADD COLUMN ifname TEXT NOT NULL DEFAULT 'eth0';
CREATE TABLE bridge_container_networks (
    container_id TEXT PRIMARY KEY,
    networks TEXT NOT NULL              -- JSON [{network_id, name, aliases, ip, primary}, ...]
);
""")


class Endpoint(Record):
    container_id: str
    network_id: str
    veth: str
    address: str
    mac: str
    name: str = ""
    hostname: str = ""
    aliases: list[str] = factory(list)
    extra_hosts: list[str] = factory(list)
    hosts_path: str = ""
    ports: list[PortMapping] = factory(list)
    #: the interface's name inside the container
    ifname: str = "eth0"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Endpoint:
        return cls(row["container_id"], row["network_id"], row["veth"], row["address"], row["mac"],
                   row["name"], row["hostname"], json.loads(row["aliases"]), json.loads(row["extra_hosts"]),
                   row["hosts_path"], [PortMapping(**p) for p in json.loads(row["ports"])], row["ifname"])


def _network(row: sqlite3.Row) -> Network:
    return Network(id=row["id"], name=row["name"], bridge=row["bridge"], subnet=row["subnet"],
                   gateway=row["gateway"], internal=bool(row["internal"]), mtu=row["mtu"])


# ---------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------


def get_network(conn: sqlite3.Connection, ref: str) -> Network | None:
    row = conn.execute("SELECT * FROM bridge_networks WHERE name = ? OR id = ?", (ref, ref)).fetchone()
    if row is None and len(ref) >= 3 and all(c in "0123456789abcdef" for c in ref):
        rows = conn.execute("SELECT * FROM bridge_networks WHERE id LIKE ?", (ref + "%",)).fetchall()
        if len(rows) > 1:
            raise Conflict(f"multiple networks match the id prefix {ref!r}; give more characters")
        row = rows[0] if rows else None
    return _network(row) if row is not None else None


def list_networks(conn: sqlite3.Connection) -> list[Network]:
    return [_network(r) for r in conn.execute("SELECT * FROM bridge_networks ORDER BY created")]


def is_default(conn: sqlite3.Connection, network_id: str) -> bool:
    row = conn.execute("SELECT is_default FROM bridge_networks WHERE id = ?", (network_id,)).fetchone()
    return bool(row and row[0])


def insert_network(conn: sqlite3.Connection, name: str, bridge: str | None, subnet: str, gateway: str,
                   internal: bool = False, mtu: int = 1500, default: bool = False,
                   network_id: str | None = None, bridge_prefix: str = "pyctr-") -> Network:
    """Record a network (caller holds a transaction and checked the subnet)."""
    from pyctr.network_plugins.bridge.plan import user_bridge_name

    nid = network_id or os.urandom(32).hex()  # not secrets: it costs 8 ms of imports
    bridge = bridge or user_bridge_name(nid, bridge_prefix)
    try:
        conn.execute("INSERT INTO bridge_networks(id, name, bridge, subnet, gateway, internal, mtu,"
                     " is_default, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (nid, name, bridge, subnet, gateway, int(internal), mtu, int(default), time.time()))
    except sqlite3.IntegrityError:
        raise Conflict(f"network with name {name} already exists") from None
    return Network(nid, name, bridge, subnet, gateway, internal, mtu)


def delete_network(conn: sqlite3.Connection, network_id: str) -> None:
    """Forget a network; refuses while containers are attached (caller's transaction)."""
    n = conn.execute("SELECT COUNT(*) FROM bridge_endpoints WHERE network_id = ?", (network_id,)).fetchone()[0]
    if n:
        raise Conflict(f"network {network_id[:12]} has {n} active endpoint(s); remove those containers first")
    conn.execute("DELETE FROM bridge_leases WHERE network_id = ?", (network_id,))
    conn.execute("DELETE FROM bridge_networks WHERE id = ?", (network_id,))


# ---------------------------------------------------------------------------
# Leases and endpoints
# ---------------------------------------------------------------------------


def _pick(net: Network, used: set[int], requested: str | None) -> str:
    subnet = ipaddress.ip_network(net.subnet)
    skip = {int(subnet.network_address), int(subnet.broadcast_address), int(ipaddress.ip_address(net.gateway))}
    if requested:
        addr = ipaddress.ip_address(requested)
        if addr not in subnet or int(addr) in skip:
            raise UsageError(f"address {requested} is not a usable address of {net.name} ({net.subnet})")
        if int(addr) in used:
            raise Conflict(f"address {requested} is already in use on network {net.name}")
        return requested
    first, last = int(subnet.network_address) + 1, int(subnet.broadcast_address) - 1
    for a in range(first, last + 1):
        if a not in used and a not in skip:
            return str(ipaddress.ip_address(a))
    raise Conflict(f"no free address left on network {net.name} ({net.subnet})")


def allocate(conn: sqlite3.Connection, net: Network, ep: Endpoint, requested: str | None = None,
             host_port_chooser: Any = None) -> Endpoint:
    """Lease an address and record the endpoint, in one write transaction.

    An existing endpoint of the same container on the same network is
    returned unchanged (connect is idempotent). ``ep.address``/``ep.mac`` are
    filled in; ``host_port_chooser(PortMapping, taken)`` gives a host port to
    mappings that asked for any.
    """
    from pyctr.network_plugins.bridge.plan import mac_for_ip, veth_name

    with transaction(conn):
        row = conn.execute("SELECT * FROM bridge_endpoints WHERE container_id = ? AND network_id = ?",
                           (ep.container_id, net.id)).fetchone()
        if row is not None:
            return Endpoint.from_row(row)
        used = {int(ipaddress.ip_address(r[0]))
                for r in conn.execute("SELECT address FROM bridge_leases WHERE network_id = ?", (net.id,))}
        address = _pick(net, used, requested)
        taken = [PortMapping(**p) for r in conn.execute("SELECT ports FROM bridge_endpoints")
                 for p in json.loads(r[0])]
        for p in ep.ports:
            if p.host_port == 0 and host_port_chooser is not None:
                p.host_port = host_port_chooser(p, taken)
            for t in taken:
                if ports_conflict(p, t):
                    where = f"{p.host_ip or '0.0.0.0'}:{p.host_port}/{p.proto}"
                    raise Conflict(f"host port {where} is already published by another container")
            taken.append(p)
        ep.network_id = net.id
        ep.address = address
        ep.mac = mac_for_ip(address)
        ep.veth = veth_name(ep.container_id, net.id)
        conn.execute("INSERT INTO bridge_leases(network_id, address, container_id) VALUES (?, ?, ?)",
                     (net.id, address, ep.container_id))
        conn.execute(
            "INSERT INTO bridge_endpoints(container_id, network_id, veth, address, mac, name, hostname,"
            " aliases, extra_hosts, hosts_path, ports, created, ifname)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ep.container_id, net.id, ep.veth, address, ep.mac, ep.name, ep.hostname, json.dumps(ep.aliases),
             json.dumps(ep.extra_hosts), ep.hosts_path, json.dumps([p.to_dict() for p in ep.ports]),
             time.time(), ep.ifname))
    return ep


def release(conn: sqlite3.Connection, container_id: str, network_id: str | None = None) -> None:
    """Drop the container's endpoint(s) and lease(s); idempotent."""
    with transaction(conn):
        if network_id is None:
            conn.execute("DELETE FROM bridge_endpoints WHERE container_id = ?", (container_id,))
            conn.execute("DELETE FROM bridge_leases WHERE container_id = ?", (container_id,))
        else:
            conn.execute("DELETE FROM bridge_endpoints WHERE container_id = ? AND network_id = ?",
                         (container_id, network_id))
            conn.execute("DELETE FROM bridge_leases WHERE container_id = ? AND network_id = ?",
                         (container_id, network_id))


def endpoints(conn: sqlite3.Connection, container_id: str | None = None,
              network_id: str | None = None) -> list[Endpoint]:
    q, args = "SELECT * FROM bridge_endpoints WHERE 1", []
    if container_id is not None:
        q += " AND container_id = ?"
        args.append(container_id)
    if network_id is not None:
        q += " AND network_id = ?"
        args.append(network_id)
    return [Endpoint.from_row(r) for r in conn.execute(q + " ORDER BY created", args)]


def lease_owners(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT container_id FROM bridge_leases")} | \
        {r[0] for r in conn.execute("SELECT container_id FROM bridge_endpoints")}


def wanted_networks(conn: sqlite3.Connection, container_id: str) -> list[dict[str, Any]] | None:
    """The networks recorded by connect/disconnect (see :func:`.plan.add_wanted`); None: never changed."""
    row = conn.execute("SELECT networks FROM bridge_container_networks WHERE container_id = ?",
                       (container_id,)).fetchone()
    return json.loads(row[0]) if row is not None else None


def set_wanted_networks(conn: sqlite3.Connection, container_id: str, networks: list[dict[str, Any]]) -> None:
    with transaction(conn):
        conn.execute("INSERT OR REPLACE INTO bridge_container_networks(container_id, networks) VALUES (?, ?)",
                     (container_id, json.dumps(networks)))


def forget_container_networks(conn: sqlite3.Connection, container_id: str) -> None:
    """Drop the recorded networks of one removed container."""
    with transaction(conn):
        conn.execute("DELETE FROM bridge_container_networks WHERE container_id = ?", (container_id,))


def forget_wanted_networks(conn: sqlite3.Connection, keep: set[str]) -> int:
    """Drop the recorded networks of containers not in ``keep`` (they were removed)."""
    gone = [r[0] for r in conn.execute("SELECT container_id FROM bridge_container_networks")
            if r[0] not in keep]
    if gone:
        with transaction(conn):
            conn.executemany("DELETE FROM bridge_container_networks WHERE container_id = ?",
                             [(c,) for c in gone])
    return len(gone)


def require_network(conn: sqlite3.Connection, ref: str) -> Network:
    net = get_network(conn, ref)
    if net is None:
        raise NotFound(f"network {ref} not found")
    return net
