"""Rootless start: pyctr against rootless podman, both run by the same unprivileged user.

Issue 20's targets: ``pyctr run --rm --network none busybox true`` at or under 0.5x rootless
podman's, and with each tool's default rootless network (pyctr's slirp4netns driver, podman's
``--network slirp4netns``) at or under 0.5x podman's.
Run as root (it makes the user, as tests/rootless does): ``python benchmarks/bench_rootless.py``.
Both tools run through ``setpriv`` as the user (the same ~1 ms for each), with the user's own
$HOME and $XDG_RUNTIME_DIR; podman with runc, explicit ulimits, cgroupfs and file events here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

from common import PODMAN_RUN, have, report  # noqa: E402

PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
          "--storage-driver", "overlay"]


def quiet_timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Wall time until the command returns. Nothing is piped: rootless podman's conmon keeps an
    inherited stderr open through its cleanup (~20 s here), which a pipe would wait for."""
    start = time.perf_counter()
    code = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          timeout=60).returncode
    elapsed = time.perf_counter() - start
    if os.environ.get("BENCH_VERBOSE"):
        print(f"    {elapsed:.3f} {' '.join(argv[8:12])}", flush=True)
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {code}")
    return elapsed


def interleaved_medians(cmds: dict[str, tuple[list[str], dict[str, str]]], runs: int, timer,
                        block: int = 5, settle: float = 1.0) -> dict[str, float]:
    """common.interleaved_medians with another timer: the tools take turns in blocks of
    ``block`` runs, a second's pause and one untimed run before each block."""
    times: dict[str, list[float]] = {name: [] for name in cmds}
    while any(len(t) < runs for t in times.values()):
        for name, (argv, env) in cmds.items():
            n = min(block, runs - len(times[name]))
            if n <= 0:
                continue
            time.sleep(settle)
            timer(argv, env)
            times[name] += [timer(argv, env) for _ in range(n)]
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    import signal

    # killed by timeout(1): the finally below still stops the user's pause processes and takes the grant back
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from pyctr.testing import rootless
    from pyctr.testing.rootfs import build_busybox_rootfs

    user = rootless.ensure_user(rootless.USER)
    grant = rootless.DeviceGrant("/dev/net/tun", user.uid)
    base = Path(tempfile.mkdtemp(prefix="pyctr-bench-rootless-", dir="/var/tmp"))
    os.chmod(base, 0o755)
    session = None
    try:
        python = rootless.python_for(user, base / "python")
        session = rootless.Session(user, base / "s", python)
        rootfs = build_busybox_rootfs(base / "rootfs")
        tar = base / "busybox.tar"
        with tarfile.open(tar, "w") as tf:
            for name in sorted(os.listdir(rootfs)):
                tf.add(rootfs / name, arcname=name)
        os.chmod(tar, 0o644)
        as_user = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", "--"]
        if have("tini"):
            # This VM's init reaps orphans late; a zombie conmon looks alive to podman, which then
            # waits out its 20 s conmon timeout. A host's init reaps at once: tini -s does it here
            # (for both tools alike, ~1 ms).
            as_user += ["tini", "-s", "--"]
        session.pyctr("import", "--change", 'CMD ["sh"]', str(tar), "busybox", check=True)
        print("set up: the user's pyctr has busybox", flush=True)
        script = Path(python).parent / "pyctr"
        pyctr = [str(script)] if script.exists() else [python, "-m", "pyctr"]
        env = dict(session.env)
        cmds = {}
        for net in ("none", "default"):
            flags = ["--network", "none"] if net == "none" else []
            cmds[f"pyctr run --rm ({net})"] = (as_user + pyctr + ["run", "--rm", *flags, "busybox", "true"], env)
        if have("podman"):
            session.run(PODMAN + ["import", "--change", 'CMD ["sh"]', str(tar), "localhost/bench-busybox"], check=True)
            for net in ("none", "slirp4netns"):
                cmds[f"podman run --rm ({net})"] = (as_user + PODMAN + ["run", "--rm", "--network", net, *PODMAN_RUN,
                                                                        "localhost/bench-busybox", "true"], env)
        for name, (argv, argenv) in cmds.items():  # each works once, or the benchmark stops here
            # (stderr to a file, not a pipe: see quiet_timed)
            with tempfile.TemporaryFile(mode="w+") as err:
                done = subprocess.run(argv, env=argenv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=err, timeout=60)
                err.seek(0)
                print(f"  {name}: exit {done.returncode} {err.read().strip()[-200:]}", flush=True)
        medians = interleaved_medians(cmds, args.runs, timer=quiet_timed)
        for net, podman_net in (("none", "none"), ("default", "slirp4netns")):
            rows = [(f"pyctr run --rm ({net})", medians[f"pyctr run --rm ({net})"])]
            if f"podman run --rm ({podman_net})" in medians:
                rows.append((f"podman run --rm ({podman_net})", medians[f"podman run --rm ({podman_net})"]))
            report(f"Rootless start ({net} network), median of {args.runs}, the tools taking turns", rows,
                   ratio_to=rows[1][0] if len(rows) > 1 else None)
    finally:
        if session is not None:
            if have("podman"):
                session.run(PODMAN + ["system", "reset", "--force"])
            session.finish()
        grant.revoke()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
