"""Time ``network connect`` / ``disconnect`` of a running container to a second network.

Run as root: ``python benchmarks/network_connect.py [N]``. Two figures per
operation: the driver call alone (a stand-in container: a process in a fresh
netns, on the default bridge, connected to a user network with a peer) and
the whole ``pyctr network connect/disconnect`` command against a running
busybox (interpreter and CLI start included; ``pyctr network ls`` is shown as
that baseline). Uses a bridge, table, pool and root of its own, removed at
the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _fmt(name: str, xs: list[float]) -> str:
    return f"{name:28s} median {statistics.median(xs):6.1f} ms  min {min(xs):6.1f}  max {max(xs):6.1f}  (n={len(xs)})"


def driver_level(n: int, tmp: Path, s: object) -> None:
    from pyctr.testing.netns import NetnsProcess, fake_container

    d = s.make_driver(tmp / "drv")  # type: ignore[attr-defined]
    d.create_network("bench")
    me, peer = NetnsProcess(), NetnsProcess()
    c = fake_container(d.ctx.root)
    p = fake_container(d.ctx.root, network={"network": "bench"})
    con, dis = [], []
    try:
        d.connect(c, me.pid)
        d.connect(p, peer.pid)
        for _ in range(n):
            t = time.perf_counter()
            d.connect_network(c, "bench", me.pid)
            t1 = time.perf_counter()
            d.disconnect_network(c, "bench")
            t2 = time.perf_counter()
            con.append((t1 - t) * 1000)
            dis.append((t2 - t1) * 1000)
    finally:
        d.disconnect(c)
        d.disconnect(p)
        me.kill()
        peer.kill()
        d.remove_network("bench")
    print(_fmt("driver connect_network", con))
    print(_fmt("driver disconnect_network", dis))


def cli_level(n: int, tmp: Path, env: dict[str, str]) -> None:
    from pyctr.testing.rootfs import build_busybox_rootfs

    cmd = [sys.executable, "-m", "pyctr"]

    def run(*args: str) -> float:
        t = time.perf_counter()
        subprocess.run(cmd + list(args), env=env, capture_output=True, check=True)
        return (time.perf_counter() - t) * 1000

    run("import", "--change", 'CMD ["sh"]', str(build_busybox_rootfs(tmp / "rootfs")), "busybox")
    run("network", "create", "bench")
    run("run", "-d", "--name", "peer", "--network", "bench", "busybox", "sleep", "600")
    run("run", "-d", "--name", "me", "busybox", "sleep", "600")
    con, dis, base = [], [], []
    try:
        for _ in range(n):
            con.append(run("network", "connect", "bench", "me"))
            dis.append(run("network", "disconnect", "bench", "me"))
            base.append(run("network", "ls"))
    finally:
        subprocess.run(cmd + ["rm", "-f", "me", "peer"], env=env, capture_output=True, check=False)
        subprocess.run(cmd + ["network", "rm", "bench"], env=env, capture_output=True, check=False)
    print(_fmt("pyctr network connect", con))
    print(_fmt("pyctr network disconnect", dis))
    print(_fmt("pyctr network ls (baseline)", base))


def main() -> None:
    from pyctr.testing.bridge import BridgeSession

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    tag = secrets.token_hex(3)
    s = BridgeSession(tag=tag, bridge=f"pnet{tag}", table=f"pyctrnet{tag}",
                      pools=f"10.{secrets.randbelow(50) + 200}.0.0/16:24")
    tmp = Path(tempfile.mkdtemp(prefix="netconnbench"))
    env = dict(os.environ, PYCTR_ROOT=str(tmp / "root"), PYCTR_RUNROOT=str(tmp / "run"),
               PYCTR_CONFIG=str(tmp / "none.toml"),
               PYCTR_NETWORK_OPT=";".join(f"{k}={v}" for k, v in s.options().items()))
    try:
        driver_level(n, tmp, s)
        cli_level(n, tmp, env)
    finally:
        subprocess.run(["ip", "link", "del", s.bridge], capture_output=True, check=False)
        subprocess.run(["nft", "delete", "table", "ip", s.table], capture_output=True, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
