"""The distribution client against a registry that lies (a small hostile HTTP server on 127.0.0.1).

The real-registry tests live in tests/integration/test_distribution.py; here
the server misbehaves on purpose: oversized or mismatching manifests, blobs
with the wrong bytes, dropped connections, ignored Range headers, redirects
to another host (which must not receive the credentials).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pyctr.core.errors import ImageError
from pyctr.images import credentials
from pyctr.images.content import ContentStore
from pyctr.images.distribution import RegistryClient, parse_challenge

BLOB = os.urandom(300_000)
BLOB_D = "sha256:" + hashlib.sha256(BLOB).hexdigest()
GOOD_MAN = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {}, "layers": []}).encode()
GOOD_D = "sha256:" + hashlib.sha256(GOOD_MAN).hexdigest()


class Hostile:
    def __init__(self):
        self.log = []
        self.mode = {}
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, code, body=b"", headers=None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                outer.log.append((self.command, self.path, dict(self.headers)))
                p = self.path
                if p == "/v2/":
                    return self.send(200, b"{}")
                if p.startswith("/v2/r/manifests/"):
                    ref = p.rsplit("/", 1)[1]
                    kind = outer.mode.get("manifest", "good")
                    throttle = outer.mode.get("throttle")
                    if throttle and throttle["left"] > 0:
                        throttle["left"] -= 1
                        return self.send(throttle["status"], b"", {"Retry-After": throttle["after"]})
                    ctype = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
                    if kind == "huge":
                        return self.send(200, b" " * (5 << 20), ctype)
                    if kind == "huge-nolength":
                        self.send_response(200)
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        chunk = b" " * 65536
                        for _ in range(80):
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.write(b"0\r\n\r\n")
                        return
                    if kind == "header-lies":
                        return self.send(200, GOOD_MAN, {**ctype, "Docker-Content-Digest": "sha256:" + "0" * 64})
                    if kind == "other-content" and ref.startswith("sha256:"):
                        return self.send(200, GOOD_MAN + b" ", ctype)
                    return self.send(200, GOOD_MAN, ctype)
                if p.startswith("/v2/r/blobs/"):
                    kind = outer.mode.get("blob", "good")
                    if kind == "redirect":
                        return self.send(307, b"", {"Location": f"http://localhost:{outer.port}/storage/blob"})
                    rng = self.headers.get("Range")
                    if kind == "wrong":
                        return self.send(200, BLOB[:-1] + b"!")
                    if kind == "drop" and not rng:
                        # announce everything, send a third, then hang up
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(BLOB)))
                        self.end_headers()
                        self.wfile.write(BLOB[:100_000])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    if rng and kind != "no-range":
                        start = int(rng.split("=")[1].rstrip("-"))
                        return self.send(206, BLOB[start:], {"Content-Range": f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}"})
                    return self.send(200, BLOB)
                if p == "/storage/blob":
                    return self.send(200, BLOB)
                return self.send(404, b'{"errors":[{"code":"NOT_FOUND","message":"nope"}]}')

            do_HEAD = do_GET

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.t = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.t.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def _server():
    s = Hostile()
    yield s
    s.stop()


@pytest.fixture
def srv(_server):
    _server.mode.clear()
    _server.log.clear()
    return _server


@pytest.fixture
def client(srv):
    c = RegistryClient(f"127.0.0.1:{srv.port}", credentials=None)
    yield c
    c.close()


def test_good_manifest(client):
    assert client.get_manifest("r", "latest")[2] == GOOD_D


@pytest.mark.parametrize("kind", ["huge", "huge-nolength"])
def test_manifest_size_capped(srv, client, kind):
    srv.mode["manifest"] = kind
    with pytest.raises(ImageError, match="larger than"):
        client.get_manifest("r", "latest")


def test_manifest_digest_header_mismatch(srv, client):
    srv.mode["manifest"] = "header-lies"
    with pytest.raises(ImageError, match="registry says"):
        client.get_manifest("r", "latest")


def test_manifest_by_digest_must_match(srv, client):
    srv.mode["manifest"] = "other-content"
    with pytest.raises(ImageError, match="has digest"):
        client.get_manifest("r", GOOD_D)


def test_bad_digest_in_request_refused(client, tmp_path):
    with pytest.raises(ImageError):
        client.fetch_blob("r", "sha256:../../etc/passwd", 1, ContentStore(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_blob_wrong_bytes(srv, client, tmp_path):
    srv.mode["blob"] = "wrong"
    store = ContentStore(tmp_path)
    with pytest.raises(ImageError, match="digest"):
        client.fetch_blob("r", BLOB_D, len(BLOB), store)
    assert store.list() == [] and store.partials() == []


def test_blob_dropped_connection_resumes_with_range(srv, client, tmp_path):
    srv.mode["blob"] = "drop"
    store = ContentStore(tmp_path)
    client.fetch_blob("r", BLOB_D, len(BLOB), store)
    assert store.verify(BLOB_D)
    ranges = [h.get("Range") for m, p, h in srv.log if p.startswith("/v2/r/blobs/")]
    assert ranges[0] is None and ranges[1] == "bytes=100000-"


def test_server_ignoring_range_restarts(srv, client, tmp_path):
    srv.mode["blob"] = "no-range"
    store = ContentStore(tmp_path)
    part = tmp_path / "ingest" / f"{BLOB_D[7:]}.partial"
    part.parent.mkdir()
    part.write_bytes(BLOB[:1000])
    client.fetch_blob("r", BLOB_D, len(BLOB), store)
    assert store.verify(BLOB_D)


def test_redirect_followed_without_credentials(srv, tmp_path):
    srv.mode["blob"] = "redirect"
    c = RegistryClient(f"127.0.0.1:{srv.port}", credentials=("u", "p"))
    c._basic = True  # as after a Basic challenge: credentials go with every registry request
    c.fetch_blob("r", BLOB_D, len(BLOB), ContentStore(tmp_path))
    reg = [h for m, p, h in srv.log if p.startswith("/v2/r/blobs/")]
    sto = [h for m, p, h in srv.log if p == "/storage/blob"]
    assert "Authorization" in reg[0]
    assert sto and "Authorization" not in sto[0]


def test_refused_connection_is_one_line_error(tmp_path):
    from pyctr.testing.registry import free_port

    c = RegistryClient(f"127.0.0.1:{free_port()}")
    with pytest.raises(ImageError, match="connection refused") as ei:
        c.get_manifest("r", "latest")
    assert "\n" not in str(ei.value)


def test_plain_http_only_for_local_or_insecure():
    assert RegistryClient("localhost:5000").scheme == "http"
    assert RegistryClient("127.0.0.1:5000").scheme == "http"
    assert RegistryClient("[::1]:5000").scheme == "http"
    assert RegistryClient("quay.io").scheme == "https"
    assert RegistryClient("docker.io").host == "registry-1.docker.io"
    assert RegistryClient("my.reg:5000", insecure=True).scheme == "http"


def test_parse_challenge():
    s, p = parse_challenge('Bearer realm="https://a/token",service="reg",scope="repository:x/y:pull,push"')
    assert s == "bearer" and p == {"realm": "https://a/token", "service": "reg", "scope": "repository:x/y:pull,push"}
    assert parse_challenge('Basic realm="r"') == ("basic", {"realm": "r"})


def test_credentials_file(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    f = tmp_path / "sub" / "auth.json"

    def load(registry):
        found = credentials.lookup(registry, f)
        return found and found.basic

    assert load("localhost:5000") is None
    credentials.save(f, "localhost:5000", "me", "p:w")
    credentials.save(f, "docker.io", "hub", "x")
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    assert load("localhost:5000") == ("me", "p:w")
    assert load("index.docker.io") == ("hub", "x")
    assert json.loads(f.read_text())["auths"]["localhost:5000"]["auth"]
    assert credentials.remove(f, "localhost:5000") is True
    assert credentials.remove(f, "localhost:5000") is False
    assert load("localhost:5000") is None
    assert load("docker.io") == ("hub", "x")
    assert [p.name for p in f.parent.iterdir()] == ["auth.json"]  # no temp files left


def test_parse_image_manifest():
    from pyctr.images.distribution import parse_diff_ids, parse_image_manifest

    d1, d2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    good = {"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d1,
                                           "size": 10},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": d2, "size": 5}]}
    m = parse_image_manifest(json.dumps(good).encode())
    assert m.config.digest == d1 and m.layers[0].size == 5
    for mutate in (
        lambda g: g["layers"][0].update(digest="sha256:../../x"),
        lambda g: g["layers"][0].update(size=-1),
        lambda g: g["layers"][0].update(size="5"),
        lambda g: g["layers"][0].update(mediaType="application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
        lambda g: g["config"].update(mediaType="application/vnd.cncf.helm.config.v1+json"),
        lambda g: g.update(schemaVersion=1),
        lambda g: g.update(layers={}),
    ):
        bad = json.loads(json.dumps(good))
        mutate(bad)
        with pytest.raises(ImageError):
            parse_image_manifest(json.dumps(bad).encode())
    assert parse_diff_ids(json.dumps({"rootfs": {"diff_ids": [d2]}}).encode(), 1) == [d2]
    with pytest.raises(ImageError):
        parse_diff_ids(json.dumps({"rootfs": {"diff_ids": [d2]}}).encode(), 2)
    with pytest.raises(ImageError):
        parse_diff_ids(json.dumps({"rootfs": {"diff_ids": ["sha256:zz"]}}).encode(), 1)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_honoured(srv, client, status):
    import time

    srv.mode["throttle"] = {"left": 1, "status": status, "after": "2"}
    t = time.monotonic()
    raw, _, _ = client.fetch_manifest("r", "latest")
    waited = time.monotonic() - t
    assert raw == GOOD_MAN
    assert 1.9 <= waited < 3.5, waited  # the back-off alone would have waited 0.5 s
    assert sum(1 for m, p, _ in srv.log if "/manifests/" in p) == 2


def test_retry_after_http_date(srv, client):
    import time
    from email.utils import formatdate

    srv.mode["throttle"] = {"left": 1, "status": 429, "after": formatdate(time.time() + 2, usegmt=True)}
    t = time.monotonic()
    assert client.fetch_manifest("r", "latest")[0] == GOOD_MAN
    assert 0.9 <= time.monotonic() - t < 3.5  # an HTTP date has whole seconds


def test_retry_after_too_long_fails_at_once(srv, client):
    import time

    srv.mode["throttle"] = {"left": 5, "status": 503, "after": "3600"}
    t = time.monotonic()
    with pytest.raises(ImageError, match="retry after 3600s"):
        client.fetch_manifest("r", "latest")
    assert time.monotonic() - t < 1


def test_retry_after_parsing():
    from pyctr.images.distribution import retry_after

    assert retry_after("") is None and retry_after("soon") is None
    assert retry_after("7") == 7.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0

