"""No leftover can break the store: planted broken and undeletable staging entries never make
pull, run, rmi or prune fail; what resists is reported by system check and removed by
system check --repair once it can be."""

from __future__ import annotations

import os
import subprocess

import pytest

from pyctr.testing.trees import make_deep

pytestmark = [pytest.mark.registry, pytest.mark.root]

LID = "ab" * 32


def test_planted_staging_never_fails_a_command(pyctr, registry_images, tmp_path):
    base, other = registry_images["busybox"], registry_images["app2"]
    pyctr("pull", "-q", base.ref, check=True)
    home = pyctr.root / "overlay2"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("keep")
    (home / ".tmp-garbage").write_text("not a directory")
    deep = home / f".tmp-{LID}-999999999-dead0001"
    make_deep(deep, 3000)  # shutil.rmtree (and so every pull) recursion-errored on this
    os.symlink(victim, home / f".tmp-{LID}-999999998-link0001")
    stuck = home / f".tmp-rm-{LID}-999999997"
    (stuck / "m").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "pyctr-test-stuck", str(stuck / "m")], check=True)
    try:
        (stuck / "m" / "on-the-mount").write_text("another filesystem's data")
        for args in (("pull", "-q", other.ref), ("run", "--rm", other.ref, "cat", "/etc/motd"),
                     ("rmi", other.ref), ("system", "prune", "-f"), ("images",)):
            r = pyctr(*args)
            assert r.returncode == 0 and "Traceback" not in r.stderr, (args, r.stderr)
        assert (victim / "keep").read_text() == "keep"  # a planted link was removed, never followed
        assert not os.path.lexists(deep) and not (home / ".tmp-garbage").exists()
        assert (stuck / "m" / "on-the-mount").exists()  # never into another filesystem
        check = pyctr("system", "check")
        assert check.returncode == 1 and stuck.name in check.stdout
        repair = pyctr("system", "check", "--repair")
        assert repair.returncode == 1 and f"{stuck.name}: cannot remove" in repair.stdout, repair.stdout
    finally:
        subprocess.run(["umount", str(stuck / "m")], check=False)
    # unmounted, the retry removes it
    assert pyctr("system", "check", "--repair").returncode == 0
    assert not stuck.exists()
    assert pyctr("system", "check", check=True).stdout.strip() == "no problems found"
    assert pyctr("run", "--rm", base.ref, "true").returncode == 0
