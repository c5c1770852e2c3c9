"""The image commands end to end: the real CLI against Debian's docker-registry.

Images are built from busybox-static and pushed with skopeo (an independent
client); pyctr pulls, runs, tags, removes, pushes, saves and loads them.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from pyctr.testing.images import push_test_images
from tests.conftest import Pyctr

pytestmark = [pytest.mark.registry, pytest.mark.root]


def pulled(pyctr: Pyctr, ref: str) -> subprocess.CompletedProcess:
    r = pyctr("pull", ref)
    assert r.returncode == 0, r.stderr
    return r


def overlay_dir(pyctr: Pyctr) -> Path:
    return pyctr.root / "overlay2"


def test_pull_shows_progress_digest_and_layer_chain(pyctr, registry_images):
    img = registry_images["app1"]
    r = pulled(pyctr, img.ref)
    out = r.stdout
    assert f"{img.tag}: Pulling from {img.repository}" in out
    for layer in img.layers:
        assert f"{layer.digest[7:19]}: Pull complete" in out
    assert f"Digest: {img.manifest_digest}" in out
    assert f"Status: Downloaded newer image for {img.ref}" in out
    assert out.strip().splitlines()[-1] == img.ref
    layers = pyctr("inspect", "--format", "{{ range .RootFS.Layers }}{{.}}\n{{ end }}", img.ref, check=True).stdout
    assert layers.split() == img.diff_ids
    digests = pyctr("inspect", "--format", "{{json .RepoDigests}}", img.ref, check=True).stdout
    assert json.loads(digests) == [f"{img.registry}/{img.repository}@{img.manifest_digest}"]
    assert "Storage Driver: overlay2" in pyctr("info", check=True).stdout
    # layers are directories under the storage root, each with its own diff/
    from pyctr.images.store import chain_ids

    for chain in chain_ids(img.diff_ids):
        assert (overlay_dir(pyctr) / chain[7:] / "diff").is_dir()
    again = pulled(pyctr, img.ref)
    assert "Status: Image is up to date" in again.stdout
    assert "Already exists" in again.stdout


def test_pull_quiet_prints_only_the_reference(pyctr, registry_images):
    img = registry_images["busybox"]
    r = pyctr("pull", "-q", img.ref, check=True)
    assert r.stdout == img.ref + "\n"


def test_pull_index_picks_platform(pyctr, registry_images):
    img = registry_images["multi"]
    pyctr("pull", "-q", img.ref, check=True)
    arch = pyctr("inspect", "--format", "{{.Architecture}}", img.ref, check=True).stdout.strip()
    assert arch == "amd64"
    digests = json.loads(pyctr("inspect", "--format", "{{json .RepoDigests}}", img.ref, check=True).stdout)
    assert digests == [f"{img.registry}/{img.repository}@{img.index_digest}"]
    other = Pyctr(pyctr.root.parent / "arm")
    other("pull", "-q", "--platform", "linux/arm64", img.ref, check=True)
    assert other("inspect", "--format", "{{.Architecture}}", img.ref, check=True).stdout.strip() == "arm64"


def test_shared_layer_is_never_fetched_again(pyctr, registry_images):
    app1, app2 = registry_images["app1"], registry_images["app2"]
    pulled(pyctr, app1.ref)
    base = app1.layers[0]
    blob = pyctr.root / "blobs" / "sha256" / base.digest[7:]
    assert blob.exists()
    blob.unlink()  # if pull fetched the shared layer again, the blob would come back
    r = pulled(pyctr, app2.ref)
    assert f"{base.digest[7:19]}: Already exists" in r.stdout
    assert not blob.exists()
    assert (pyctr.root / "blobs" / "sha256" / app2.layers[1].digest[7:]).exists()


@pytest.mark.parametrize("which", ["auth_registry", "token_registry"])
def test_pull_needs_login_then_works(pyctr, request, tmp_path_factory, which):
    reg = request.getfixturevalue(which)
    images = push_test_images(reg, tmp_path_factory.mktemp(f"img2-{which}"))
    ref = images["busybox"].ref
    r = pyctr("pull", "-q", ref)
    assert r.returncode == 125 and "pyctr login" in r.stderr or "unauthorized" in r.stderr
    bad = pyctr("login", "-u", reg.user, "--password-stdin", reg.host, input="wrong\n")
    assert bad.returncode == 125
    ok = pyctr("login", "-u", reg.user, "--password-stdin", reg.host, input=reg.password + "\n")
    assert ok.returncode == 0 and "Login Succeeded" in ok.stdout, ok.stderr
    auth = pyctr.root / "auth.json"
    assert stat.S_IMODE(auth.stat().st_mode) == 0o600
    assert pyctr("pull", "-q", ref, check=True).stdout.strip() == ref
    assert "Removing login credentials" in pyctr("logout", reg.host, check=True).stdout
    assert reg.host not in json.loads(auth.read_text()).get("auths", {})


def test_whiteout_opaque_and_copy_on_write_in_a_container(pyctr, registry_images):
    app1, app2 = registry_images["app1"], registry_images["app2"]
    pulled(pyctr, app1.ref)
    pulled(pyctr, app2.ref)
    # app1's opaque /usr/share/doc hides the base layer's README; app2 still sees it
    assert pyctr("run", "--rm", app1.ref, "ls", "/usr/share/doc", check=True).stdout.split() == ["APP1"]
    assert pyctr("run", "--rm", app2.ref, "ls", "/usr/share/doc", check=True).stdout.split() == ["README"]
    from pyctr.images.store import chain_ids

    chains = chain_ids(app1.diff_ids)
    wh = os.lstat(overlay_dir(pyctr) / chains[1][7:] / "diff/etc/hostname")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    # deleting a lower file in a container only hides it
    r = pyctr("run", "--name", "img2-cow", app2.ref, "sh", "-c", "rm /etc/motd; ls /etc", check=True)
    try:
        assert "motd" not in r.stdout.split()
        lower = overlay_dir(pyctr) / chain_ids(app2.diff_ids)[1][7:] / "diff/etc/motd"
        assert lower.read_text() == "hello from app2\n"
        upper = Path(pyctr("inspect", "--format", "{{.GraphDriver.Data.UpperDir}}", "img2-cow", check=True).stdout.strip())
        st = os.lstat(upper / "etc/motd")
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    finally:
        pyctr("rm", "-f", "img2-cow")


def test_images_history_columns(pyctr, registry_images):
    img = registry_images["app1"]
    pulled(pyctr, img.ref)
    lines = pyctr("images", check=True).stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[1].split()[:3] == [f"{img.registry}/{img.repository}", img.tag, img.config_digest[7:19]]
    dig = pyctr("images", "--digests", check=True).stdout.splitlines()
    assert "DIGEST" in dig[0] and img.manifest_digest in dig[1]
    hist = pyctr("history", img.ref, check=True).stdout.splitlines()
    import re

    assert re.split(r"\s{2,}", hist[0].strip()) == ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    assert hist[1].startswith(img.config_digest[7:19])
    assert all(line.startswith("<missing>") for line in hist[2:]) and len(hist) == 4
    assert "ADD data /opt/app1" in hist[1] and "COPY busybox-static /" in hist[3]
    assert pyctr("history", "-q", img.ref, check=True).stdout.split() == [img.config_digest[7:19], "<missing>", "<missing>"]
    sizes = pyctr("history", "--format", "{{.Size}}", img.ref, check=True).stdout.split()
    assert sizes[0] == "65.5kB"  # HumanSizeWithPrecision(n, 3), as docker history


def test_history_empty_layer_rows_and_load_round_trip(pyctr, tmp_path, registry_images):
    """A docker-archive with empty_layer history entries: load it, history shows them as 0B."""
    img = registry_images["busybox"]
    config = json.loads(img.config)
    config["history"] = [{"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:x in /"},
                         {"created": "2024-01-01T00:00:01Z", "created_by": '/bin/sh -c #(nop)  CMD ["sh"]',
                          "empty_layer": True}]
    config_raw = json.dumps(config).encode()
    tar_path = tmp_path / "arch.tar"
    with tarfile.open(tar_path, "w") as tf:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        add("layer/layer.tar", img.layers[0].tar)
        add("config.json", config_raw)
        add("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["example.com/hist:1"],
                                          "Layers": ["layer/layer.tar"]}]).encode())
    r = pyctr("load", "-i", str(tar_path), check=True)
    assert r.stdout.strip() == "Loaded image: example.com/hist:1"
    rows = pyctr("history", "--format", "{{.ID}}|{{.Size}}|{{.CreatedBy}}", "example.com/hist:1", check=True).stdout.splitlines()
    assert rows[0].split("|")[1] == "0B" and "CMD" in rows[0]
    assert rows[1].startswith("<missing>|") and rows[1].split("|")[1] != "0B"


def test_tag_and_rmi_semantics(pyctr, registry_images):
    app1, app2 = registry_images["app1"], registry_images["app2"]
    pulled(pyctr, app1.ref)
    pulled(pyctr, app2.ref)
    pyctr("tag", app1.ref, "example.com/other:2", check=True)
    assert "example.com/other:2" in pyctr("images", check=True).stdout.replace("   ", " ").replace("  ", " ") or \
        "example.com/other" in pyctr("images", check=True).stdout
    # an id with two tags needs -f
    r = pyctr("rmi", app1.config_digest[7:19])
    assert r.returncode == 1 and "multiple repositories" in r.stderr
    r = pyctr("rmi", "example.com/other:2", check=True)
    assert r.stdout.strip() == "Untagged: example.com/other:2"
    # a container blocks deletion unless -f
    pyctr("create", "--name", "img2-user", app1.ref, "true", check=True)
    try:
        r = pyctr("rmi", app1.ref)
        assert r.returncode == 1 and "container" in r.stderr
    finally:
        pyctr("rm", "-f", "img2-user", check=True)
    from pyctr.images.store import chain_ids

    chains1 = [c[7:] for c in chain_ids(app1.diff_ids)]
    r = pyctr("rmi", app1.ref, check=True)
    assert f"Deleted: {app1.config_digest}" in r.stdout
    assert not (overlay_dir(pyctr) / chains1[2]).exists() and not (overlay_dir(pyctr) / chains1[1]).exists()
    assert (overlay_dir(pyctr) / chains1[0]).exists()  # app2 still uses the base layer
    assert not (pyctr.root / "blobs/sha256" / app1.layers[2].digest[7:]).exists()
    assert (pyctr.root / "blobs/sha256" / app1.layers[0].digest[7:]).exists()
    pyctr("rmi", app2.ref, check=True)
    assert not (overlay_dir(pyctr) / chains1[0]).exists()
    assert pyctr("images", "-q", check=True).stdout == ""


def test_images_filters(pyctr, registry_images):
    pulled(pyctr, registry_images["busybox"].ref)
    pulled(pyctr, registry_images["app2"].ref)
    pyctr("tag", registry_images["app2"].ref, "example.com/keep:1", check=True)
    pyctr("rmi", registry_images["app2"].ref, check=True)
    out = pyctr("images", "--filter", "reference=example.com/*", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout
    assert out.split() == ["example.com/keep:1"]
    assert pyctr("images", "-f", "dangling=true", "-q", check=True).stdout == ""
    assert pyctr("image", "ls", "-q", check=True).stdout.split()


def test_save_is_read_by_skopeo_and_load_round_trips(pyctr, tmp_path, registry_images):
    img = registry_images["app1"]
    pulled(pyctr, img.ref)
    out = tmp_path / "app1.tar"
    pyctr("save", "-o", str(out), img.ref, check=True)
    info = subprocess.run(["skopeo", "inspect", f"docker-archive:{out}"], capture_output=True, text=True, check=True)
    assert json.loads(info.stdout)["Layers"] == img.diff_ids
    import shutil

    if shutil.which("podman"):
        import tempfile

        run = tempfile.mkdtemp(prefix="img2-pod-")  # podman wants a runroot under 50 characters
        pod = ["podman", "--root", str(tmp_path / "pod/s"), "--runroot", run, "--storage-driver", "vfs"]
        try:
            r = subprocess.run(pod + ["load", "-i", str(out)], capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
            ids = subprocess.run(pod + ["images", "-q", "--no-trunc"], check=True, capture_output=True, text=True).stdout
            assert img.config_digest in ids
        finally:
            subprocess.run(pod + ["system", "reset", "-f"], capture_output=True, timeout=120)
            shutil.rmtree(run, ignore_errors=True)
    other = Pyctr(tmp_path / "second")
    r = other("load", "-i", str(out), check=True)
    assert r.stdout.strip() == f"Loaded image: {img.ref}"
    layers = other("inspect", "--format", "{{ range .RootFS.Layers }}{{.}}\n{{ end }}", img.ref, check=True).stdout
    assert layers.split() == img.diff_ids
    assert other("image", "inspect", "--format", "{{.Id}}", img.ref, check=True).stdout.strip() == img.config_digest
    # an OCI layout written by skopeo loads too
    layout = tmp_path / "oci"
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{img.ref}",
                    f"oci:{layout}:latest"], check=True, capture_output=True)
    oci_tar = tmp_path / "oci.tar"
    with tarfile.open(oci_tar, "w") as tf:
        tf.add(layout, arcname=".")
    third = Pyctr(tmp_path / "third")
    assert "Loaded image ID: " + img.config_digest in third("load", "-i", str(oci_tar), check=True).stdout


def test_push_pulled_and_imported_images(busybox, tmp_path, registry, registry_images):
    pyctr = busybox
    img = registry_images["app1"]
    pulled(pyctr, img.ref)
    target = f"{registry.host}/img2/pushed:v1"
    pyctr("tag", img.ref, target, check=True)
    r = pyctr("push", target, check=True)
    assert f"digest: {img.manifest_digest}" in r.stdout  # pushed byte for byte
    imported = f"{registry.host}/img2/imported:v1"
    pyctr("tag", "busybox", imported, check=True)
    pyctr("push", imported, check=True)
    info = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{imported}"],
                          capture_output=True, text=True, check=True)
    want = pyctr("inspect", "--format", "{{ range .RootFS.Layers }}{{.}}\n{{ end }}", "busybox", check=True).stdout
    assert json.loads(info.stdout)["Layers"] != []
    fresh = Pyctr(tmp_path / "fresh")
    fresh("pull", "-q", imported, check=True)
    got = fresh("inspect", "--format", "{{ range .RootFS.Layers }}{{.}}\n{{ end }}", imported, check=True).stdout
    assert got.split() == want.split()
    assert fresh("run", "--rm", imported, "echo", "hi", check=True).stdout.strip() == "hi"


def test_system_check_finds_a_corrupted_blob(pyctr, registry_images):
    img = registry_images["app1"]
    pulled(pyctr, img.ref)
    assert pyctr("system", "check", check=True).stdout.strip() == "no problems found"
    blob = pyctr.root / "blobs/sha256" / img.layers[2].digest[7:]
    with open(blob, "r+b") as f:
        f.seek(100)
        f.write(b"corrupt")
    r = pyctr("system", "check")
    assert r.returncode == 1 and f"blob {img.layers[2].digest} is modified" in r.stdout
    r = pyctr("system", "check", "--repair")
    assert r.returncode == 0, r.stdout
    assert pyctr("system", "check", check=True).stdout.strip() == "no problems found"
    assert (pyctr.root / "blobs/sha256" / img.layers[2].digest[7:]).exists()  # refetched
    df = pyctr("system", "df", check=True).stdout.splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert df[1].split()[:3] == ["Images", "1", "0"]


def test_pull_into_vfs_applies_layers_in_order(tmp_path, registry_images):
    """vfs copies each parent, so its layers unpack base first; whiteouts delete."""
    vfs = Pyctr(tmp_path, storage_driver="vfs")
    img = registry_images["app1"]
    r = vfs("pull", "--tls-verify=false", img.ref, check=True)
    assert "Status: Downloaded newer image" in r.stdout
    from pyctr.images.store import chain_ids

    top = tmp_path / "root" / "vfs" / "dir" / chain_ids(img.diff_ids)[-1][7:]
    assert not (top / "etc/hostname").exists() and (top / "etc/motd").read_text() == "hello from app1\n"
    assert sorted(os.listdir(top / "usr/share/doc")) == ["APP1"]
    assert vfs("run", "--rm", img.ref, "cat", "/opt/app1/run.sh", check=True).stdout == "#!/bin/sh\necho app1\n"


def test_system_check_finds_killed_extractions_and_incomplete_layers(pyctr, registry_images):
    import sqlite3

    img = registry_images["app2"]
    pulled(pyctr, img.ref)
    stale = overlay_dir(pyctr) / f".tmp-{'e' * 64}-999999999-0badc0de"
    (stale / "diff").mkdir(parents=True)
    from pyctr.images.store import chain_ids

    top = chain_ids(img.diff_ids)[-1][7:]
    db = sqlite3.connect(pyctr.root / "pyctr.db")
    db.execute("UPDATE layers SET complete = 0 WHERE id = ?", (top,))
    db.commit()
    db.close()
    r = pyctr("system", "check")
    assert r.returncode == 1
    assert f"staging directory {stale.name}" in r.stdout and f"layer {top[:12]} is incomplete" in r.stdout
    r = pyctr("system", "check", "--repair")
    assert r.returncode == 0, r.stdout
    assert f"pulled {img.registry}/{img.repository}:{img.tag} again" in r.stdout
    assert not stale.exists()
    assert pyctr("system", "check", check=True).stdout.strip() == "no problems found"
    assert pyctr("run", "--rm", img.ref, "cat", "/etc/motd", check=True).stdout == "hello from app2\n"


def test_run_pulls_a_missing_image_as_docker_does(pyctr, registry_images):
    img = registry_images["busybox"]
    r = pyctr("--network=none", "run", "--rm", img.ref, "echo", "pulled-and-ran")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "pulled-and-ran"
    assert f"Unable to find image '{img.ref}' locally" in r.stderr
    r = pyctr("--network=none", "run", "--rm", "--pull", "never", "localhost:1/not-here", "true")
    assert r.returncode == 125 and "no such image" in r.stderr


def test_save_by_id_and_reload_into_the_same_store_keep_the_id(pyctr, tmp_path, registry_images):
    img = registry_images["app1"]
    pulled(pyctr, img.ref)
    by_id = tmp_path / "by-id.tar"
    pyctr("save", "-o", str(by_id), img.config_digest, check=True)
    with tarfile.open(by_id) as tf:
        assert json.load(tf.extractfile("manifest.json"))[0]["RepoTags"] is None  # as docker save <id>
    # loaded back over the pulled image: it is the same image, and a later save still gives the pulled
    # layers' bytes (a lost manifest made the next save re-tar the layer: another diff_id, another id)
    assert pyctr("load", "-i", str(by_id), check=True).stdout.strip() == f"Loaded image ID: {img.config_digest}"
    pyctr("tag", img.ref, "again:1", check=True)
    again = tmp_path / "again.tar"
    pyctr("save", "-o", str(again), "again:1", check=True)
    pyctr("rmi", "again:1", check=True)
    assert pyctr("load", "-i", str(again), check=True).stdout.strip() == "Loaded image: again:1"
    assert pyctr("image", "inspect", "--format", "{{.Id}}", "again:1", check=True).stdout.strip() == img.config_digest
    pyctr("rmi", "again:1", check=True)
