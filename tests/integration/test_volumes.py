"""Volumes, binds and tmpfs through the real pyctr command line, read back from the kernel.

Each test runs pyctr on a private root; the leak fixture fails any test that
leaves a mount behind (volumes live under that root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pyctr.testing.waiting import until

from tests.conftest import PYCTR

pytestmark = pytest.mark.root

SEED = ("type=volume,source=nfsvolume,target=/app,volume-driver=local,volume-opt=type=nfs,"
        "volume-opt=device=:/opt/test,volume-opt=o=addr=10.0.0.13")


def _mountinfo() -> list[list[str]]:
    with open("/proc/self/mountinfo") as f:
        return [line.split() for line in f]


def _mounted_at(path: Path) -> list[str] | None:
    """The mountinfo line of what the host has mounted at ``path``, if anything."""
    real = os.path.realpath(path)
    for fields in _mountinfo():
        if fields[4] == real:
            return fields
    return None


def _background(pyctr, *args: str) -> subprocess.Popen:
    return subprocess.Popen(PYCTR + list(args), env=pyctr.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _volumes(pyctr) -> list[str]:
    return pyctr("volume", "ls", "-q", check=True).stdout.split()


# -- named volumes -------------------------------------------------------------

def test_a_named_volume_is_shared_by_two_containers_and_survives_their_removal(busybox, tmp_path):
    assert busybox("volume", "create", "shared", check=True).stdout.strip() == "shared"
    # the first container waits for a file the second one writes into the volume
    first = _background(busybox, "run", "--name", "waiter", "-v", "shared:/data", "busybox", "sh", "-c",
                        "echo one > /data/f; until grep -q two /data/stop 2>/dev/null; do sleep 0.05; done; cat /data/stop")
    data = busybox.root / "volumes" / "shared" / "_data"
    until(lambda: (data / "f").exists(), 20, 0.05)
    second = busybox("run", "--rm", "-v", "shared:/d", "busybox", "sh", "-c", "cat /d/f; echo two > /d/stop")
    assert second.returncode == 0 and second.stdout == "one\n"
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert out == "two\n"
    busybox("rm", "waiter", check=True)
    assert "shared" in _volumes(busybox)
    again = busybox("run", "--rm", "-v", "shared:/data:ro", "busybox", "sh", "-c", "cat /data/f; touch /data/no")
    assert again.stdout == "one\n" and again.returncode != 0 and "Read-only file system" in again.stderr
    assert (data / "f").read_text() == "one\n"
    info = busybox("volume", "inspect", "--format", "{{.Driver}} {{.Mountpoint}} {{.Scope}}", "shared", check=True)
    assert info.stdout.split() == ["local", str(data), "local"]


def test_inspect_mounts_show_a_volumes_host_path_as_docker_does(busybox, tmp_path):
    """Docker: Type "volume", Name the volume, Source its host path (``volume inspect``'s
    Mountpoint), Driver its driver; a bind keeps its host path as Source."""
    import json

    host = tmp_path / "bindsrc"
    host.mkdir()
    busybox("volume", "create", "insp", check=True)
    busybox("run", "--name", "m", "-v", "insp:/data:ro", "-v", "/anon", "-v", f"{host}:/b", "busybox", "true",
            check=True)
    try:
        mounts = {m["Destination"]: m for m in json.loads(
            busybox("inspect", "--format", "{{json .Mounts}}", "m", check=True).stdout)}
        mountpoint = busybox("volume", "inspect", "--format", "{{.Mountpoint}}", "insp", check=True).stdout.strip()
        assert mountpoint.endswith("/volumes/insp/_data") and os.path.isdir(mountpoint)
        named = mounts["/data"]
        assert (named["Type"], named["Name"], named["Source"], named["Driver"], named["RW"]) == \
            ("volume", "insp", mountpoint, "local", False)
        anon = mounts["/anon"]
        anon_path = busybox("volume", "inspect", "--format", "{{.Mountpoint}}", anon["Name"], check=True).stdout.strip()
        assert anon["Type"] == "volume" and len(anon["Name"]) == 64
        assert anon["Source"] == anon_path and anon["Driver"] == "local"
        assert (mounts["/b"]["Type"], mounts["/b"]["Source"], mounts["/b"]["Name"]) == ("bind", str(host), "")
        assert busybox("inspect", "--format", "{{range .Mounts}}{{if .Name}}{{.Name}}={{.Source}} {{end}}{{end}}",
                       "m", check=True).stdout.split() == [f"insp={mountpoint}", f"{anon['Name']}={anon_path}"]
    finally:
        busybox("rm", "-v", "m", check=True)
        busybox("volume", "rm", "insp", check=True)


def test_an_empty_named_volume_gets_the_image_content_once(busybox):
    run = busybox("run", "--rm", "-v", "etcvol:/etc", "busybox", "sh", "-c", "cat /etc/hostname; echo mine > /etc/hostname.new")
    assert run.returncode == 0, run.stderr
    data = busybox.root / "volumes" / "etcvol" / "_data"
    assert (data / "passwd").read_text().startswith("root:")
    (data / "passwd").write_text("changed\n")
    run = busybox("run", "--rm", "-v", "etcvol:/etc", "busybox", "cat", "/etc/passwd", "/etc/hostname.new")
    assert run.stdout == "changed\nmine\n"  # not empty any more: nothing copied over it
    run = busybox("run", "--rm", "-v", "emptyvol:/etc:nocopy", "busybox", "ls", "-A", "/etc")
    assert run.returncode == 0 and run.stdout == ""


# -- anonymous volumes ---------------------------------------------------------

def test_anonymous_volumes_go_with_rm_v(busybox):
    run = busybox("run", "--name", "anon", "-v", "/data", "busybox", "sh", "-c", "echo x > /data/x")
    assert run.returncode == 0, run.stderr
    names = _volumes(busybox)
    assert len(names) == 1 and len(names[0]) == 64
    labels = busybox("volume", "inspect", "--format", "{{json .Labels}}", names[0], check=True).stdout
    assert "com.docker.volume.anonymous" in labels
    busybox("rm", "anon", check=True)  # without -v the volume stays
    assert _volumes(busybox) == names
    busybox("run", "--name", "anon2", "-v", "/data", "busybox", "true", check=True)
    assert len(_volumes(busybox)) == 2
    busybox("rm", "-v", "anon2", check=True)
    assert _volumes(busybox) == names
    busybox("run", "--rm", "-v", "/data", "busybox", "true", check=True)  # --rm takes its anonymous volumes too
    assert _volumes(busybox) == names


def test_the_images_volume_becomes_an_anonymous_volume_with_its_content(busybox, busybox_rootfs, tmp_path):
    busybox("import", "--change", 'CMD ["sh"]', "--change", "VOLUME /etc", str(busybox_rootfs), "withvol", check=True)
    run = busybox("run", "--name", "v", "withvol", "sh", "-c", "grep -c root /etc/passwd; grep ' /etc ' /proc/self/mountinfo")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "1" and "/volumes/" in run.stdout
    (name,) = _volumes(busybox)
    busybox("rm", "-v", "v", check=True)
    assert name not in _volumes(busybox)


# -- binds and tmpfs -------------------------------------------------------------

def test_bind_mounts_read_write_and_read_only(busybox, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "in").write_text("from host\n")
    run = busybox("run", "--rm", "-v", f"{host}:/h", "busybox", "sh", "-c", "cat /h/in; echo back > /h/out")
    assert run.returncode == 0 and run.stdout == "from host\n"
    assert (host / "out").read_text() == "back\n"
    run = busybox("run", "--rm", "--mount", f"type=bind,source={host},target=/h,readonly", "busybox",
                  "sh", "-c", "cat /h/in; echo no > /h/nope")
    assert run.stdout == "from host\n" and run.returncode != 0 and "Read-only file system" in run.stderr
    assert not (host / "nope").exists()
    run = busybox("run", "--rm", "-v", f"{host / 'in'}:/etc/motd:ro", "busybox", "cat", "/etc/motd")
    assert run.stdout == "from host\n"  # a file onto a file


def test_bind_source_must_exist_for_mount_but_v_creates_it(busybox, tmp_path):
    missing = tmp_path / "missing"
    run = busybox("run", "--rm", "--mount", f"type=bind,src={missing},dst=/m", "busybox", "true")
    assert run.returncode == 125
    assert run.stderr.strip().splitlines() == [
        f'Error: invalid mount config for type "bind": bind source path does not exist: {missing}']
    assert busybox("ps", "-aq", check=True).stdout == ""  # refused before anything was created
    run = busybox("run", "--rm", "-v", f"{missing}:/m", "busybox", "touch", "/m/made")
    assert run.returncode == 0 and (missing / "made").exists()


def test_tmpfs_mounts_with_size_and_options(busybox):
    run = busybox("run", "--rm", "--tmpfs", "/scratch:size=1m", "--mount", "type=tmpfs,dst=/t,tmpfs-size=2m,tmpfs-mode=1770",
                  "busybox", "sh", "-c", "grep -E ' /(scratch|t) ' /proc/self/mountinfo; stat -c %a /t")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    scratch = next(ln for ln in lines if " /scratch " in ln)
    t = next(ln for ln in lines if " /t " in ln)
    assert "tmpfs" in scratch and "size=1024k" in scratch and "noexec" in scratch and "nosuid" in scratch
    assert "size=2048k" in t and "noexec" not in t.split(" - ")[0]
    assert lines[-1] == "1770"


def test_a_symlink_in_the_image_cannot_move_a_mount_onto_the_host(busybox, busybox_rootfs, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    evil = tmp_path / "evil"
    shutil.copytree(busybox_rootfs, evil, symlinks=True)
    os.symlink("/../../../../../../.." + str(victim), evil / "escape")  # points "outside" the rootfs
    os.symlink(str(victim / "dangling"), evil / "dangling")  # a dangling one, resolved inside the root
    busybox("import", "--change", 'CMD ["sh"]', str(evil), "evil", check=True)
    host = tmp_path / "host"
    host.mkdir()
    run = busybox("run", "--rm", "-v", f"{host}:/escape/sub", "-v", f"{host}:/dangling", "busybox", "sh", "-c",
                  "echo a > /escape/sub/a; echo b > /dangling/b")
    assert run.returncode == 0, run.stderr
    assert sorted(os.listdir(victim)) == []  # nothing was created or mounted on the host side
    assert (host / "a").read_text() == "a\n" and (host / "b").read_text() == "b\n"


# -- volume commands ---------------------------------------------------------------

def test_volume_rm_refuses_a_volume_a_container_uses(busybox):
    busybox("run", "--name", "user", "-v", "busy:/b", "busybox", "true", check=True)
    run = busybox("volume", "rm", "busy")
    assert run.returncode == 1 and "volume is in use" in run.stderr
    assert "busy" in _volumes(busybox)
    busybox("rm", "user", check=True)
    assert busybox("volume", "rm", "busy", check=True).stdout == "busy\n"
    assert not (busybox.root / "volumes" / "busy").exists()
    run = busybox("volume", "rm", "busy")
    assert run.returncode == 1 and "no such volume: busy" in run.stderr
    assert busybox("volume", "rm", "-f", "busy").returncode == 0


def test_volume_create_ls_inspect_and_errors(busybox):
    assert busybox("volume", "create", "--label", "team=db", "-o", "type=tmpfs", "-o", "device=tmpfs",
                   "-o", "o=size=1m", "labelled", check=True).stdout == "labelled\n"
    anon = busybox("volume", "create", check=True).stdout.strip()
    assert len(anon) == 64
    table = busybox("volume", "ls", check=True).stdout.splitlines()
    assert table[0].split() == ["DRIVER", "VOLUME", "NAME"] and len(table) == 3
    assert busybox("volume", "ls", "-q", "--filter", "label=team=db", check=True).stdout == "labelled\n"
    assert busybox("volume", "ls", "--format", "{{.Name}}:{{.Labels}}", "-f", "name=lab",
                   check=True).stdout == "labelled:team=db\n"
    import json

    (record,) = json.loads(busybox("volume", "inspect", "labelled", check=True).stdout)
    assert record["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    assert record["Labels"] == {"team": "db"} and record["Scope"] == "local" and record["CreatedAt"]
    bad = busybox("volume", "create", "-o", "bogus=1", "nope")
    assert bad.returncode == 125 and bad.stderr.strip() == 'Error: invalid option: "bogus"'
    bad = busybox("volume", "create", "-o", "type=tmpfs", "nope")
    assert bad.returncode == 125 and 'missing required option: "device"' in bad.stderr
    assert "nope" not in _volumes(busybox)


def test_volume_prune(busybox):
    busybox("volume", "create", "named", check=True)
    busybox("run", "--name", "keeper", "-v", "/kept", "busybox", "true", check=True)
    busybox("run", "-v", "/gone", "busybox", "true", check=True)
    gone_owner = busybox("ps", "-aq", check=True).stdout.split()[0]
    busybox("rm", gone_owner, check=True)  # its anonymous volume is now unused
    before = set(_volumes(busybox))
    assert len(before) == 3
    out = busybox("volume", "prune", "-f", check=True).stdout
    after = set(_volumes(busybox))
    assert len(after) == 2 and "named" in after and "Deleted Volumes:" in out and "Total reclaimed space:" in out
    busybox("volume", "prune", "-f", "--all", check=True)
    assert len(_volumes(busybox)) == 1  # the one "keeper" uses stays
    busybox("rm", "-v", "keeper", check=True)
    assert _volumes(busybox) == []


def test_a_local_tmpfs_volume_is_mounted_while_used_and_unmounted_after(busybox, tmp_path):
    busybox("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=2m,mode=0755", "tv", check=True)
    data = busybox.root / "volumes" / "tv" / "_data"
    assert _mounted_at(data) is None
    sync = tmp_path / "sync"
    sync.mkdir()
    first = _background(busybox, "run", "--rm", "-v", "tv:/v", "-v", f"{sync}:/sync", "busybox", "sh", "-c",
                        "echo up > /v/f; touch /sync/ready; while [ ! -f /sync/go ]; do sleep 0.05; done")
    until(lambda: (sync / "ready").exists(), 20, 0.05)
    line = _mounted_at(data)
    assert line is not None and line[line.index("-") + 1] == "tmpfs"
    second = busybox("run", "--rm", "-v", "tv:/v", "busybox", "cat", "/v/f")
    assert second.stdout == "up\n"
    assert _mounted_at(data) is not None  # the first container still uses it
    (sync / "go").touch()
    first.communicate(timeout=60)
    assert first.returncode == 0
    assert _mounted_at(data) is None  # the last user stopped: unmounted


def test_system_prune_releases_a_volume_a_killed_run_left_mounted(busybox):
    busybox("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "crashy", check=True)
    from pyctr.core.drivers import DriverContext
    from pyctr.plugins.volume_local import LocalVolumeDriver
    from pyctr.testing.pytest_plugin import make_driver  # noqa: F401  (the same selection pyctr uses)

    # what a pyctr killed between mounting and recording the container leaves: a
    # reference held by a container id the state database does not know
    driver = LocalVolumeDriver(DriverContext(root=busybox.root, runroot=busybox.runroot))
    data = driver.mount("crashy", "f" * 64)
    assert _mounted_at(data) is not None
    out = busybox("system", "prune", "-f", check=True).stdout
    assert "released volume crashy" in out
    assert _mounted_at(data) is None
    assert busybox("volume", "rm", "crashy", check=True).returncode == 0


# -- NFS where the kernel has no client -----------------------------------------------

def _require_no_nfs_client() -> str:
    from pyctr.plugins import nfs_client

    problem = nfs_client.support_problem()
    if problem is None:
        # with a client the seed would really try 10.0.0.13: never send traffic there
        pytest.skip("this kernel has an NFS client; tests/integration/test_nfs_volumes.py covers it")
    return problem


def test_the_seed_mount_fails_in_one_line_without_an_nfs_client(busybox):
    problem = _require_no_nfs_client()
    run = busybox("run", "--rm", "-it", "--mount", SEED, "busybox")
    assert run.returncode == 125
    assert run.stderr.strip().splitlines() == [f"Error: {problem}"]
    assert "Traceback" not in run.stderr
    assert _volumes(busybox) == [] and not (busybox.root / "volumes" / "nfsvolume").exists()
    assert busybox("ps", "-aq", check=True).stdout == ""  # --rm: the container went too


def test_the_nfs_driver_fails_in_one_line_without_an_nfs_client(busybox):
    problem = _require_no_nfs_client()
    for args in (("volume", "create", "-d", "nfs", "-o", "share=127.0.0.1:/export", "data"),
                 ("--volume-driver=nfs", "run", "--rm", "-v", "data:/app", "busybox", "true"),
                 ("run", "--rm", "--volume-driver", "nfs", "-v", "data:/app", "busybox", "true"),
                 ("run", "--rm", "--mount", "type=volume,src=data,dst=/app,volume-driver=nfs,"
                  "volume-opt=share=127.0.0.1:/export", "busybox", "true")):
        run = busybox(*args)
        assert run.returncode == 125, args
        assert run.stderr.strip().splitlines() == [f"Error: {problem}"], args
        assert _volumes(busybox) == [], args
    assert not (busybox.root / "volumes" / "data").exists()
