"""Container start: ``pyctr run --rm --network none busybox true`` against podman and runc.

Issue targets: pyctr's median <= 0.5x podman's; 10 concurrent runs <= 0.5x podman's wall time.
Run as root: ``python benchmarks/bench_start.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(__file__))

from common import PODMAN, PODMAN_RUN, PYCTR, Workspace, concurrent, have, interleaved_medians, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="concurrent rounds per tool")
    parser.add_argument("--network", default="none", choices=["none", "bridge"],
                        help="none: issue 4's benchmark; bridge: issue 6's (pyctr's bridge against podman's)")
    args = parser.parse_args()
    net = args.network
    ws = Workspace()
    try:
        pyctr = PYCTR + ["run", "--rm", "--network", net, "busybox", "true"]
        cmds = {f"pyctr run --rm --network {net}": (pyctr, ws.env)}
        podman = None
        if ws.podman_image:
            podman = PODMAN + ["run", "--rm", "--network", net, *PODMAN_RUN, ws.podman_image, "true"]
            cmds["podman --runtime runc run --rm"] = (podman, None)
        if have("runc") and net == "none":
            bundle = ws.runc_bundle(["true"])
            runc = ["runc", "run", "--bundle", str(bundle), f"pyctr-bench-{os.getpid()}"]
            cmds["runc run (bare OCI runtime)"] = (runc, None)
        rows = list(interleaved_medians(cmds, args.runs).items())
        report(f"Start latency, median of {args.runs} (the tools taking turns)", rows,
               ratio_to="podman --runtime runc run --rm" if podman else None)
        n = args.concurrency
        walls: dict[str, list[float]] = {f"pyctr x{n} concurrent": []}
        if podman:
            walls[f"podman x{n} concurrent"] = []
        for _ in range(args.rounds):  # taking turns here too
            walls[f"pyctr x{n} concurrent"].append(concurrent([pyctr] * n, ws.env))
            if podman:
                walls[f"podman x{n} concurrent"].append(concurrent([podman] * n))
        crows = [(name, statistics.median(w)) for name, w in walls.items()]
        report(f"{n} concurrent runs, wall time (median of {args.rounds} rounds)", crows,
               ratio_to=f"podman x{n} concurrent" if podman else None)
    finally:
        ws.close()


if __name__ == "__main__":
    main()
