"""Issue 15's targets measured with hyperfine: mean ± σ, warm-up runs, pyctr against podman.

- start: ``run --rm --network none busybox true``, pyctr at or under 0.5x podman's mean;
- reads: ``ps -a``, ``images``, ``inspect`` (container, image, a --format), ``version``,
  pyctr at or under 1.5x podman's mean.

Both tools hold the same image (common.Workspace) and one created container. pyctr runs
as a user without third-party hook plugins, with its bytecode cached (see Workspace).
``--pyctr`` picks the console script, so the same store is measured from another
Python's venv (``.venv313/bin/pyctr``). hyperfine runs each pair back to back (pyctr
first), ``--warmup`` untimed runs before each; a short pause before every timed run lets
podman's clean-up after ``run --rm`` (conmon, ``podman container cleanup``) finish
outside the next run's time.
Run as root, under the privileged lock:
``python benchmarks/bench_hyperfine.py [--only start|reads] [--runs N] [--pyctr PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))

from common import PODMAN, PODMAN_RUN, PYCTR, Workspace  # noqa: E402

#: label -> (arguments, the target: pyctr's mean at or under this many times podman's)
READS = {
    "ps -a": (["ps", "-a"], 1.5),
    "images": (["images"], 1.5),
    "inspect CONTAINER": (["inspect", "{c}"], 1.5),
    "inspect -f {{.State.Status}} CONTAINER": (["inspect", "-f", "{{.State.Status}}", "{c}"], 1.5),
    "inspect IMAGE": (["inspect", "{i}"], 1.5),
    "version": (["version"], 1.5),
}


def hyperfine(pair: list[list[str]], env: dict[str, str], runs: int, warmup: int, pause: float) -> list[dict]:
    """hyperfine's results (seconds) for the commands, in order."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        argv = ["hyperfine", "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs),
                "--export-json", out.name]
        if pause:
            argv += ["--prepare", f"sleep {pause}"]
        subprocess.run(argv + [shlex.join(c) for c in pair], env=env, check=True, stdout=subprocess.DEVNULL)
        return json.load(open(out.name))["results"]


def line(label: str, results: list[dict], target: float) -> str:
    pyctr, podman = results
    ratio = pyctr["mean"] / podman["mean"]
    verdict = "meets" if ratio <= target else "MISSES"
    ms = lambda r: f"{r['mean'] * 1000:6.1f} ± {r['stddev'] * 1000:4.1f} ms"  # noqa: E731
    return f"  {label:<40} pyctr {ms(pyctr)}   podman {ms(podman)}   {ratio:.2f}x ({verdict} <= {target}x)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["start", "reads"])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--pyctr", help="pyctr's console script (default: this Python's)")
    args = parser.parse_args()
    pyctr = [args.pyctr] if args.pyctr else PYCTR
    interpreter = pyctr[0] if pyctr[0] == sys.executable else os.path.join(os.path.dirname(pyctr[0]), "python")
    python = subprocess.run([interpreter, "-c", "import sys; print(sys.version.split()[0])"],
                            capture_output=True, text=True).stdout.strip()
    podman_version = subprocess.run(["podman", "--version"], capture_output=True, text=True).stdout.strip()
    ws = Workspace()
    if not ws.podman_image:
        sys.exit("podman is not installed: nothing to compare with")
    print(f"pyctr on Python {python} ({' '.join(pyctr)}), {podman_version} --runtime runc; "
          f"hyperfine -N, {args.warmup} warm-up + {args.runs} runs each")
    name = f"pyctr-bench-hf-{os.getpid()}"
    try:
        if args.only in (None, "start"):
            run = [pyctr + ["run", "--rm", "--network", "none", "busybox", "true"],
                   PODMAN + ["run", "--rm", "--network", "none", *PODMAN_RUN, ws.podman_image, "true"]]
            print(line("run --rm --network none busybox true",
                       hyperfine(run, ws.env, args.runs, args.warmup, pause=0.3), 0.5))
        if args.only in (None, "reads"):
            subprocess.run(pyctr + ["create", "--name", name, "--network", "none", "busybox", "true"], env=ws.env,
                           check=True, stdout=subprocess.DEVNULL)
            subprocess.run(PODMAN + ["create", "--name", name, "--network", "none", ws.podman_image, "true"],
                           check=True, stdout=subprocess.DEVNULL)
            for label, (argv, target) in READS.items():
                pair = [pyctr + [a.format(c=name, i="busybox") for a in argv],
                        PODMAN + [a.format(c=name, i=ws.podman_image) for a in argv]]
                print(line(label, hyperfine(pair, ws.env, args.runs, args.warmup, pause=0), target))
    finally:
        subprocess.run(pyctr + ["rm", "-f", name], env=ws.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(PODMAN + ["rm", "-f", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ws.close()


if __name__ == "__main__":
    main()
