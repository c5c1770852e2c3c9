"""The distribution client against a real registry (Debian's docker-registry).

Images are built from busybox-static and pushed by skopeo (an independent
client); pyctr pulls and verifies them, and pushes images that skopeo reads.
Runs against an anonymous registry, an htpasswd (Basic) one and a Bearer
token one.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import threading

import pytest

from pyctr.core.errors import ImageError, NotFound
from pyctr.images.content import ContentStore
from pyctr.images.distribution import RegistryClient, parse_diff_ids, parse_image_manifest
from pyctr.layers.extract import extract_layer
from pyctr.layers.streams import open_layer_stream
from pyctr.testing.images import push_test_images

pytestmark = pytest.mark.registry

REGISTRIES = ["registry", "auth_registry", "token_registry"]
_pushed: dict[str, dict] = {}


@pytest.fixture(params=REGISTRIES)
def reg(request, tmp_path_factory):
    r = request.getfixturevalue(request.param)
    if r.host not in _pushed:
        # the anonymous registry already holds the session's registry_images: pushing
        # again would replace app1's random layer under the other tests' feet
        _pushed[r.host] = request.getfixturevalue("registry_images") if request.param == "registry" else \
            push_test_images(r, tmp_path_factory.mktemp(f"images-{request.param}"))
    return r, _pushed[r.host]


@pytest.fixture
def client(reg):
    r, _ = reg
    c = RegistryClient(r.host, credentials=r.credentials)
    yield c
    c.close()


@pytest.fixture
def store(tmp_path):
    return ContentStore(tmp_path / "content")


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def pull(client, store, repo, tag, platform="linux/amd64"):
    raw, media_type, digest = client.get_manifest(repo, tag, platform)
    man = json.loads(raw)
    cfg_desc = man["config"]
    client.fetch_blob(repo, cfg_desc["digest"], cfg_desc["size"], store)
    config = json.loads(store.read(cfg_desc["digest"]))
    parsed = parse_image_manifest(raw)
    assert [d.digest for d in parsed.layers] == [la["digest"] for la in man["layers"]]
    assert parse_diff_ids(store.read(cfg_desc["digest"]), len(parsed.layers)) == config["rootfs"]["diff_ids"]
    for layer in man["layers"]:
        client.fetch_blob(repo, layer["digest"], layer["size"], store)
    return raw, digest, man, config


def test_pull_verifies_digests_and_diff_ids(reg, client, store):
    _, images = reg
    for name in ("busybox", "app1", "app2", "zstd"):
        im = images[name]
        raw, digest, man, config = pull(client, store, im.repository, im.tag)
        assert digest == im.manifest_digest == sha(raw)
        assert sha(store.read(man["config"]["digest"])) == im.config_digest
        # diff_ids: decompress each blob ourselves and hash, compare with the config
        got = []
        for layer in man["layers"]:
            assert store.verify(layer["digest"])
            with store.open(layer["digest"]) as f:
                h = hashlib.sha256()
                s = open_layer_stream(f)
                while chunk := s.read(1 << 20):
                    h.update(chunk)
            got.append("sha256:" + h.hexdigest())
        assert got == config["rootfs"]["diff_ids"] == im.diff_ids


def test_layers_apply_with_whiteouts(reg, client, store, tmp_path):
    _, images = reg
    im = images["app1"]
    _, _, man, config = pull(client, store, im.repository, im.tag)
    root = tmp_path / "rootfs"
    root.mkdir()
    for layer, diff_id in zip(man["layers"], config["rootfs"]["diff_ids"], strict=True):
        with store.open(layer["digest"]) as f:
            extract_layer(f, root, whiteouts="delete", diff_id=diff_id)
    assert (root / "etc/motd").read_text() == "hello from app1\n"
    assert not (root / "etc/hostname").exists()  # whiteout
    assert sorted(os.listdir(root / "usr/share/doc")) == ["APP1"]  # opaque
    assert os.path.samefile(root / "opt/app1/data", root / "opt/app1/data.link")
    assert os.readlink(root / "bin/sh") == "busybox"
    out = subprocess.run([str(root / "bin/busybox"), "echo", "ok"], capture_output=True, text=True)
    assert out.stdout == "ok\n"
    assert stat.S_IMODE(os.stat(root / "tmp").st_mode) == 0o1777


def test_index_resolves_platform(reg, client):
    _, images = reg
    im = images["multi"]
    r = client.resolve(im.repository, im.tag)
    assert r.digest == im.manifest_digest and r.index_digest == im.index_digest
    arm = client.resolve(im.repository, im.tag, "linux/arm64")
    assert arm.digest == im.extra["arm64"].manifest_digest
    assert client.get_manifest(im.repository, im.tag, "linux/arm64/v8")[2] == arm.digest
    with pytest.raises(NotFound, match="platform"):
        client.resolve(im.repository, im.tag, "linux/s390x")
    # By digest, the index itself is verified too.
    assert client.resolve(im.repository, im.index_digest).digest == im.manifest_digest


def test_unknown_manifest_and_blob(reg, client, store):
    with pytest.raises(NotFound):
        client.get_manifest("pyctr/busybox", "no-such-tag")
    missing = sha(b"not there")
    assert not client.blob_exists("pyctr/busybox", missing)
    with pytest.raises(NotFound):
        client.fetch_blob("pyctr/busybox", missing, 9, store)
    assert store.list() == []


def test_shared_layer_not_fetched_again(reg, client, store):
    r, images = reg
    pull(client, store, "pyctr/app1", "v1")
    base = images["app2"].layers[0]
    assert base.digest == images["app1"].layers[0].digest
    # A client for a port nobody listens on: present blobs need no network.
    from pyctr.testing.registry import free_port

    dead = RegistryClient(f"127.0.0.1:{free_port()}")
    dead.fetch_blob("pyctr/app2", base.digest, base.size, store)
    with pytest.raises(ImageError):
        dead.fetch_blob("pyctr/app2", images["app2"].layers[1].digest, images["app2"].layers[1].size, store)


def test_resume_uses_range(reg, client, store):
    _, images = reg
    layer = images["busybox"].layers[0]
    assert layer.size > 300_000
    half = layer.size // 2
    part = store.root / "ingest" / f"{layer.digest[7:]}.partial"
    part.parent.mkdir(parents=True)
    part.write_bytes(layer.blob[:half])
    seen = []
    client.fetch_blob("pyctr/busybox", layer.digest, layer.size, store, progress=lambda d, t: seen.append((d, t)))
    assert store.verify(layer.digest)
    assert seen[0][0] > half and seen[-1] == (layer.size, layer.size)  # continued, did not restart
    assert not part.exists()


def test_corrupt_partial_is_discarded(reg, client, store):
    _, images = reg
    layer = images["busybox"].layers[0]
    part = store.root / "ingest" / f"{layer.digest[7:]}.partial"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 1000)
    with pytest.raises(ImageError):
        client.fetch_blob("pyctr/busybox", layer.digest, layer.size, store)
    assert not store.has(layer.digest) and not part.exists()
    client.fetch_blob("pyctr/busybox", layer.digest, layer.size, store)
    assert store.verify(layer.digest)


def test_parallel_downloads_from_threads(reg, client, store):
    _, images = reg
    layers = images["app1"].layers + images["zstd"].layers
    errors = []

    def get(repo, layer):
        try:
            client.fetch_blob(repo, layer.digest, layer.size, store)
        except Exception as e:  # pragma: no cover - shown by the assert
            errors.append(e)

    threads = [threading.Thread(target=get, args=("pyctr/app1" if i < 3 else "pyctr/zstd", la))
               for i, la in enumerate(layers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(store.verify(la.digest) for la in layers)


def skopeo_inspect(r, ref, raw=False):
    cmd = ["skopeo", "inspect", "--tls-verify=false"]
    if raw:
        cmd.append("--raw")
    if r.credentials:
        cmd += ["--creds", f"{r.user}:{r.password}"]
    out = subprocess.run(cmd + [f"docker://{r.host}/{ref}"], capture_output=True, check=True, timeout=60)
    return out.stdout


@pytest.mark.parametrize("chunk", [32 << 20, 100_000], ids=["monolithic", "chunked"])
def test_push_read_back_by_skopeo(reg, client, store, tmp_path, chunk):
    r, images = reg
    src = images["app1"]
    repo = f"pyctr/pushed-{chunk}"
    # blobs from bytes and from a file
    for i, layer in enumerate(src.layers):
        if i % 2:
            client.push_blob(repo, layer.digest, layer.blob, chunk_size=chunk)
        else:
            p = tmp_path / f"l{i}"
            p.write_bytes(layer.blob)
            client.push_blob(repo, layer.digest, p, chunk_size=chunk)
    assert client.push_blob(repo, sha(src.config), src.config, chunk_size=chunk) is True
    assert client.push_blob(repo, sha(src.config), src.config) is False  # already there: skipped
    digest = client.put_manifest(repo, "pushed", src.manifest, "application/vnd.oci.image.manifest.v1+json")
    assert digest == src.manifest_digest
    info = json.loads(skopeo_inspect(r, f"{repo}:pushed"))
    assert info["Digest"] == digest
    assert info["Layers"] == [la.digest for la in src.layers]
    assert skopeo_inspect(r, f"{repo}:pushed", raw=True) == src.manifest
    # and skopeo can copy it out, checking every blob digest on the way
    out = tmp_path / "copied"
    cmd = ["skopeo", "copy", "--quiet", "--src-tls-verify=false"]
    if r.credentials:
        cmd += ["--src-creds", f"{r.user}:{r.password}"]
    subprocess.run(cmd + [f"docker://{r.host}/{repo}:pushed", f"oci:{out}:x"], check=True, timeout=120)


@pytest.mark.parametrize("which", ["auth_registry", "token_registry"])
def test_wrong_credentials(request, which):
    """Only the registries that need a login (the anonymous one has no credentials to get wrong)."""
    r = request.getfixturevalue(which)
    with pytest.raises(ImageError):
        RegistryClient(r.host).get_manifest("pyctr/busybox", "latest")
    with pytest.raises(ImageError, match="unauthorized|authentication"):
        RegistryClient(r.host, credentials=(r.user, "wrong")).get_manifest("pyctr/busybox", "latest")


def test_registry_images_fixture(registry_images, registry):
    """The shared fixture other tests (pyctr pull) use: images are there and skopeo sees them."""
    assert set(registry_images) >= {"busybox", "app1", "app2", "zstd", "multi"}
    info = json.loads(skopeo_inspect(registry, "pyctr/app1:v1"))
    assert info["Layers"] == [la.digest for la in registry_images["app1"].layers]
