"""What Docker's default seccomp profile costs a container start.

Runs ``pyctr run --rm --network none busybox true`` alternately with the
default profile and with ``--security-opt seccomp=unconfined`` (alternating,
so that load from elsewhere on the machine falls on both alike) and prints the
medians of wall time and of CPU time (user + system of pyctr and everything
it started: steadier than wall time on a busy machine). Then the part itself:
building Docker's default filter with libseccomp and loading it, in a forked
process, wall and CPU time. Needs root. A private storage root under a temporary directory holds
a busybox image built from Debian's busybox-static; it is removed afterwards.

    sudo python benchmarks/seccomp_overhead.py [RUNS]
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(runs: int = 10) -> None:
    from pyctr.testing.rootfs import build_busybox_rootfs

    base = Path(tempfile.mkdtemp(prefix="pyctr-bench-seccomp-"))
    env = dict(os.environ, PYCTR_ROOT=str(base / "root"), PYCTR_RUNROOT=str(base / "run"),
               PYCTR_CONFIG=str(base / "none.toml"))
    pyctr = [sys.executable, "-m", "pyctr"]
    try:
        build_busybox_rootfs(base / "rootfs")
        subprocess.run(pyctr + ["import", str(base / "rootfs"), "busybox"], env=env, check=True,
                       capture_output=True)
        variants = {"default": [], "unconfined": ["--security-opt", "seccomp=unconfined"]}
        wall: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        for i in range(runs + 1):
            for name, options in variants.items():
                before = _children_cpu()
                start = time.perf_counter()
                subprocess.run(pyctr + ["run", "--rm", "--network", "none", *options, "busybox", "true"],
                               env=env, check=True)
                if i:  # the first round warms caches
                    wall[name].append(time.perf_counter() - start)
                    cpu[name].append(_children_cpu() - before)
        for name in variants:
            print(f"{name:>10}: median wall {statistics.median(wall[name]) * 1000:7.1f} ms, "
                  f"CPU {statistics.median(cpu[name]) * 1000:7.1f} ms over {len(wall[name])} runs")
        for what, values in (("wall", wall), ("CPU", cpu)):
            extra = statistics.median(values["default"]) - statistics.median(values["unconfined"])
            print(f"seccomp adds {extra * 1000:.1f} ms {what} (difference of medians)")
        _the_part_itself(runs)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _the_part_itself(runs: int) -> None:
    """Import, parse, build and load Docker's default filter in a fresh fork, as the init does."""
    import json

    # what the init has already imported when it gets there
    from pyctr.kernel import linux  # noqa: F401
    from pyctr.runtime import launch, security  # noqa: F401

    samples = []
    for _ in range(runs):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            w0, c0 = time.perf_counter(), time.process_time()
            from pyctr.runtime import seccomp
            from pyctr.runtime.security import DEFAULT_CAPABILITIES

            built = seccomp.build(seccomp.load_profile("default"), list(DEFAULT_CAPABILITIES))
            w1, c1 = time.perf_counter(), time.process_time()
            seccomp.load(built)  # no root needed with no_new_privs, but we are root anyway
            w2, c2 = time.perf_counter(), time.process_time()
            os.write(w, json.dumps([w1 - w0, c1 - c0, w2 - w1, c2 - c1, len(built.program) // 8]).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            samples.append(json.loads(f.read()))
        os.waitpid(pid, 0)
    med = [statistics.median(s[i] for s in samples) * 1000 for i in range(4)]
    print(f"in the init: build {med[0]:.1f} ms wall / {med[1]:.1f} ms CPU, "
          f"load {med[2]:.1f} ms wall / {med[3]:.1f} ms CPU ({samples[0][4]} BPF instructions)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
