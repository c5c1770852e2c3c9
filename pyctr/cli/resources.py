"""cgroup commands: ``stats``, ``update``, ``pause``, ``unpause``."""

from __future__ import annotations

import sys
import time

import click

from pyctr.cli.common import each, emit, engine, human_size
from pyctr.core.errors import Conflict, PyctrError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


def _running(eng: Any, ref: str) -> Any:
    from pyctr.core.container import lookup
    from pyctr.core.lifecycle import is_alive

    c = lookup(eng.db, eng.config.root, ref)
    if c.status not in ("running", "paused") or not is_alive(c.pid, c.runtime.get("starttime")):
        raise Conflict(f"container {c.name} is not running")
    if c.runtime.get("cgroup") is None or eng.cgroups_for(c) is None:
        raise Conflict(f"container {c.name} has no cgroup")
    return c


def _net_io(pid: int) -> tuple[int, int]:
    """Bytes received and sent by the container's interfaces (its own /proc/<pid>/net/dev)."""
    rx = tx = 0
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            for line in f.readlines()[2:]:
                name, data = line.split(":", 1)
                if name.strip() == "lo":
                    continue
                fields = data.split()
                rx += int(fields[0])
                tx += int(fields[8])
    except (OSError, ValueError, IndexError):
        pass
    return rx, tx


def _sample(eng: Any, c: Any) -> dict[str, Any]:
    s = eng.cgroups_for(c).stats(c.runtime["cgroup"])
    s["time"] = time.monotonic()
    s["net_rx"], s["net_tx"] = _net_io(c.pid)
    return s


def _row(c: Any, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    import os

    from pyctr.core.units import format_bytes

    elapsed = max(after["time"] - before["time"], 1e-9)
    cpu = (after["cpu_usage_ns"] - before["cpu_usage_ns"]) / (elapsed * 1e9) * 100
    limit = after.get("memory_limit") or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    usage = after.get("memory_usage", 0)
    return {
        "Container": c.short_id, "ID": c.id, "Name": c.name,
        "CPUPerc": f"{cpu:.2f}%",
        "MemUsage": f"{format_bytes(usage)} / {format_bytes(limit)}",
        "MemPerc": f"{usage / limit * 100:.2f}%" if limit else "0.00%",
        # go-units' HumanSizeWithPrecision(n, 3), as Docker's stats formatter
        "NetIO": f"{human_size(after['net_rx'], 3)} / {human_size(after['net_tx'], 3)}",
        "BlockIO": f"{human_size(after.get('blkio_read', 0), 3)} / {human_size(after.get('blkio_write', 0), 3)}",
        "PIDs": str(after.get("pids_current", 0)),
    }


@click.command()
@click.option("--all", "-a", "show_all", is_flag=True, help="Show all containers (default shows just running).")
@click.option("--no-stream", is_flag=True, help="Print one sample and exit.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output.")
@click.option("--format", "fmt", help="Go template, or 'json'.")
@click.argument("containers", nargs=-1)
def stats(show_all: bool, no_stream: bool, no_trunc: bool, fmt: str | None, containers: tuple[str, ...]) -> None:
    """Display a live stream of container resource usage statistics."""
    from pyctr.core.container import list_all

    eng = engine()
    if containers:
        targets = [_running(eng, ref) for ref in containers]
    else:
        targets = []
        for c in list_all(eng.db, eng.config.root):
            try:
                targets.append(_running(eng, c.id))
            except PyctrError:
                continue
    previous = {}
    for c in targets:
        try:
            previous[c.id] = _sample(eng, c)
        except (PyctrError, OSError):
            continue
    live = sys.stdout.isatty() and not no_stream
    while True:
        time.sleep(0.5 if no_stream else 1.0)
        rows = []
        for c in targets:
            if c.id not in previous:
                continue
            try:
                now = _sample(eng, c)
            except (PyctrError, OSError):
                continue
            row = _row(c, previous[c.id], now)
            if no_trunc:
                row["Container"] = c.id
            rows.append(row)
            previous[c.id] = now
        if live:
            click.echo("\x1b[2J\x1b[H", nl=False)
        emit(rows, fmt, [("CONTAINER ID", "Container"), ("NAME", "Name"), ("CPU %", "CPUPerc"),
                         ("MEM USAGE / LIMIT", "MemUsage"), ("MEM %", "MemPerc"), ("NET I/O", "NetIO"),
                         ("BLOCK I/O", "BlockIO"), ("PIDS", "PIDs")],
             headers={"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
                      "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
                      "BlockIO": "BLOCK I/O", "PIDs": "PIDS"})
        if no_stream or not rows:
            return


@click.command()
@click.option("--memory", "-m", default=None, help="Memory limit.")
@click.option("--memory-swap", default=None, help="Memory plus swap limit; -1 for unlimited.")
@click.option("--memory-reservation", default=None, help="Memory soft limit.")
@click.option("--kernel-memory", default=None, help="Kernel memory limit.")
@click.option("--cpus", default=None, help="Number of CPUs.")
@click.option("--cpu-shares", "-c", type=int, default=None, help="CPU shares.")
@click.option("--cpu-quota", type=int, default=None, help="CPU CFS quota (us).")
@click.option("--cpu-period", type=int, default=None, help="CPU CFS period (us).")
@click.option("--cpuset-cpus", default=None, help="CPUs in which to allow execution.")
@click.option("--cpuset-mems", default=None, help="Memory nodes in which to allow execution.")
@click.option("--pids-limit", type=int, default=None, help="Pids limit (-1 unlimited).")
@click.option("--blkio-weight", type=int, default=None, help="Block IO weight (10-1000).")
@click.option("--restart", default=None, help="Restart policy.")
@click.argument("containers", nargs=-1, required=True)
def update(containers: tuple[str, ...], restart: str | None, **flags: Any) -> None:
    """Update the resource limits of one or more containers."""
    from pyctr.runtime.runoptions import resources_from

    flags.setdefault("oom_kill_disable", False)
    changes = resources_from(flags)
    eng = engine()

    def one(ref: str) -> None:
        from pyctr.core.container import lookup
        from pyctr.core.lifecycle import update as update_container

        update_container(eng, lookup(eng.db, eng.config.root, ref), changes, restart)

    each(containers, one)


def _set_paused(refs: tuple[str, ...], paused: bool) -> None:
    from pyctr.core.lifecycle import set_paused

    eng = engine()
    each(refs, lambda ref: set_paused(eng, _running(eng, ref), paused))


@click.command()
@click.argument("containers", nargs=-1, required=True)
def pause(containers: tuple[str, ...]) -> None:
    """Pause all processes within one or more containers."""
    _set_paused(containers, True)


@click.command()
@click.argument("containers", nargs=-1, required=True)
def unpause(containers: tuple[str, ...]) -> None:
    """Unpause all processes within one or more containers."""
    _set_paused(containers, False)
