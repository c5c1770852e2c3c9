"""Credentials where Docker and podman keep them, and the docker-credential-* helper protocol
(a real helper executable, pyctr.testing.credhelper, on a private $PATH)."""

from __future__ import annotations

import base64
import json

import pytest

from pyctr.core.errors import ImageError
from pyctr.images import credentials
from pyctr.testing.credhelper import CredentialHelper


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A private Docker config dir, no other source, and a helper on $PATH."""
    docker = tmp_path / "docker"
    docker.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    helper = CredentialHelper(tmp_path / "bin")
    monkeypatch.setenv("PATH", helper.path_env())

    class Env:
        config = docker / "config.json"
        own = tmp_path / "pyctr" / "auth.json"

        def write(self, doc):
            self.config.write_text(json.dumps(doc))

    e = Env()
    e.helper = helper
    return e


def test_docker_config_auths(env):
    env.write({"auths": {"https://reg.example:5000/v2/": {"auth": b64("u:p:w")},
                         "https://index.docker.io/v1/": {"auth": b64("hub:pw")}}})
    assert credentials.lookup("reg.example:5000", env.own).basic == ("u", "p:w")
    assert credentials.lookup("docker.io", env.own).basic == ("hub", "pw")
    assert credentials.lookup("other.example", env.own) is None


def test_identity_token(env):
    env.write({"auths": {"reg.example": {"auth": "", "identitytoken": "refresh-me"}}})
    c = credentials.lookup("reg.example", env.own)
    assert c.identity_token == "refresh-me" and c.basic is None


def test_cred_helpers_beat_creds_store_and_auths(env):
    second = CredentialHelper(env.helper.bindir, "other")
    env.helper.put("reg.example", "from-helper", "s1")
    second.put("reg.example", "from-store", "s2")
    second.put("https://index.docker.io/v1/", "hub-user", "s3")
    env.write({"credHelpers": {"reg.example": "pyctrtest"}, "credsStore": "other",
               "auths": {"reg.example": {"auth": b64("from-file:x")}}})
    assert credentials.lookup("reg.example", env.own).basic == ("from-helper", "s1")
    assert credentials.lookup("docker.io", env.own).basic == ("hub-user", "s3")  # credsStore, Hub's key
    assert ["get", "https://index.docker.io/v1/"] in second.calls()


def test_helper_token_username(env):
    env.helper.put("reg.example", "<token>", "an-identity-token")
    env.write({"credsStore": "pyctrtest"})
    c = credentials.lookup("reg.example", env.own)
    assert c.identity_token == "an-identity-token" and c.username == ""


def test_helper_not_found_falls_back_to_auths(env):
    env.write({"credsStore": "pyctrtest", "auths": {"reg.example": {"auth": b64("file:pw")}}})
    assert credentials.lookup("reg.example", env.own).basic == ("file", "pw")


def test_missing_or_broken_helper_is_one_clear_error(env, tmp_path):
    env.write({"credsStore": "nosuch"})
    with pytest.raises(ImageError, match="docker-credential-nosuch is not on"):
        credentials.lookup("reg.example", env.own)
    broken = env.helper.bindir / "docker-credential-broken"
    broken.write_text("#!/bin/sh\necho 'the keychain is locked' >&2\nexit 3\n")
    broken.chmod(0o755)
    env.write({"credsStore": "broken"})
    with pytest.raises(ImageError, match="docker-credential-broken get: the keychain is locked"):
        credentials.lookup("reg.example", env.own)
    env.write({"credsStore": "../../bin/sh"})
    with pytest.raises(ImageError, match="invalid credential helper"):
        credentials.lookup("reg.example", env.own)


def test_order_docker_then_registry_auth_file_then_containers_then_own(env, tmp_path, monkeypatch):
    raf = tmp_path / "raf.json"
    xdg = tmp_path / "xdg"
    (xdg / "containers").mkdir(parents=True)
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(raf))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    credentials.save(env.own, "r.example", "own", "1")
    assert credentials.lookup("r.example", env.own).username == "own"
    (xdg / "containers" / "auth.json").write_text(json.dumps({"auths": {"r.example": {"auth": b64("podman:2")}}}))
    assert credentials.lookup("r.example", env.own).username == "podman"
    raf.write_text(json.dumps({"auths": {"r.example": {"auth": b64("raf:3")}}}))
    assert credentials.lookup("r.example", env.own).username == "raf"
    env.write({"auths": {"r.example": {"auth": b64("docker:4")}}})
    assert credentials.lookup("r.example", env.own).username == "docker"
    assert credentials.sources(env.own) == [env.config, raf, xdg / "containers" / "auth.json", env.own]


def test_save_goes_through_the_helper_when_one_is_configured(env):
    env.write({"credHelpers": {"reg.example": "pyctrtest"}})
    assert credentials.save(env.own, "reg.example", "me", "pw") == "docker-credential-pyctrtest"
    assert env.helper.stored() == {"reg.example": {"Username": "me", "Secret": "pw"}}
    assert not env.own.exists()
    # a registry without a helper goes to pyctr's own file
    credentials.save(env.own, "plain.example", "me", "pw")
    assert json.loads(env.own.read_text())["auths"]["plain.example"]["auth"] == b64("me:pw")
    assert credentials.remove(env.own, "reg.example") is True
    assert env.helper.stored() == {}
    assert credentials.remove(env.own, "reg.example") is False
    assert ["erase", "reg.example"] in env.helper.calls()


def test_corrupt_files_are_one_line_errors(env):
    env.config.write_text("{not json")
    with pytest.raises(ImageError, match="not valid JSON"):
        credentials.lookup("x", env.own)
    env.write({"auths": {"x": {"auth": "!!!"}}})
    with pytest.raises(ImageError, match="corrupt"):
        credentials.lookup("x", env.own)
    env.write({"auths": {"x": {"auth": b64("no-colon")}}})
    with pytest.raises(ImageError, match="corrupt"):
        credentials.lookup("x", env.own)
