"""Detached containers: ``pyctr run -d`` N times against ``podman run -d``, time and host memory.

Issue 18's targets: the N starts at or under 0.6x podman's time in the same run; the host
memory each detached container costs (the proportional set size of what stays beside it:
conmon for podman and for pyctr's ``conmon`` runtime driver, the Python monitor for the
``pyctr`` driver) at or under 0.5 MB.

Run as root (under the privileged lock on a shared machine):
``python benchmarks/bench_detached.py [--count 50] [--runtime conmon] [--runtime pyctr] [--no-podman]``.
The tools take turns: all of pyctr's containers for one runtime driver are started one
after the other (timed, each start a separate command, as a user runs them), measured, and
removed; then podman's; and so on for ``--rounds`` rounds. Every container runs
``sleep 1000`` with ``--network none``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from common import PODMAN, PODMAN_RUN, PYCTR, Workspace, have, report  # noqa: E402


def pss_kb(pid: int) -> int:
    """The proportional set size of one process, in kB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def monitors_of(ids: list[str]) -> list[int]:
    """The processes that stay beside the containers: conmon (its argv names the id) or
    pyctr's Python monitor (its argv ends with ``internal-finish ID``)."""
    wanted = set(ids)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if not argv or not argv[0]:
            continue
        if os.path.basename(argv[0]) == "conmon" and wanted & set(argv):
            found.append(int(entry))
        elif any(a.endswith("monitor.py") for a in argv[:4]) and argv[-2:-1] and argv[-2] in wanted:
            found.append(int(entry))
    return found


def start_many(argv: list[str], count: int, env: dict[str, str] | None) -> tuple[float, list[str]]:
    """Run ``argv`` ``count`` times one after the other; (total seconds, the ids printed)."""
    ids = []
    total = 0.0
    for _ in range(count):
        t0 = time.perf_counter()
        out = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        total += time.perf_counter() - t0
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {out.stderr.strip()}")
        ids.append(out.stdout.strip().splitlines()[-1])
    return total, ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--runtime", action="append", help="pyctr runtime driver(s) to measure (default: conmon, pyctr)")
    parser.add_argument("--no-podman", action="store_true")
    args = parser.parse_args()
    runtimes = args.runtime or ["conmon", "pyctr"]
    ws = Workspace()
    tools: dict[str, tuple[list[str], dict[str, str] | None, list[str]]] = {}
    for rt in runtimes:
        tools[f"pyctr --runtime {rt} run -d"] = (
            PYCTR + ["--runtime", rt, "run", "-d", "--network", "none", "busybox", "sleep", "1000"], ws.env,
            PYCTR + ["rm", "-f"])
    if ws.podman_image and not args.no_podman:
        tools["podman --runtime runc run -d"] = (
            PODMAN + ["run", "-d", "--network", "none", *PODMAN_RUN, ws.podman_image, "sleep", "1000"], None,
            PODMAN + ["rm", "-f", "-t", "0"])
    times: dict[str, list[float]] = {name: [] for name in tools}
    memory: dict[str, list[float]] = {name: [] for name in tools}
    try:
        for _ in range(args.rounds):
            for name, (argv, env, rm) in tools.items():
                time.sleep(2)  # what the previous tool left running settles
                total, ids = start_many(argv, args.count, env)
                time.sleep(1)
                pids = monitors_of(ids)
                kb = sum(pss_kb(p) for p in pids)
                times[name].append(total)
                memory[name].append(kb / 1024 / args.count)
                print(f"  {name}: {total:.2f} s for {args.count}; {len(pids)} monitor processes, "
                      f"{kb / 1024:.1f} MB PSS in all", flush=True)
                for i in range(0, len(ids), 25):
                    subprocess.run(rm + ids[i:i + 25], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        podman = "podman --runtime runc run -d"
        report(f"{args.count} detached starts one after the other, total (median of {args.rounds} rounds)",
               [(n, statistics.median(t)) for n, t in times.items()], ratio_to=podman if podman in tools else None)
        print("  (issue 18's target: pyctr's starts at or under 0.6x podman's)")
        print(f"\nHost memory per detached container (PSS of its monitor), median of {args.rounds} rounds")
        for name, values in memory.items():
            print(f"  {name:<40} {statistics.median(values):8.2f} MB")
        print("  (issue 18's target: at or under 0.5 MB)")
    finally:
        ws.close()


if __name__ == "__main__":
    main()
