"""No leftover can break the store: planted broken and undeletable staging entries never make
pull, run, rmi or prune fail; what resists is reported by system check and removed by
system check --repair once it can be."""

from __future__ import annotations

import os
import subprocess

import pytest

from pyctr.core.trees import remove_tree
from pyctr.testing.trees import make_deep, remove_deep_trees  # noqa: F401 (autouse fixture)

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

def test_deep_trees_in_a_layer_go_in_and_out(pyctr, busybox_rootfs, tmp_path):
    """An image whose layer holds a directory 10,000 levels deep imports, runs and is removed,
    with nothing left and the store still usable."""
    import shutil
    import tarfile

    src = tmp_path / "rootfs"
    shutil.copytree(busybox_rootfs, src, symlinks=True)
    try:
        make_deep(src / "deep", 10_000)
        tar = tmp_path / "deep.tar"
        from pyctr.layers.create import create_layer_tar

        with open(tar, "wb") as f:
            create_layer_tar(src, f)
        with tarfile.open(tar) as tf:
            assert max(m.name.count("/") for m in tf) >= 10_000
    finally:
        remove_tree(src)
    pyctr("import", str(tar), "deep:1", check=True)
    # the container sees it (a shell's own path handling stops at PATH_MAX, 2,000-odd levels down)
    r = pyctr("run", "--rm", "deep:1", "sh", "-c", "cd /deep && n=0; while [ $n -lt 1500 ] && cd d; do "
              "n=$((n+1)); done; echo $n; ls")
    assert r.returncode == 0 and r.stdout.split() == ["1500", "d"], r.stderr
    # and the layer holds all of it
    from pyctr.core.trees import walk

    upper = pyctr("image", "inspect", "--format", "{{.GraphDriver.Data.UpperDir}}", "deep:1", check=True).stdout.strip()
    levels = list(walk(upper))
    assert max(level.depth for level in levels) == 10_001
    assert "leaf" in next(level for level in levels if level.depth == 10_001).files
    pyctr("rmi", "deep:1", check=True)
    left = [n for n in os.listdir(pyctr.root / "overlay2") if n != "l"]
    assert left == []
    assert pyctr("system", "check", check=True).stdout.strip() == "no problems found"
