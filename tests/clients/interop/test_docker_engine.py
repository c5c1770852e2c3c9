"""`docker save` as a producer, and pyctr's tables next to the docker CLI's, against a live engine:
Debian's dockerd 20.10 on private roots (pyctr.testing.dockerd: its own data root, exec root,
socket and trust key, `--bridge=none --iptables=false`, vfs storage, stopped by its PID here).
There is no network: every image reaches it from a tar that skopeo, pyctr or a `docker build`
of a local context made.

Producer tests compare pyctr's unpacked view (a vfs root, where the top layer's directory is the
whole root filesystem) with dockerd's own (its vfs layer directory) and with the source, entry by
entry (pyctr.testing.disktree). Table tests compare pyctr's `images`, `volume ls`, `network ls`
and `ps` with the docker CLI of the same package over the same objects, byte for byte where the
objects are the same (ids and ages masked where they cannot be).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from pyctr.core.trees import remove_tree
from pyctr.testing import dockerd
from pyctr.testing.disktree import assert_same, awkward_tree
from pyctr.testing.images import image_config, image_manifest, layer_from_dir, make_layer, write_oci_layout
from pyctr.testing.tarbuild import entry
from tests.conftest import Pyctr

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(dockerd.available() is not None, reason=str(dockerd.available())),
]

# the machine's own Docker places: a private engine must leave them as they were
HOST_PLACES = ("/etc/docker", "/var/lib/docker", "/run/docker", "/var/run/docker.pid", "/run/docker.sock",
               "/var/lib/containerd", "/run/containerd",
               *(f"/sys/fs/cgroup/{c}/docker" for c in ("cpu", "memory", "pids", "systemd", "unified")),
               "/sys/fs/cgroup/docker")


def _host_places() -> dict[str, list[str] | None]:
    return {p: (sorted(os.listdir(p)) if os.path.isdir(p) else []) if os.path.lexists(p) else None
            for p in HOST_PLACES}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    before = _host_places()
    d = dockerd.Dockerd(tmp_path_factory.mktemp("dockerd") / "data")
    d.start()
    try:
        yield d
    finally:
        pid = d.proc.pid if d.proc else None
        d.stop()
        assert pid is None or not os.path.exists(f"/proc/{pid}") or _zombie(pid), "dockerd still running"
        with open("/proc/self/mountinfo") as f:
            mounts = f.read()
        assert str(d.data_root) not in mounts and str(d.exec_root) not in mounts, "dockerd left a mount"
        assert not d.exec_root.exists()
        remove_tree(d.data_root)
        assert _host_places() == before


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return awkward_tree(tmp_path_factory.mktemp("dk-src") / "src")


@pytest.fixture
def vfs_pyctr(tmp_path) -> Pyctr:
    """A pyctr root on vfs: an image's top layer directory is its whole root filesystem."""
    return Pyctr(tmp_path / "vfs-root", storage_driver="vfs")


def rootfs(p: Pyctr, ref: str) -> str:
    return p("image", "inspect", "--format", "{{.GraphDriver.Data.Dir}}", ref, check=True).stdout.strip()


def image_id(p: Pyctr, ref: str) -> str:
    return p("image", "inspect", "--format", "{{.Id}}", ref, check=True).stdout.strip()


def skopeo_archive(layers, tmp: Path, ref: str) -> Path:
    config = image_config(layers)
    layout = write_oci_layout(tmp / "oci", "t", [*(layer.blob for layer in layers), config],
                              image_manifest(layers, config))
    archive = tmp / "skopeo.tar"
    subprocess.run(["skopeo", "copy", "--quiet", f"oci:{layout}:t", f"docker-archive:{archive}:{ref}"],
                   check=True, timeout=300)
    remove_tree(layout)
    return archive


# -- docker save as a producer -----------------------------------------------------------------
def test_docker_save_of_a_loaded_image(engine, source, vfs_pyctr, tmp_path):
    ref = "interop/dk-loaded:t"
    engine.docker("load", "-i", str(skopeo_archive([layer_from_dir(source)], tmp_path, ref)), check=True)
    saved = tmp_path / "docker-save.tar"
    engine.docker("save", "-o", str(saved), ref, check=True)
    r = vfs_pyctr("load", "-i", str(saved))
    assert r.returncode == 0 and f"Loaded image: {ref}" in r.stdout, r.stderr
    assert_same(source, engine.layer_dir(ref))
    assert_same(engine.layer_dir(ref), rootfs(vfs_pyctr, ref))
    assert image_id(vfs_pyctr, ref) == engine.docker("image", "inspect", "--format", "{{.Id}}", ref,
                                                     check=True).stdout.strip()


def test_a_pyctr_save_goes_through_docker_and_back(engine, source, pyctr, vfs_pyctr, tmp_path):
    """Two layers, the second with a whiteout and an opaque directory: pyctr save -> docker load ->
    docker save -> pyctr load; dockerd's tree and pyctr's are the expected one."""
    upper = make_layer([
        entry("opt", "dir"),
        entry("opt/.wh.setuid"),
        entry("opt/data", "dir", mode=0o750),
        entry("opt/data/.wh..wh..opq"),
        entry("opt/data/new", data=b"after the opaque marker\n", uid=1000, gid=1000),
        entry("opt/added", data=b"added on top\n", mode=0o600),
        # a link header carries its file's mode, as tar writers record it (dockerd chmods the inode to
        # the link header's mode; GNU tar and pyctr leave it as the file's header set it)
        entry("opt/added-link", "hardlink", link="opt/added", mode=0o600),
    ])
    ref = "interop/dk-roundtrip:t"
    pyctr("load", "-i", str(skopeo_archive([layer_from_dir(source), upper], tmp_path, ref)), check=True)
    first = tmp_path / "pyctr-save.tar"
    pyctr("save", "-o", str(first), ref, check=True)
    r = engine.docker("load", "-i", str(first))
    assert r.returncode == 0 and f"Loaded image: {ref}" in r.stdout, r.stderr
    second = tmp_path / "docker-save.tar"
    engine.docker("save", "-o", str(second), ref, check=True)
    vfs_pyctr("load", "-i", str(second), check=True)

    want = tmp_path / "want"
    subprocess.run(["cp", "-a", str(source), str(want)], check=True)
    os.unlink(want / "opt/setuid")
    remove_tree(want / "opt/data")
    (want / "opt/data").mkdir()
    (want / "opt/data/new").write_text("after the opaque marker\n")
    os.chown(want / "opt/data/new", 1000, 1000)
    os.chmod(want / "opt/data", 0o750)
    (want / "opt/added").write_text("added on top\n")
    os.chmod(want / "opt/added", 0o600)
    os.link(want / "opt/added", want / "opt/added-link")
    assert_same(want, engine.layer_dir(ref))
    assert_same(want, rootfs(vfs_pyctr, ref))
    assert image_id(vfs_pyctr, ref) == image_id(pyctr, ref)
    remove_tree(want)


def test_docker_save_of_a_docker_build(engine, source, vfs_pyctr, tmp_path):
    """Layers docker's own archiver wrote (the classic builder's COPY, FROM scratch)."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    subprocess.run(["cp", "-a", str(source), str(ctx / "rootfs")], check=True)
    (ctx / "more").mkdir()
    (ctx / "more/extra").write_text("second layer\n")
    os.symlink("extra", ctx / "more/extra-link")
    (ctx / "Dockerfile").write_text('FROM scratch\nCOPY rootfs/ /\nCOPY more/ /opt/more/\nCMD ["/bin/sh"]\n')
    ref = "interop/dk-built:t"
    r = engine.docker("build", "--network", "none", "-q", "-t", ref, str(ctx))
    assert r.returncode == 0, r.stderr[-2000:]
    saved = tmp_path / "docker-save.tar"
    engine.docker("save", "-o", str(saved), ref, check=True)
    vfs_pyctr("load", "-i", str(saved), check=True)
    theirs = engine.layer_dir(ref)
    assert_same(theirs, rootfs(vfs_pyctr, ref))
    assert (Path(theirs) / "opt/more/extra").read_text() == "second layer\n"
    layers = json.loads(engine.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref,
                                      check=True).stdout)
    assert len(layers) == 2
    remove_tree(ctx)


# -- tables against the docker CLI ---------------------------------------------------------------
def _same_table(ours: str, theirs: str) -> None:
    assert ours == theirs, f"\npyctr:\n{ours}docker:\n{theirs}"


def test_images_table_matches_the_docker_cli(engine, source, tmp_path):
    """The same images (loaded from the same `docker save`) listed by both."""
    ref = "interop/dk-table"
    for tag in ("one", "a-much-longer-tag-name"):
        engine.docker("load", "-i", str(skopeo_archive([layer_from_dir(source)], tmp_path / tag, f"{ref}:{tag}")),
                      check=True)
    saved = tmp_path / "both.tar"
    engine.docker("save", "-o", str(saved), f"{ref}:one", f"{ref}:a-much-longer-tag-name", check=True)
    p = Pyctr(tmp_path / "tables")
    p("load", "-i", str(saved), check=True)
    for args in ([ref], ["--no-trunc", ref], ["--format", "table {{.Repository}}\t{{.Tag}}\t{{.ID}}", ref],
                 ["--format", "{{.Repository}}:{{.Tag}} {{.Size}}", ref], ["-q", ref]):
        _same_table(p("images", *args, check=True).stdout, engine.docker("images", *args, check=True).stdout)


def test_volume_ls_table_matches_the_docker_cli(engine, tmp_path):
    p = Pyctr(tmp_path / "tables")
    names = ["dk-vol", "a-volume-with-a-rather-long-name", "v2"]
    try:
        for name in names:
            engine.docker("volume", "create", name, check=True)
            p("volume", "create", name, check=True)
        for args in ([], ["-q"], ["--format", "table {{.Name}}\t{{.Driver}}"], ["--filter", "name=v2"]):
            _same_table(p("volume", "ls", *args, check=True).stdout,
                        engine.docker("volume", "ls", *args, check=True).stdout)
    finally:
        engine.docker("volume", "rm", *names)
        p("volume", "rm", *names)


def _mask_network_ids(table: str) -> str:
    return re.sub(r"^[0-9a-f]{12}(?=   )", "NETWORK-ID..", table, flags=re.M)


def test_network_ls_table_matches_the_docker_cli(engine, tmp_path):
    """dockerd runs with --bridge=none, so it has `host` and `none`; pyctr's `bridge` row is left
    out of the comparison, and the ids (each engine's own) are masked."""
    p = Pyctr(tmp_path / "tables")
    for args in ([], ["--format", "table {{.Name}}\t{{.Driver}}\t{{.Scope}}"], ["--no-trunc"]):
        ours = "".join(line + "\n" for line in p("network", "ls", *args, check=True).stdout.splitlines()
                       if " bridge " not in line)
        theirs = engine.docker("network", "ls", *args, check=True).stdout
        if "--no-trunc" in args:
            ours, theirs = (re.sub(r"^[0-9a-f]{64}", "x" * 64, t, flags=re.M) for t in (ours, theirs))
        _same_table(_mask_network_ids(ours), _mask_network_ids(theirs))


def test_ps_table_matches_the_docker_cli(engine, source, tmp_path):
    p = Pyctr(tmp_path / "tables")
    _same_table(p("ps", "-a", check=True).stdout, engine.docker("ps", "-a", check=True).stdout)
    ref = "interop/dk-ps:t"
    archive = skopeo_archive([layer_from_dir(source)], tmp_path, ref)
    engine.docker("load", "-i", str(archive), check=True)
    p("load", "-i", str(archive), check=True)
    made = []
    try:
        for name, cmd in (("dk-created", ["true"]), ("dk-second-with-a-long-name", ["sh", "-c", "echo hi; sleep 1"])):
            made.append(name)
            engine.docker("create", "--network", "none", "--name", name, ref, *cmd, check=True)
            p("create", "--network", "none", "--name", name, ref, *cmd, check=True)
        # ages as "N seconds ago" with one digit in both, so the CREATED column is as wide
        time.sleep(2)
        for args in (["-a"], ["-a", "--format", "table {{.Names}}\t{{.Image}}\t{{.Command}}\t{{.Status}}"],
                     ["-a", "--no-trunc", "--format", "table {{.Names}}\t{{.Command}}"],
                     ["-a", "--filter", "name=dk-created"]):
            ours = p("ps", *args, check=True).stdout
            theirs = engine.docker("ps", *args, check=True).stdout
            ours, theirs = (re.sub(r"^[0-9a-f]{12}(?=   )", "CONTAINER-ID", t, flags=re.M) for t in (ours, theirs))
            ours, theirs = (re.sub(r"\d seconds ago", "N seconds ago", t) for t in (ours, theirs))
            _same_table(ours, theirs)
    finally:
        engine.docker("rm", "-f", *made)
        p("rm", "-f", *made)
