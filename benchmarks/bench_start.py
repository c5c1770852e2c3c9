"""Container start: ``pyctr run --rm --network none busybox true`` against podman and runc.

Issue targets: pyctr's median <= 0.5x podman's; 10 concurrent runs <= 0.5x podman's wall time.
Run as root: ``python benchmarks/bench_start.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from common import PODMAN, PODMAN_RUN, PYCTR, Workspace, concurrent, have, median_of, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--network", default="none", choices=["none", "bridge"],
                        help="none: issue 4's benchmark; bridge: issue 6's (pyctr's bridge against podman's)")
    args = parser.parse_args()
    net = args.network
    ws = Workspace()
    try:
        pyctr = PYCTR + ["run", "--rm", "--network", net, "busybox", "true"]
        rows = [(f"pyctr run --rm --network {net}", median_of(pyctr, args.runs, ws.env))]
        podman = None
        if ws.podman_image:
            podman = PODMAN + ["run", "--rm", "--network", net, *PODMAN_RUN, ws.podman_image, "true"]
            rows.append(("podman --runtime runc run --rm", median_of(podman, args.runs)))
        if have("runc") and net == "none":
            bundle = ws.runc_bundle(["true"])
            runc = ["runc", "run", "--bundle", str(bundle), f"pyctr-bench-{os.getpid()}"]
            rows.append(("runc run (bare OCI runtime)", median_of(runc, args.runs)))
        report(f"Start latency, median of {args.runs}", rows, ratio_to="podman --runtime runc run --rm" if podman else None)
        n = args.concurrency
        crows = [(f"pyctr x{n} concurrent", concurrent([pyctr] * n, ws.env))]
        if podman:
            crows.append((f"podman x{n} concurrent", concurrent([podman] * n)))
        report(f"{n} concurrent runs, wall time", crows, ratio_to=f"podman x{n} concurrent" if podman else None)
    finally:
        ws.close()


if __name__ == "__main__":
    main()
