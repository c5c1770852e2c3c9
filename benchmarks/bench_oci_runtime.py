"""``pyctr-runtime`` against ``runc``: create + start + wait + delete of a busybox ``true`` bundle,
and ``ctr run --rm`` through containerd's shim with each.

The benchmark process is a child subreaper, as containerd's shim and conmon
are: it reaps the init and so waits for the container's end exactly. Both
runtimes get the same bundle (a busybox rootfs, containerd's default
mounts, a relative cgroupsPath below this process's cgroup), in blocks that
take turns (see common.interleaved_medians' reasons). Run as root:

    python benchmarks/bench_oci_runtime.py [--runs N] [--no-ctr]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

from pyctr.testing.conformance.oci import base_config, set_subreaper  # noqa: E402
from pyctr.testing.leaks import remove_cgroup  # noqa: E402
from pyctr.testing.rootfs import build_busybox_rootfs  # noqa: E402

PYCTR_RUNTIME = str(Path(sys.executable).parent / "pyctr-runtime")


def cycle(runtime: str, root: str, bundle: Path, cid: str) -> float:
    start = time.perf_counter()
    pidfile = bundle / "pid"
    subprocess.run([runtime, "--root", root, "create", "--bundle", str(bundle), "--pid-file", str(pidfile), cid],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    pid = int(pidfile.read_text())
    subprocess.run([runtime, "--root", root, "start", cid], check=True, stdout=subprocess.DEVNULL)
    os.waitpid(pid, 0)
    subprocess.run([runtime, "--root", root, "delete", cid], check=True)
    return time.perf_counter() - start


def bench_cycle(runs: int, workdir: Path, rootfs: Path, parent: str) -> dict[str, float]:
    bundles = {}
    for name in ("pyctr-runtime", "runc"):
        b = workdir / f"bundle-{name}"
        b.mkdir()
        config = base_config(["true"], f"{parent}/{name}")
        config["root"] = {"path": str(rootfs), "readonly": True}
        (b / "config.json").write_text(json.dumps(config))
        bundles[name] = b
    runtimes = {"pyctr-runtime": PYCTR_RUNTIME, "runc": shutil.which("runc") or "runc"}
    times: dict[str, list[float]] = {n: [] for n in runtimes}
    while any(len(t) < runs for t in times.values()):
        for name, path in runtimes.items():
            root = str(workdir / f"root-{name}")
            cycle(path, root, bundles[name], name)  # warm
            for _ in range(min(5, runs - len(times[name]))):
                times[name].append(cycle(path, root, bundles[name], name))
    return {n: statistics.median(t) for n, t in times.items()}


def bench_ctr(runs: int, workdir: Path, rootfs: Path, parent: str) -> dict[str, float]:
    from pyctr.testing.containerd import Containerd, image_archive

    c = Containerd(workdir / "ctrd", runtime=PYCTR_RUNTIME).start()
    try:
        archive = image_archive(rootfs, workdir / "busybox.tar", "localhost/busybox:latest", ["sh"])
        c.ctr("images", "import", str(archive)).check_returncode()
        binaries = {"pyctr-runtime": PYCTR_RUNTIME, "runc": shutil.which("runc") or "runc"}
        times: dict[str, list[float]] = {n: [] for n in binaries}
        count = [0]

        def one(binary: str) -> float:
            count[0] += 1
            start = time.perf_counter()
            p = c.ctr("run", "--rm", "--runtime", "io.containerd.runc.v2", "--runc-binary", binary,
                      "--cgroup", f"{parent}/ctr{count[0]}", "localhost/busybox:latest", f"b{count[0]}", "true")
            if p.returncode != 0:
                raise RuntimeError(f"ctr run with {binary}: {p.stderr!r}")
            return time.perf_counter() - start

        while any(len(t) < runs for t in times.values()):
            for name, binary in binaries.items():
                one(binary)  # warm
                times[name] += [one(binary) for _ in range(min(5, runs - len(times[name])))]
        return {n: statistics.median(t[:runs]) for n, t in times.items()}
    finally:
        c.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--no-ctr", action="store_true")
    args = ap.parse_args()
    set_subreaper()
    workdir = Path(tempfile.mkdtemp(prefix="pyctr-oci-bench-"))
    parent = "pyctr-oci-bench-" + os.urandom(3).hex()
    try:
        rootfs = build_busybox_rootfs(workdir / "rootfs")
        medians = bench_cycle(args.runs, workdir, rootfs, parent)
        print(f"\ncreate+start+wait+delete of a busybox `true` bundle (median of {args.runs}):")
        for name, value in medians.items():
            print(f"  {name:<16} {value * 1000:7.1f} ms  ({value / medians['runc']:.2f}x runc)")
        if not args.no_ctr and shutil.which("containerd"):
            medians = bench_ctr(args.runs, workdir, rootfs, parent)
            print(f"\nctr run --rm busybox true (median of {args.runs}):")
            for name, value in medians.items():
                print(f"  {name:<16} {value * 1000:7.1f} ms  ({value / medians['runc']:.2f}x runc)")
    finally:
        remove_cgroup(parent)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
