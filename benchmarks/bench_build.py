"""``pyctr build`` against ``podman build``, side by side (issue 19's benchmark).

Two Dockerfiles on the same busybox base (a private store for each tool):

* small: FROM busybox, one RUN, one COPY, ENV, CMD;
* multi-stage: two stages, COPY --from with --chown, ADD of a tar.

For each: a build that does all the work (``--no-cache``: every RUN runs, every
COPY copies, with both tools), a fully cached rebuild, and a rebuild after a
one-line change in a copied file (which steps ran again is printed). Medians
of interleaved runs, the real command lines (process start-up included).
Run as root, under the privileged lock::

    python benchmarks/bench_build.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

from common import PYCTR, have, interleaved_medians, report  # noqa: E402

SMALL = """FROM busybox
RUN echo built > /built && mkdir -p /app
COPY app.txt /app/
ENV MODE=production
CMD ["cat", "/app/app.txt"]
"""
MULTI = """FROM busybox AS build
RUN mkdir -p /out && echo artifact > /out/artifact && cp /bin/busybox /out/tool
COPY app.txt /out/
FROM busybox
COPY --from=build --chown=99:99 /out /srv/
ADD bundle.tar /opt/
CMD ["ls", "/srv"]
"""


class Bench:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pb-"))
        self.env = dict(os.environ, PYCTR_ROOT=str(self.dir / "root"), PYCTR_RUNROOT=str(self.dir / "run"),
                        PYCTR_CONFIG=str(self.dir / "none.toml"))
        self.podman = ["podman", "--root", str(self.dir / "proot"), "--runroot", str(self.dir / "prun"),
                       "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs", "--events-backend", "none",
                       "--runtime", "runc"]
        from pyctr.testing.rootfs import build_busybox_rootfs

        rootfs = build_busybox_rootfs(self.dir / "rootfs")
        subprocess.run(PYCTR + ["import", "--change", 'CMD ["sh"]', str(rootfs), "busybox"], env=self.env,
                       check=True, stdout=subprocess.DEVNULL)
        tar = self.dir / "busybox.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
        subprocess.run(self.podman + ["import", "--change", 'CMD ["sh"]', str(tar), "localhost/busybox:latest"],
                       check=True, stdout=subprocess.DEVNULL)
        self.contexts = {}
        for name, dockerfile in (("small", SMALL), ("multi-stage", MULTI)):
            ctx = self.dir / f"ctx-{name}"
            ctx.mkdir()
            (ctx / "Dockerfile").write_text(dockerfile)
            (ctx / "app.txt").write_text("line 1\nline 2\n")
            src = ctx / "bundle-src"
            src.mkdir()
            for i in range(20):
                (src / f"file{i}.txt").write_text(f"file {i}\n" * 50)
            with tarfile.open(ctx / "bundle.tar", "w") as tf:
                tf.add(src, arcname="bundle")
            shutil.rmtree(src)
            self.contexts[name] = ctx

    def pyctr(self, ctx: Path, *extra: str) -> list[str]:
        return PYCTR + ["build", "-q", *extra, "-t", "bench", str(ctx)]

    def pod(self, ctx: Path, *extra: str) -> list[str]:
        return self.podman + ["build", "-q", "--network", "host", "--layers", *extra, "-t", "bench", str(ctx)]

    def close(self) -> None:
        subprocess.run(self.podman + ["system", "reset", "-f"], capture_output=True)
        subprocess.run(["umount", "-R", str(self.dir / "proot")], capture_output=True)
        subprocess.run(PYCTR + ["system", "prune", "-f"], env=self.env, capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def steps_rebuilt(output: str) -> str:
    parts = output.split("Step ")[1:]
    ran = [p.split("\n", 1)[0] for p in parts if "Using cache" not in p and not p.split(" : ", 1)[1].startswith("FROM")]
    return "; ".join(ran) or "none"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if not have("podman"):
        sys.exit("podman is not installed")
    bench = Bench()
    try:
        for name, ctx in bench.contexts.items():
            # warm both caches (and the page cache) once
            subprocess.run(bench.pyctr(ctx), env=bench.env, check=True, capture_output=True)
            subprocess.run(bench.pod(ctx), check=True, capture_output=True)
            cold = interleaved_medians({
                "pyctr build --no-cache": (bench.pyctr(ctx, "--no-cache"), bench.env),
                "podman build --no-cache": (bench.pod(ctx, "--no-cache"), None),
            }, args.runs)
            cached = interleaved_medians({
                "pyctr build (cached)": (bench.pyctr(ctx), bench.env),
                "podman build (cached)": (bench.pod(ctx), None),
            }, args.runs)
            report(f"{name}: build doing all the work", list(cold.items()), ratio_to="podman build --no-cache")
            report(f"{name}: fully cached rebuild", list(cached.items()), ratio_to="podman build (cached)")
            # a one-line change in the copied file: only what follows its COPY runs again
            changes = []
            for i in range(args.runs):
                (ctx / "app.txt").write_text(f"line 1\nline 2 changed {i}\n")
                import time

                start = time.perf_counter()
                out = subprocess.run(PYCTR + ["build", "-t", "bench", str(ctx)], env=bench.env, check=True,
                                     capture_output=True, text=True).stdout
                changes.append(time.perf_counter() - start)
            print(f"  one-line change: pyctr median {sorted(changes)[len(changes) // 2] * 1000:.1f} ms; "
                  f"steps that ran again: {steps_rebuilt(out)}")
    finally:
        bench.close()


if __name__ == "__main__":
    main()
