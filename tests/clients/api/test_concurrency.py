"""Fifty creates at once through docker-py (compose sends dozens): every one made, named as asked,
none lost to the store's locking; then fifty removals at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.root
docker = pytest.importorskip("docker")


def test_fifty_parallel_creates_and_removes(service, busybox):
    client = docker.DockerClient(base_url=service.uri, version="1.41", timeout=120, max_pool_size=64)
    names = [f"c{i:02d}" for i in range(50)]
    try:
        with ThreadPoolExecutor(max_workers=50) as pool:
            made = list(pool.map(lambda n: client.api.create_container("busybox", ["true"], name=n)["Id"], names))
        assert len(set(made)) == 50
        listed = {c["Names"][0].lstrip("/") for c in client.api.containers(all=True)}
        assert listed == set(names)
        assert sorted(busybox("ps", "-a", "--format", "{{.Names}}").stdout.split()) == names
        with ThreadPoolExecutor(max_workers=50) as pool:
            list(pool.map(lambda i: client.api.remove_container(i), made))
        assert client.api.containers(all=True) == []
    finally:
        for n in names:
            try:
                client.api.remove_container(n, force=True)
            except docker.errors.NotFound:
                pass
        client.close()
