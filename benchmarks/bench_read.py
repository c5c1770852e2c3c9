"""The everyday read commands side by side: ``ps``, ``images``, ``inspect``, ``version``.

Issue 15's target: each of pyctr's at or under 1.5x podman's time, in the same run.
Both tools hold the same image and one created container; the tools take turns
(common.interleaved_medians). pyctr runs as a user without third-party plugins
(PYCTR_DISABLE_PLUGIN_AUTOLOAD=1: the development venv has the pyctr-example test
plugin installed; PYCTR_BENCH_PLUGINS=1 keeps it) and with its bytecode cached, as
an installed wheel has it.
The docker CLI is measured too when a Docker daemon answers (its commands ask it).
Run as root, under the privileged lock: ``python benchmarks/bench_read.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))

from common import PODMAN, PYCTR, Workspace, have, interleaved_medians, report  # noqa: E402

#: what each tool runs, by command; {c} is the container's name
COMMANDS = {
    "ps -a": ["ps", "-a"],
    "images": ["images"],
    "inspect CONTAINER": ["inspect", "{c}"],
    "inspect -f '{{.State.Status}}' CONTAINER": ["inspect", "-f", "{{.State.Status}}", "{c}"],
    "inspect IMAGE": ["inspect", "{i}"],
    "version": ["version"],
}


def _docker_answers() -> bool:
    if not have("docker"):
        return False
    return subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    ws = Workspace()
    name = f"pyctr-bench-read-{os.getpid()}"
    env = ws.env  # (as a user runs pyctr: bytecode cached, no third-party plugin; see common.Workspace)
    created_podman = False
    try:
        subprocess.run(PYCTR + ["create", "--name", name, "--network", "none", "busybox", "true"], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        if ws.podman_image:
            subprocess.run(PODMAN + ["create", "--name", name, "--network", "none", ws.podman_image, "true"],
                           check=True, stdout=subprocess.DEVNULL)
            created_podman = True
        docker = _docker_answers()
        for label, argv in COMMANDS.items():
            fill = [a.format(c=name, i="busybox") for a in argv]
            cmds = {f"pyctr {label}": (PYCTR + fill, env)}
            if ws.podman_image:
                cmds[f"podman {label}"] = (PODMAN + [a.format(c=name, i=ws.podman_image) for a in argv], None)
            if docker and label in ("ps -a", "images", "version"):
                cmds[f"docker {label}"] = (["docker"] + fill, None)
            rows = list(interleaved_medians(cmds, args.runs, settle=0.2).items())
            report(f"{label}: median of {args.runs} (the tools taking turns)", rows,
                   ratio_to=f"podman {label}" if ws.podman_image else None)
        if not docker:
            print("\n(docker: no daemon answers here, so its ps/images/inspect cannot run; not measured)")
    finally:
        subprocess.run(PYCTR + ["rm", "-f", name], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if created_podman:
            subprocess.run(PODMAN + ["rm", "-f", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ws.close()


if __name__ == "__main__":
    main()
