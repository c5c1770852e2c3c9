"""The soak test: 20 long-running containers, measured every minute, everything back at the end.

``python -m pyctr.testing.soak DURATION`` (``scripts/soak.sh DURATION``; ``30m``,
``300s``, ``1h``) runs, on a private storage root of its own:

* ``web``: busybox httpd, probed by a health check every second;
* ``logger``: ~1 MB/s of log lines, ``--log-opt max-size=1m,max-file=3``;
* ``crasher``: exits 1 every 20 seconds, ``--restart always``;
* ``oom``: fills memory under ``-m 8m`` until the kernel kills it, ``--restart always``
  (it runs 3 s each time, so the back-off grows towards its minute);
* 16 quiet containers, half of them with a health check every 10 seconds.

Every ``--interval`` (a minute) it records: PSS and open fds of pyctr's
processes (monitors, probes, restart sleepers: every process whose command
line names this storage root), zombie processes among them and in the
containers' cgroups, log bytes on disk, rows in the state database, cgroups
and mounts present. At the end it removes every container (``rm -f``) and
checks that each figure is back at its starting value, and that nothing grew
while it ran beyond what the running containers account for: the last
sample against the first full one, with a margin for noise. A JSON report
goes to ``--report`` and the curves' first and last values are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONTAINERS = 20
WEB = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"
LOGGER = ("while true; do head -c 100000 /dev/zero | tr '\\0' x | fold -w 999; sleep 0.1; done")
CRASHER = "sleep 20; exit 1"
OOM = "sleep 3; x=$(head -c 100000000 /dev/zero | tr '\\0' x); echo survived"


def parse_duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1:] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


class Soak:
    def __init__(self, base: Path, interval: float) -> None:
        self.base = base
        self.root = base / "root"
        self.interval = interval
        self.subtree = f"pyctr-soak-{os.getpid()}"
        self.env = dict(os.environ, PYCTR_ROOT=str(self.root), PYCTR_RUNROOT=str(base / "run"),
                        PYCTR_CONFIG=str(base / "none.toml"), PYCTR_CGROUP_SUBTREE=self.subtree)
        self.env.pop("PYCTR_NETWORK", None)
        self.samples: list[dict[str, Any]] = []

    def pyctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([sys.executable, "-m", "pyctr", *args], capture_output=True, text=True, env=self.env,
                           timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"pyctr {' '.join(args)}: {r.stderr.strip()}")
        return r

    # -- measuring ---------------------------------------------------------------

    def _ours(self) -> list[int]:
        """pyctr's processes of this root: their command lines name it."""
        key = str(self.root).encode()
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if key in f.read():
                        pids.append(int(entry))
            except OSError:
                continue
        return pids

    def _cgroup_dirs(self) -> list[str]:
        found = []
        for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
            if os.path.basename(dirpath) == self.subtree:
                found.append(dirpath)
                found += [os.path.join(d, n) for d, ns, _ in os.walk(dirpath) for n in ns]
                dirnames[:] = []
        return found

    def sample(self, label: str) -> dict[str, Any]:
        pids = self._ours()
        pss = fds = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    pss += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
                fds += len(os.listdir(f"/proc/{pid}/fd"))
            except (OSError, StopIteration):
                continue
        cgroups = self._cgroup_dirs()
        in_containers: set[int] = set()
        for d in cgroups:
            try:
                with open(os.path.join(d, "cgroup.procs")) as f:
                    in_containers.update(int(x) for x in f.read().split())
            except OSError:
                continue
        zombies = 0
        for pid in set(pids) | in_containers | self._children(pids):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    zombies += f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except (OSError, IndexError):
                continue
        log_bytes = 0
        for path in (self.root / "containers").glob("*/*-json.log*"):
            try:
                log_bytes += path.stat().st_size
            except OSError:
                pass
        rows = 0
        db = self.root / "pyctr.db"
        if db.exists():
            import sqlite3

            conn = sqlite3.connect(db, timeout=30)
            try:
                tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                rows = sum(conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables)
            finally:
                conn.close()
        with open("/proc/self/mountinfo") as f:
            mounts = sum(str(self.root) in line or f"/{self.subtree}" in line for line in f)
        s = {"label": label, "t": round(time.time(), 1), "pss_kb": pss, "processes": len(pids), "fds": fds,
             "zombies": zombies, "log_bytes": log_bytes, "db_rows": rows, "cgroups": len(cgroups), "mounts": mounts}
        self.samples.append(s)
        print(json.dumps(s), flush=True)
        return s

    @staticmethod
    def _children(pids: list[int]) -> set[int]:
        out: set[int] = set()
        for pid in pids:
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    out.update(int(x) for x in f.read().split())
            except OSError:
                continue
        return out

    # -- the run -------------------------------------------------------------------

    def setup(self) -> None:
        from pyctr.testing.rootfs import build_busybox_rootfs

        rootfs = build_busybox_rootfs(self.base / "rootfs")
        self.pyctr("import", "--change", 'CMD ["sh"]', str(rootfs), "busybox")
        # the end runs prune, which makes the tables it needs once (volumes): the start must count them too
        self.pyctr("system", "prune", "-f")

    def start(self) -> None:
        run = ["--network=none", "run", "-d"]
        self.pyctr(*run, "--name", "web", "--health-cmd", "wget -q -O /dev/null http://127.0.0.1:8080/",
                   "--health-interval", "1s", "--health-timeout", "5s", "busybox", "sh", "-c", WEB)
        self.pyctr(*run, "--name", "logger", "--log-opt", "max-size=1m", "--log-opt", "max-file=3",
                   "busybox", "sh", "-c", LOGGER)
        self.pyctr(*run, "--name", "crasher", "--restart", "always", "busybox", "sh", "-c", CRASHER)
        self.pyctr(*run, "--name", "oom", "--restart", "always", "-m", "8m", "--memory-swap", "8m",
                   "busybox", "sh", "-c", OOM)
        for i in range(CONTAINERS - 4):
            extra = ["--health-cmd", "true", "--health-interval", "10s"] if i % 2 else []
            self.pyctr(*run, "--name", f"quiet{i}", *extra, "busybox", "sleep", "1000000")

    def remove_all(self) -> None:
        names = [line for line in self.pyctr("ps", "-aq").stdout.split() if line]
        if names:
            self.pyctr("rm", "-f", *names, check=False)
        self.pyctr("system", "prune", "-f", check=False)

    def status(self) -> dict[str, Any]:
        r = self.pyctr("inspect", "--format",
                       "{{.Name}} {{.State.Status}} {{.RestartCount}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
                       "web", "crasher", "oom", "logger", check=False)
        return {"containers": r.stdout.split("\n")[:4]}


def run(duration: float, interval: float = 60.0, base: Path | None = None, report: str | None = None) -> dict[str, Any]:
    """Run the soak; the report (samples, status, verdicts). Raises AssertionError on a leak."""
    made_base = base is None
    base = base or Path(tempfile.mkdtemp(prefix="pyctr-soak-"))
    soak = Soak(base, interval)
    soak.setup()
    start = soak.sample("start")
    soak.start()
    began = time.monotonic()
    statuses = []
    while time.monotonic() - began < duration:
        time.sleep(min(interval, max(0.0, duration - (time.monotonic() - began))))
        soak.sample(f"{int((time.monotonic() - began) / 60)}m")
        statuses.append(soak.status())
    running = soak.samples[1:]
    soak.remove_all()
    # what was in flight at rm -f (a probe, an exit's hand-over) ends on its own: give it ten seconds
    deadline = time.monotonic() + 10
    while soak._ours() and time.monotonic() < deadline:
        time.sleep(0.2)
    end = soak.sample("end")
    result = {"samples": soak.samples, "status": statuses[-1:] if statuses else [], "problems": problems(start, running, end)}
    if report:
        Path(report).write_text(json.dumps(result, indent=1))
    _print_curves(soak.samples)
    if made_base and not result["problems"]:
        import shutil

        shutil.rmtree(base, ignore_errors=True)  # (the image and rootfs it made; nothing is mounted any more)
    return result


def problems(start: dict[str, Any], running: list[dict[str, Any]], end: dict[str, Any]) -> list[str]:
    """What did not come back, and what grew while the containers ran."""
    found = []
    for key in ("processes", "fds", "zombies", "db_rows", "cgroups", "mounts", "log_bytes"):
        if end[key] != start[key]:
            found.append(f"{key}: {start[key]} at the start, {end[key]} after rm -f")
    if len(running) >= 3:
        # the last sample against the highest of the first half: a restarting container's missing cgroups
        # or a probe's process in one sample are not growth, a leak is
        early = running[:max(1, len(running) // 2)]
        last = running[-1]
        for key, margin, slack in (("pss_kb", 0.15, 5000), ("fds", 0.10, 8), ("db_rows", 0.05, 0),
                                   ("cgroups", 0.0, 0), ("mounts", 0.0, 0)):
            top = max(s[key] for s in early)
            if last[key] > top * (1 + margin) + slack:
                found.append(f"{key} grew while running: up to {top} in the first half, {last[key]} at the end")
        if max(s["zombies"] for s in running) > 2:
            found.append(f"zombies while running: up to {max(s['zombies'] for s in running)}")
        if max(s["log_bytes"] for s in running) > 20 * 1024 * 1024:
            found.append(f"log bytes: up to {max(s['log_bytes'] for s in running)} (max-size=1m,max-file=3 bounds the logger)")
    return found


def _print_curves(samples: list[dict[str, Any]]) -> None:
    keys = ("pss_kb", "processes", "fds", "zombies", "log_bytes", "db_rows", "cgroups", "mounts")
    print("label   " + " ".join(f"{k:>10}" for k in keys))
    for s in samples:
        print(f"{s['label']:<7} " + " ".join(f"{s[k]:>10}" for k in keys))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("duration", help="how long the containers run: 30m, 300s, 1h")
    parser.add_argument("--interval", default="60s", help="time between samples [60s]")
    parser.add_argument("--report", help="write the samples and the verdict as JSON here")
    args = parser.parse_args(argv)
    result = run(parse_duration(args.duration), parse_duration(args.interval), report=args.report)
    for line in result["problems"]:
        print("PROBLEM:", line)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
