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
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

from common import PODMAN_RUN, have, interleaved_medians, report  # noqa: E402

PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
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
        session.pyctr("import", "--change", 'CMD ["sh"]', str(tar), "busybox", check=True)
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
        medians = interleaved_medians(cmds, args.runs)
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
