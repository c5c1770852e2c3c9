"""``system prune`` for the bridge network driver, whichever network driver the command picked.

``pyctr_cleanup_orphans`` reaches registered hook plugins only, and a network
driver is registered only when a command selects it; this small plugin (a
built-in, imported with the plugin manager, so it imports nothing heavy)
answers for the bridge driver: when the state database has bridge leases or
endpoints, it builds the driver and lets it remove what belongs to
containers that are gone (veths, DNAT rules, leases); and when the root's
default network is on the shared bridge with no container of the root on it,
it releases the root's share of it (its address on the bridge, its subnet in
the nftables sets: ``BridgeNetworkDriver.release_default_network``).
"""

from __future__ import annotations

from pyctr import hookimpl

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


class BridgeOrphans:
    plugin_name = "network:bridge-prune"

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}

    @hookimpl
    def pyctr_configure(self, config: dict[str, Any]) -> None:
        self.config = dict(config)

    @hookimpl
    def pyctr_cleanup_orphans(self, live_container_ids: set[str]) -> list[str]:
        import contextlib
        from pathlib import Path

        from pyctr.core.state import sqlite3

        root = Path(self.config.get("root") or "/var/lib/pyctr")
        db = root / "pyctr.db"
        if not db.exists():
            return []
        # cheap look first: no bridge tables or no records means nothing to do
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
            try:
                owners = {r[0] for r in conn.execute(
                    "SELECT container_id FROM bridge_endpoints UNION SELECT container_id FROM bridge_leases")}
                # the networks recorded by `network connect` for a container removed since
                with contextlib.suppress(sqlite3.Error):  # a database from before that table
                    owners |= {r[0] for r in conn.execute("SELECT container_id FROM bridge_container_networks")}
                # this root's default network holds an address on the shared bridge and a subnet in
                # the nftables sets: they go when no container of the root is on it any more
                has_default = conn.execute("SELECT 1 FROM bridge_networks WHERE is_default = 1").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return []
        orphans = owners - set(live_container_ids)
        if not orphans and not has_default:
            return []
        from pyctr.core.drivers import DriverContext
        from pyctr.network_plugins.bridge import BridgeNetworkDriver  # (only when there is work: the driver is heavy)

        runroot = Path(self.config.get("runroot") or "/run/pyctr")
        driver = BridgeNetworkDriver(DriverContext(root=root, runroot=runroot))
        lines = driver.cleanup_orphans(live_container_ids) if orphans else []
        return lines + driver.release_default_network()


PLUGINS = [BridgeOrphans()]
