"""``pyctr pull`` against ``podman pull``: a 4-layer image of about 150 MB unpacked, from a local registry.

Starts Debian's docker-registry on 127.0.0.1, pushes the image with skopeo
(pyctr.testing.images.push_large_image), then for several runs pulls it into
a fresh store with each tool — the real command lines, process start-up
included:

* ``pyctr --root FRESH pull -q REF`` (overlay2);
* ``podman --root FRESH --runroot FRESH pull -q --tls-verify=false REF``.

Prints medians as a table with the ratio. Usage:
    python benchmarks/bench_pull.py [runs] [--mb 150]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pyctr.testing.images import push_large_image
from pyctr.testing.registry import start_registry


def pyctr_pull(ref: str, root: Path) -> None:
    env = dict(os.environ, PYCTR_ROOT=str(root / "root"), PYCTR_RUNROOT=str(root / "run"),
               PYCTR_CONFIG=str(root / "none.toml"), PYCTR_STORAGE_DRIVER="overlay2")
    subprocess.run([sys.executable, "-m", "pyctr", "pull", "-q", ref], env=env, check=True, capture_output=True)


def podman_pull(ref: str, root: Path) -> None:
    subprocess.run(["podman", "--root", str(root / "storage"), "--runroot", str(root / "run"),
                    "--storage-driver", "overlay", "pull", "-q", "--tls-verify=false", ref],
                   check=True, capture_output=True)


def podman_clean(root: Path) -> None:
    subprocess.run(["podman", "--root", str(root / "storage"), "--runroot", str(root / "run"),
                    "--storage-driver", "overlay", "system", "reset", "-f"], capture_output=True)
    subprocess.run(["umount", "-R", str(root / "storage" / "overlay")], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="?", type=int, default=5)
    ap.add_argument("--mb", type=int, default=150)
    args = ap.parse_args()
    reg = start_registry("none")
    work = tempfile.TemporaryDirectory(prefix="pyctr-img2-bench-push-")
    try:
        im = push_large_image(reg, "pyctr/benchpull", "latest", layers=4, unpacked_mb=args.mb, workdir=work.name)
        unpacked = sum(len(la.tar) for la in im.layers) / 1e6
        compressed = sum(la.size for la in im.layers) / 1e6
        print(f"image: {len(im.layers)} layers, {unpacked:.0f} MB unpacked, {compressed:.0f} MB compressed")
        tools = {"pyctr": pyctr_pull}
        if shutil.which("podman"):
            tools["podman"] = podman_pull
        times: dict[str, list[float]] = {name: [] for name in tools}
        for _ in range(args.runs):
            for name, fn in tools.items():  # interleaved, so machine load hits both alike
                root = Path(tempfile.mkdtemp(prefix=f"pyctr-img2-bench-{name}-", dir="/var/tmp"))
                try:
                    t = time.perf_counter()
                    fn(im.ref, root)
                    times[name].append(time.perf_counter() - t)
                finally:
                    if name == "podman":
                        podman_clean(root)
                    shutil.rmtree(root, ignore_errors=True)
        print(f"{'TOOL':8} {'MEDIAN':>8} {'MIN':>8} {'MAX':>8}  RUNS")
        for name, vals in times.items():
            print(f"{name:8} {statistics.median(vals):7.2f}s {min(vals):7.2f}s {max(vals):7.2f}s  {len(vals)}")
        if "podman" in times:
            ratio = statistics.median(times["pyctr"]) / statistics.median(times["podman"])
            print(f"ratio pyctr/podman (median): {ratio:.2f}  (target <= 0.50)")
    finally:
        reg.stop()
        work.cleanup()


if __name__ == "__main__":
    main()
