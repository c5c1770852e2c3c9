"""Shared helpers for the side-by-side benchmarks: timing, podman's flags here, reports."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: podman on this kind of host: runc (crun refuses the hybrid cgroup layout), and
#: explicit ulimits (no CAP_SYS_RESOURCE to raise them)
PODMAN = ["podman", "--runtime", "runc"]
PODMAN_RUN = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
#: the installed console script, as users run it (``python -m pyctr`` adds runpy's ~8 ms)
_SCRIPT = Path(sys.executable).parent / "pyctr"
PYCTR = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pyctr"]


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def timed(argv: list[str], env: dict[str, str] | None = None, check: bool = True) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return elapsed


def interleaved_medians(cmds: dict[str, tuple[list[str], dict[str, str] | None]], runs: int,
                        block: int = 5, settle: float = 1.0) -> dict[str, float]:
    """Median wall time per command over ``runs`` runs, the tools taking turns in blocks.

    On a shared VM the machine's speed drifts over seconds to minutes; running
    each tool's whole series back to back lets that drift into the ratio.
    Alternating single runs is no better: podman returns before its cleanup
    (conmon, ``podman container cleanup``) is done, which slows whatever runs
    next. So each tool runs ``block`` times in a row, then the next tool,
    round after round, until every tool has ``runs`` timings; before each
    block the machine gets ``settle`` seconds for what the previous tool left
    running, and one untimed run warms the caches up again.
    """
    names = list(cmds)
    times: dict[str, list[float]] = {name: [] for name in names}
    while any(len(t) < runs for t in times.values()):
        for name in names:
            n = min(block, runs - len(times[name]))
            if n <= 0:
                continue
            time.sleep(settle)
            timed(*cmds[name])
            times[name] += [timed(*cmds[name]) for _ in range(n)]
    return {name: statistics.median(t) for name, t in times.items()}


def concurrent(argvs: list[list[str]], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    procs = [subprocess.Popen(a, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for a in argvs]
    failures = [p for p in procs if p.wait() != 0]
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(procs)} concurrent runs failed: {failures[0].stderr.read()!r}")
    return elapsed


class Workspace:
    """A private pyctr root with the busybox image, and the same image for podman and runc."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pyctr-bench-"))
        tag = os.urandom(3).hex()
        # a bridge and nft table of the benchmark's own, removed by close()
        self.bridge, self.table = f"pbench{tag}", f"pyctrbench{tag}"
        self.env = dict(os.environ, PYCTR_ROOT=str(self.dir / "root"), PYCTR_RUNROOT=str(self.dir / "run"),
                        PYCTR_CONFIG=str(self.dir / "none.toml"),
                        PYCTR_NETWORK_OPT=f"bridge={self.bridge};table={self.table};pools=10.{100 + os.getpid() % 150}.0.0/16:24")
        # pyctr as a user runs it: bytecode cached (an installed wheel has it; a shell that sets
        # PYTHONDONTWRITEBYTECODE would make every run compile pyctr's modules again), and no
        # third-party hook plugin (the development venv has the pyctr-example test plugin;
        # PYCTR_BENCH_PLUGINS=1 keeps it)
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        if not os.environ.get("PYCTR_BENCH_PLUGINS"):
            self.env["PYCTR_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        from pyctr.testing.rootfs import build_busybox_rootfs

        self.rootfs = build_busybox_rootfs(self.dir / "rootfs")
        subprocess.run(PYCTR + ["import", "--change", 'CMD ["sh"]', str(self.rootfs), "busybox"], env=self.env,
                       check=True, stdout=subprocess.DEVNULL)
        self.podman_image = None
        if have("podman"):
            tar = subprocess.Popen(["tar", "-C", str(self.rootfs), "-c", "."], stdout=subprocess.PIPE)
            subprocess.run(PODMAN + ["import", "--change", 'CMD ["sh"]', "-", "localhost/pyctr-bench-busybox:latest"],
                           stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL)
            tar.wait()
            self.podman_image = "localhost/pyctr-bench-busybox:latest"

    def runc_bundle(self, args: list[str]) -> Path:
        bundle = self.dir / f"bundle-{len(list(self.dir.glob('bundle-*')))}"
        bundle.mkdir()
        subprocess.run(["runc", "spec"], cwd=bundle, check=True)
        spec = json.loads((bundle / "config.json").read_text())
        spec["root"] = {"path": str(self.rootfs), "readonly": True}
        spec["process"]["args"] = args
        spec["process"]["terminal"] = False
        (bundle / "config.json").write_text(json.dumps(spec))
        return bundle

    def close(self) -> None:
        if self.podman_image:
            subprocess.run(PODMAN + ["rmi", "-f", self.podman_image], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(PYCTR + ["system", "prune", "-f"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "link", "del", self.bridge], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["nft", "delete", "table", "ip", self.table], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


def report(title: str, rows: list[tuple[str, float | None]], ratio_to: str | None = None) -> None:
    print(f"\n{title}")
    base = dict(rows).get(ratio_to) if ratio_to else None
    for name, value in rows:
        if value is None:
            print(f"  {name:<40} not installed")
            continue
        extra = f"  ({value / base:.2f}x {ratio_to})" if base and name != ratio_to else ""
        print(f"  {name:<40} {value * 1000:8.1f} ms{extra}")
