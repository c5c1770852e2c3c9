"""Docker's client conventions with the real CLI against Debian's docker-registry:
credentials from ~/.docker/config.json through a real docker-credential-* helper,
$REGISTRY_AUTH_FILE, a TLS registry whose CA and client certificate are in a
certs.d made with openssl, a CONNECT proxy on loopback, and registry mirrors.
"""

from __future__ import annotations

import base64
import json

import pytest

from pyctr.testing.credhelper import CredentialHelper
from pyctr.testing.images import build_busybox_rootfs, layer_from_dir, push_image
from pyctr.testing.proxy import Proxy
from pyctr.testing.registry import start_registry
from pyctr.testing.tls import make_pki

pytestmark = [pytest.mark.registry, pytest.mark.root]

FAKE_NAME = "registry.pyctr.test"  # resolvable only by the test proxy


@pytest.fixture(scope="module")
def base_layer(tmp_path_factory):
    return layer_from_dir(build_busybox_rootfs(tmp_path_factory.mktemp("conv-rootfs") / "rootfs"))


@pytest.fixture(scope="module")
def basic_reg(auth_registry, base_layer, tmp_path_factory):
    img = push_image(auth_registry, "conv/busybox", "v1", [base_layer], workdir=tmp_path_factory.mktemp("conv-b"))
    return auth_registry, img


@pytest.fixture(scope="module")
def tls_reg(base_layer, tmp_path_factory):
    pki = make_pki(tmp_path_factory.mktemp("pki"), dns=("localhost", FAKE_NAME), ips=("127.0.0.1",))
    reg = start_registry(pki=pki, client_certs=True, workdir=tmp_path_factory.mktemp("tlsreg"))
    try:
        img = push_image(reg, "conv/tls", "v1", [base_layer], workdir=tmp_path_factory.mktemp("conv-t"))
        yield reg, img
    finally:
        reg.stop()


@pytest.fixture
def helper(pyctr, tmp_path):
    h = CredentialHelper(tmp_path / "helper-bin")
    pyctr.env["PATH"] = h.path_env()
    pyctr.env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    (tmp_path / "docker-config").mkdir()
    return h


def docker_config(pyctr, doc):
    from pathlib import Path

    (Path(pyctr.env["DOCKER_CONFIG"]) / "config.json").write_text(json.dumps(doc))


def test_pull_authenticates_through_a_cred_helper_named_in_docker_config(pyctr, helper, basic_reg):
    reg, img = basic_reg
    assert pyctr("pull", "-q", img.ref).returncode == 125  # nothing anywhere yet
    helper.put(reg.host, reg.user, reg.password)
    docker_config(pyctr, {"credHelpers": {reg.host: helper.name}})
    r = pyctr("pull", "-q", img.ref)
    assert r.returncode == 0, r.stderr
    assert ["get", reg.host] in helper.calls()
    assert not (pyctr.root / "auth.json").exists()


def test_creds_store_with_a_token_registry(pyctr, helper, token_registry, base_layer, tmp_path):
    img = push_image(token_registry, "conv/tok", "v1", [base_layer], workdir=tmp_path)
    helper.put(token_registry.host, token_registry.user, token_registry.password)
    docker_config(pyctr, {"credsStore": helper.name})
    r = pyctr("pull", "-q", img.ref)
    assert r.returncode == 0, r.stderr


def test_identity_tokens_are_exchanged_with_oauth2_refresh_token_grant(pyctr, helper, token_registry, base_layer,
                                                                       tmp_path):
    """An ``identitytoken`` in config.json, or a helper's ``<token>`` user, is an OAuth2 refresh token:
    POSTed to the token server (grant_type=refresh_token), never sent as Basic credentials."""
    img = push_image(token_registry, "conv/idtok", "v1", [base_layer], workdir=tmp_path)
    tokens = token_registry.extra[0]
    identity = next(iter(tokens.refresh_tokens))
    docker_config(pyctr, {"auths": {token_registry.host: {"identitytoken": "not-" + identity}}})
    r = pyctr("pull", "-q", img.ref)
    assert r.returncode == 125 and r.stderr.count("\n") == 1 and "identity token was refused" in r.stderr, r.stderr

    mark = len(tokens.requests)
    docker_config(pyctr, {"auths": {token_registry.host: {"identitytoken": identity}}})
    r = pyctr("pull", "-q", img.ref)
    assert r.returncode == 0, r.stderr
    asked = tokens.requests[mark:]
    assert asked and all(a["method"] == "POST" and not a["auth"] for a in asked), asked
    form = asked[0]["form"]
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == identity
    assert form["service"] == tokens.service and form["scope"] == "repository:conv/idtok:pull"
    assert form["client_id"] and asked[0]["content_type"] == "application/x-www-form-urlencoded"

    pyctr("rmi", img.ref, check=True)
    mark = len(tokens.requests)
    helper.put(token_registry.host, "<token>", identity)
    docker_config(pyctr, {"credHelpers": {token_registry.host: helper.name}})
    r = pyctr("pull", "-q", img.ref)
    assert r.returncode == 0, r.stderr
    asked = tokens.requests[mark:]
    assert asked and all(a["method"] == "POST" and a["form"]["refresh_token"] == identity for a in asked)


def test_docker_config_auths_and_registry_auth_file(pyctr, helper, basic_reg, tmp_path):
    reg, img = basic_reg
    good = base64.b64encode(f"{reg.user}:{reg.password}".encode()).decode()
    docker_config(pyctr, {"auths": {f"https://{reg.host}": {"auth": good}}})
    assert pyctr("pull", "-q", img.ref).returncode == 0
    pyctr("rmi", img.ref, check=True)
    docker_config(pyctr, {})
    raf = tmp_path / "containers-auth.json"
    raf.write_text(json.dumps({"auths": {reg.host: {"auth": good}}}))
    pyctr.env["REGISTRY_AUTH_FILE"] = str(raf)
    r = pyctr("pull", "-q", img.ref)
    assert r.returncode == 0, r.stderr


def test_login_stores_through_the_helper_and_logout_erases(pyctr, helper, basic_reg):
    reg, img = basic_reg
    docker_config(pyctr, {"credsStore": helper.name})
    r = pyctr("login", "-u", reg.user, "--password-stdin", reg.host, input=reg.password + "\n")
    assert r.returncode == 0 and "Login Succeeded" in r.stdout, r.stderr
    assert helper.stored() == {reg.host: {"Username": reg.user, "Secret": reg.password}}
    assert not (pyctr.root / "auth.json").exists()
    assert pyctr("pull", "-q", img.ref).returncode == 0
    assert "Removing login credentials" in pyctr("logout", reg.host, check=True).stdout
    assert helper.stored() == {}


def test_tls_registry_with_ca_and_client_certificate_from_certs_d(pyctr, tls_reg, tmp_path):
    reg, img = tls_reg
    r = pyctr("pull", "-q", img.ref)
    # a loopback registry is spoken to over plain HTTP unless certs.d says otherwise
    assert r.returncode == 125 and "speaks HTTPS" in r.stderr and "Traceback" not in r.stderr
    certs = tmp_path / "certs.d"
    reg.pki.certs_d(certs, reg.host, client=False)
    pyctr.env["PYCTR_CERTS_DIRS"] = str(certs)
    r = pyctr("pull", "-q", img.ref)  # the CA is trusted now, but the registry wants a client certificate
    assert r.returncode == 125 and "Traceback" not in r.stderr, r.stderr
    reg.pki.certs_d(certs, reg.host, client=True)
    r = pyctr("pull", "-q", img.ref)
    assert r.returncode == 0, r.stderr
    assert "busybox-static" in pyctr("run", "--rm", img.ref, "cat", "/usr/share/doc/README", check=True).stdout


def test_pull_through_a_connect_proxy(pyctr, tls_reg, tmp_path):
    reg, img = tls_reg
    port = reg.host.rsplit(":", 1)[1]
    name = f"{FAKE_NAME}:{port}"
    ref = img.ref.replace(reg.host, name)
    pyctr.env["PYCTR_CERTS_DIRS"] = str(reg.pki.certs_d(tmp_path / "certs.d", name))
    proxy = Proxy(hosts={FAKE_NAME: "127.0.0.1"}, credentials=("proxyuser", "proxy pw")).start()
    try:
        r = pyctr("pull", "-q", ref)  # no proxy: the name does not resolve
        assert r.returncode == 125 and "Traceback" not in r.stderr
        pyctr.env["HTTPS_PROXY"] = proxy.url.replace("proxy pw", "proxy%20pw")
        r = pyctr("pull", "-q", ref)
        assert r.returncode == 0, r.stderr
        assert any(line.startswith(f"CONNECT {name} HTTP/") for line in proxy.requests), proxy.requests
        pyctr.env["NO_PROXY"] = f".pyctr.test,{FAKE_NAME}"
        assert pyctr("pull", "-q", ref).returncode == 125
        pyctr.env.pop("NO_PROXY")
        pyctr.env["HTTPS_PROXY"] = f"http://proxyuser:wrong@127.0.0.1:{proxy.port}"
        r = pyctr("pull", "-q", ref)
        assert r.returncode == 125 and "407" in r.stderr, r.stderr
    finally:
        proxy.stop()


def test_plain_http_through_a_proxy(pyctr, registry_images):
    img = registry_images["busybox"]
    port = img.registry.rsplit(":", 1)[1]
    name = f"{FAKE_NAME}:{port}"
    proxy = Proxy(hosts={FAKE_NAME: "127.0.0.1"}).start()
    try:
        pyctr.env["HTTP_PROXY"] = proxy.url
        pyctr.env["PYCTR_INSECURE_REGISTRIES"] = name
        r = pyctr("pull", "-q", f"{name}/{img.repository}:{img.tag}")
        assert r.returncode == 0, r.stderr
        assert any(line.startswith(f"GET http://{name}/v2/") for line in proxy.requests), proxy.requests
    finally:
        proxy.stop()


def test_registry_mirror_serves_docker_hub_names(pyctr, registry, base_layer, tmp_path):
    img = push_image(registry, "library/pyctr-mirrored", "v1", [base_layer], workdir=tmp_path)
    # a dead mirror first: pyctr goes on to the next one; Docker Hub itself is never asked
    pyctr.env["PYCTR_REGISTRY_MIRRORS"] = f"http://127.0.0.1:1,http://{registry.host}"
    r = pyctr("pull", "pyctr-mirrored:v1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "docker.io/library/pyctr-mirrored:v1"
    out = pyctr("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout.split()
    assert "pyctr-mirrored:v1" in out
    assert img.manifest_digest in pyctr("inspect", "--format", "{{json .RepoDigests}}", "pyctr-mirrored:v1",
                                        check=True).stdout
