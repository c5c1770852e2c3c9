"""Proxy selection (Go's net/http rules, which Docker follows), certs.d, and platforms."""

from __future__ import annotations

import os

import pytest

from pyctr.core.errors import ImageError, UsageError
from pyctr.images import platforms
from pyctr.images.transport import certs_for, proxy_for


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_no_proxy_without_environment(clean_env):
    assert proxy_for("https", "reg.example") is None


def test_scheme_picks_the_variable_and_upper_case_wins(clean_env):
    clean_env.setenv("HTTPS_PROXY", "http://upper:3128")
    clean_env.setenv("https_proxy", "http://lower:3128")
    clean_env.setenv("http_proxy", "plain:8080")
    assert proxy_for("https", "reg.example").netloc == "upper:3128"
    p = proxy_for("http", "reg.example:5000")
    assert (p.host, p.port, p.authorization) == ("plain", 8080, "")


def test_proxy_credentials_become_proxy_authorization(clean_env):
    clean_env.setenv("HTTPS_PROXY", "http://me:p%40ss@proxy:3128")
    import base64

    assert proxy_for("https", "r.example").authorization == "Basic " + base64.b64encode(b"me:p@ss").decode()


@pytest.mark.parametrize("no_proxy,host,bypass", [
    ("*", "anything.example", True),
    ("example.com", "example.com", True),
    ("example.com", "reg.example.com", True),
    (".example.com", "reg.example.com", True),
    (".example.com", "example.com", False),
    ("example.com", "notexample.com", False),
    ("reg.example:5000", "reg.example:5000", True),
    ("reg.example:5000", "reg.example:5001", False),
    ("10.0.0.0/8", "10.1.2.3:5000", True),
    ("10.0.0.0/8", "11.1.2.3", False),
    (" a.example , b.example ", "b.example", True),
])
def test_no_proxy(clean_env, no_proxy, host, bypass):
    clean_env.setenv("HTTPS_PROXY", "http://proxy:3128")
    clean_env.setenv("NO_PROXY", no_proxy)
    assert (proxy_for("https", host) is None) is bypass


@pytest.mark.parametrize("host", ["localhost:5000", "127.0.0.1:5000", "127.3.2.1", "[::1]:5000"])
def test_loopback_is_never_proxied(clean_env, host):
    clean_env.setenv("HTTPS_PROXY", "http://proxy:3128")
    clean_env.setenv("HTTP_PROXY", "http://proxy:3128")
    assert proxy_for("https", host) is None and proxy_for("http", host) is None


def test_bad_proxy_url(clean_env):
    clean_env.setenv("HTTPS_PROXY", "socks5://proxy:1080")
    with pytest.raises(ImageError, match="unsupported proxy URL"):
        proxy_for("https", "r.example")


def test_certs_d_layout(tmp_path):
    d1, d2 = tmp_path / "docker", tmp_path / "containers"
    (d1 / "reg.example:5000").mkdir(parents=True)
    (d2 / "reg.example:5000").mkdir(parents=True)
    (d1 / "reg.example:5000" / "ca.crt").write_text("x")
    (d2 / "reg.example:5000" / "client.cert").write_text("x")
    (d2 / "reg.example:5000" / "client.key").write_text("x")
    (d2 / "reg.example:5000" / "README").write_text("ignored")
    c = certs_for("reg.example:5000", [d1, d2, tmp_path / "missing"])
    assert c.cas == (d1 / "reg.example:5000" / "ca.crt",)
    assert c.client_pairs == ((d2 / "reg.example:5000" / "client.cert", d2 / "reg.example:5000" / "client.key"),)
    assert not certs_for("other.example", [d1, d2])
    assert not certs_for("../etc", [d1])
    os.unlink(d2 / "reg.example:5000" / "client.key")
    with pytest.raises(ImageError, match="has no key client.key"):
        certs_for("reg.example:5000", [d2])


@pytest.mark.parametrize("given,want", [
    ("linux/amd64", "linux/amd64"), ("amd64", "linux/amd64"), ("linux/x86_64", "linux/amd64"),
    ("linux/aarch64", "linux/arm64"), ("linux/arm64/v8", "linux/arm64"), ("linux/arm", "linux/arm/v7"),
    ("linux/armhf", "linux/arm/v7"), ("linux/arm/v6", "linux/arm/v6"), ("LINUX/ARM64", "linux/arm64"),
    ("windows/amd64", "windows/amd64"),
])
def test_platform_normalize(given, want):
    assert platforms.normalize(given) == want


def test_platform_default_is_the_host():
    machine = os.uname().machine
    want = {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}.get(machine)
    if want:
        assert platforms.host() == want
    assert platforms.normalize(None) == platforms.host()
    with pytest.raises(UsageError):
        platforms.normalize("linux//")
    with pytest.raises(UsageError):
        platforms.normalize("a/b/c/d")


def test_platform_matches():
    m = platforms.matches
    assert m({"platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}, "linux/arm64")
    assert m({"platform": {"os": "linux", "architecture": "arm64"}}, "linux/arm64/v8")
    assert m({"platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}, "linux/arm")
    assert not m({"platform": {"os": "linux", "architecture": "arm", "variant": "v6"}}, "linux/arm")
    assert m({"os": "linux", "architecture": "amd64"}, "linux/amd64")  # an image config
    assert not m({"platform": {"os": "linux", "architecture": "amd64"}}, "linux/arm64")
    assert not m({}, "linux/amd64")
