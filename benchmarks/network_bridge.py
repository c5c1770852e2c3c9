"""Time the bridge driver's connect + disconnect per container, and its import cost.

Run as root: ``python benchmarks/network_bridge.py [N]``. Uses a bridge and
an nftables table of its own (random names) and removes them at the end.
Each "container" is a process in a fresh network namespace; its start-up is
not counted.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def import_cost() -> tuple[float, float, float]:
    """(driver module, driver + what connect imports, full pyroute2) in ms, fresh
    interpreters, best of 9, on top of what ``pyctr run`` imports anyway."""
    def run(code: str) -> float:
        # what `pyctr run` has imported anyway before it picks a network driver
        base = ("import time, json, subprocess, socket, sqlite3, pyctr, pyctr.core.drivers, "
                "pyctr.core.state, pyctr.core.container;")
        out = subprocess.run([sys.executable, "-c", base + "t = time.perf_counter();" + code
                              + "; print((time.perf_counter() - t) * 1000)"],
                             capture_output=True, text=True, check=True).stdout
        return float(out)

    def best(code: str) -> float:
        return min(run(code) for _ in range(9))

    drv = best("import pyctr.network_plugins.bridge")
    used = best("import pyctr.network_plugins.bridge, pyctr.network_plugins.bridge.apply, "
                "pyctr.network_plugins.bridge.nat, pyctr.network_plugins.bridge.files; "
                "from pyctr.network_plugins.bridge.netlink import _light_import; _light_import()")
    full = best("import pyroute2")
    return drv, used, full


def main() -> None:
    import secrets

    from pyctr.testing.bridge import BridgeSession
    from pyctr.testing.netns import NetnsProcess, fake_container, free_port

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    tag = secrets.token_hex(3)
    s = BridgeSession(tag=tag, bridge=f"pnet{tag}", table=f"pyctrnet{tag}", pools="10.231.0.0/16:24")
    tmp = Path(tempfile.mkdtemp(prefix="netbench"))
    d = s.make_driver(tmp)
    times: dict[str, list[float]] = {"connect": [], "disconnect": [], "connect -p": [], "disconnect -p": []}
    try:
        for i in range(n):
            for ports, suffix in (([], ""), ([f"127.0.0.1:{free_port()}:80"], " -p")):
                p = NetnsProcess()
                try:
                    c = fake_container(d.ctx.root, network={"ports": ports})
                    t = time.perf_counter()
                    d.connect(c, p.pid)
                    t1 = time.perf_counter()
                    d.disconnect(c)
                    t2 = time.perf_counter()
                    if i:  # the first creates the bridge and the table
                        times["connect" + suffix].append((t1 - t) * 1000)
                        times["disconnect" + suffix].append((t2 - t1) * 1000)
                finally:
                    p.kill()
    finally:
        subprocess.run(["ip", "link", "del", s.bridge], capture_output=True, check=False)
        subprocess.run(["nft", "delete", "table", "ip", s.table], capture_output=True, check=False)
    for k, v in times.items():
        print(f"{k:15s} median {statistics.median(v):6.1f} ms  min {min(v):6.1f} ms  (n={len(v)})")
    drv, used, full = import_cost()
    print(f"import: driver module {drv:.1f} ms; + everything connect imports {used:.1f} ms; "
          f"full 'import pyroute2' {full:.1f} ms")


if __name__ == "__main__":
    main()
