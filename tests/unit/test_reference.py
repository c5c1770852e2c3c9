"""Reference parsing against Docker's normalisation (distribution/reference tests)."""

from __future__ import annotations

import pytest

from pyctr.core.errors import UsageError
from pyctr.images.reference import parse

D = "sha256:" + "a" * 64

NORMALISED = [
    # input, str(ref), familiar, registry, repository, tag, digest
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox", "latest", None),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", "docker.io", "library/busybox", "1.36", None),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox", "latest", None),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox", "latest", None),
    ("docker.io/library/busybox:musl", "docker.io/library/busybox:musl", "busybox:musl", "docker.io", "library/busybox", "musl", None),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox", "latest", None),
    ("user/app", "docker.io/user/app:latest", "user/app:latest", "docker.io", "user/app", "latest", None),
    ("user/team/app:v1", "docker.io/user/team/app:v1", "user/team/app:v1", "docker.io", "user/team/app", "v1", None),
    ("localhost/x", "localhost/x:latest", "localhost/x:latest", "localhost", "x", "latest", None),
    ("localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest", "localhost:5000", "x", "latest", None),
    ("127.0.0.1:5000/a/b:t", "127.0.0.1:5000/a/b:t", "127.0.0.1:5000/a/b:t", "127.0.0.1:5000", "a/b", "t", None),
    ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest", "[::1]:5000", "x", "latest", None),
    ("quay.io/coreos/etcd:v3.5", "quay.io/coreos/etcd:v3.5", "quay.io/coreos/etcd:v3.5", "quay.io", "coreos/etcd", "v3.5", None),
    ("my-registry.example.com:8443/a_b/c.d__e-f", "my-registry.example.com:8443/a_b/c.d__e-f:latest",
     "my-registry.example.com:8443/a_b/c.d__e-f:latest", "my-registry.example.com:8443", "a_b/c.d__e-f", "latest", None),
    (f"busybox@{D}", f"docker.io/library/busybox@{D}", f"busybox@{D}", "docker.io", "library/busybox", None, D),
    (f"busybox:1@{D}", f"docker.io/library/busybox:1@{D}", f"busybox:1@{D}", "docker.io", "library/busybox", "1", D),
    (f"localhost:5000/x@{D}", f"localhost:5000/x@{D}", f"localhost:5000/x@{D}", "localhost:5000", "x", None, D),
    ("foo.com:8080/x", "foo.com:8080/x:latest", "foo.com:8080/x:latest", "foo.com:8080", "x", "latest", None),
]


@pytest.mark.parametrize("text,full,familiar,registry,repository,tag,digest", NORMALISED)
def test_normalisation(text, full, familiar, registry, repository, tag, digest):
    ref = parse(text)
    assert str(ref) == full
    assert ref.familiar == familiar
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert ref.name == f"{registry}/{repository}"
    # Parsing the full form again is a fixed point.
    assert parse(full) == ref


def test_api_host():
    assert parse("busybox").api_host == "registry-1.docker.io"
    assert parse("localhost:5000/x").api_host == "localhost:5000"
    assert parse("quay.io/a/b").api_host == "quay.io"


def test_reference_for_registry():
    assert parse("busybox").reference == "latest"
    assert parse(f"busybox:1@{D}").reference == D


INVALID = [
    "",
    "Busybox",
    "UPPER/case",
    "busybox:UPPER@sha256:xyz",
    "busybox@sha256:abc",
    "busybox@sha256:" + "A" * 64,
    "busybox@sha512:" + "a" * 128,
    "busybox@md5:" + "a" * 32,
    "a" * 64,
    ":tag",
    "a/",
    "/a",
    "x//y",
    "busybox:-x",
    "busybox:" + "t" * 129,
    "busy box",
    "-busybox",
    "busybox-",
    "localhost:5000/UP",
    "host:port:5000/x",
    "[::1/x",
    "a" * 256,
    "docker.io/" + "a/" * 130 + "b",
    "bad\x00name",
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid(text):
    with pytest.raises(UsageError) as ei:
        parse(text)
    assert "\n" not in str(ei.value)


def test_uppercase_message():
    with pytest.raises(UsageError, match="must be lowercase"):
        parse("Busybox")


def test_with_tag_and_digest():
    r = parse("busybox")
    assert str(r.with_tag("1.2")) == "docker.io/library/busybox:1.2"
    assert str(r.with_digest(D)) == f"docker.io/library/busybox@{D}"
    with pytest.raises(UsageError):
        r.with_digest("sha256:nothex")



@pytest.mark.parametrize(("path", "plain"), [
    ("library/busybox", True), ("a", True), ("x/y/z9", True), ("0", True),
    ("lib-rary/x", False), ("a__b", False), ("a.b", False), ("Library/busybox", False), ("a//b", False),
    ("/a", False), ("a/", False), ("", False), ("\u00e4/b", False), ("a--b", False), ("-a", False)])
def test_the_plain_path_shortcut_takes_only_what_the_grammar_accepts(path, plain):
    """parse() skips the path regex for components of [a-z0-9] only: those must all match it."""
    from pyctr.images import reference

    assert reference._plain_path(path) == plain
    if plain:
        assert reference._PATH_RE.match(path)
