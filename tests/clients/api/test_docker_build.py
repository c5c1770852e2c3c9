"""docker build (the classic API, ``POST /build``) and compose's ``build:`` through
``pyctr system service``: what they build is what ``pyctr`` runs."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from pyctr.testing.service import Service, docker_clis

pytestmark = [pytest.mark.root, pytest.mark.skipif(not docker_clis(), reason="no docker CLI (Debian docker.io)")]

DOCKERFILE = """FROM busybox
ARG GREETING=hello
RUN echo "$GREETING from RUN" && echo "$GREETING" > /greeting
COPY msg.txt /msg.txt
CMD ["cat", "/greeting", "/msg.txt"]
"""


@pytest.fixture
def service(busybox, tmp_path):
    svc = Service(tmp_path, busybox.env).start()
    yield svc
    assert svc.stop() == 0, svc.log.read_text()


def _ctx(tmp_path, dockerfile=DOCKERFILE):
    ctx = tmp_path / "ctx"
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    (ctx / "msg.txt").write_text("from the context\n")
    return ctx


@pytest.mark.parametrize("cli", docker_clis(), ids=lambda p: "docker-" + p.split("/")[2])
def test_docker_build_classic_api(service, busybox, tmp_path, cli):
    env = dict(service.client_env(), DOCKER_BUILDKIT="0")
    ctx = _ctx(tmp_path)

    def docker(*args):
        return subprocess.run([cli, *args], capture_output=True, text=True, env=env, timeout=300)

    r = docker("build", "-t", "viaapi:1", "--build-arg", "GREETING=bonjour", str(ctx))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "bonjour from RUN" in r.stdout and "Successfully tagged viaapi:1" in r.stdout
    out = busybox("run", "--rm", "--network", "none", "viaapi:1", check=True).stdout
    assert out == "bonjour\nfrom the context\n"
    again = docker("build", "-q", "-t", "viaapi:1", "--build-arg", "GREETING=bonjour", str(ctx))
    assert again.returncode == 0 and again.stdout.strip().startswith("sha256:")
    assert busybox("inspect", "--format", "{{.Id}}", "viaapi:1", check=True).stdout.strip() == again.stdout.strip()
    bad = _ctx(tmp_path / "bad", "FROM busybox\nRUN echo about to fail && exit 7\n")
    r = docker("build", str(bad))
    assert r.returncode == 1
    assert "about to fail" in r.stdout and "returned a non-zero code: 7" in r.stderr + r.stdout
    assert busybox("ps", "-a", "-q").stdout == ""


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="no docker-compose")
def test_compose_build(service, busybox, tmp_path):
    ctx = _ctx(tmp_path)
    (tmp_path / "docker-compose.yml").write_text("version: '3'\nservices:\n  app:\n    build: ./ctx\n"
                                                 "    image: composed:1\n")
    env = dict(service.client_env(), DOCKER_BUILDKIT="0", COMPOSE_DOCKER_CLI_BUILD="0")
    r = subprocess.run(["docker-compose", "build"], cwd=tmp_path, capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    out = busybox("run", "--rm", "--network", "none", "composed:1", check=True).stdout
    assert out == "hello\nfrom the context\n"
    assert os.path.isdir(ctx)
