"""Processes killed with SIGKILL at random moments while fetching or unpacking.

After every kill: no blob in the store is incomplete (each listed blob
re-hashes to its name), no layer directory exists half-written under its final
name, and the next attempt completes (resuming the partial download).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from pyctr.core.trees import remove_tree
from pyctr.images.content import ContentStore
from pyctr.layers.extract import extract_layer_atomic, remove_stale_extractions
from pyctr.testing.images import large_layer, push_image

pytestmark = [pytest.mark.registry, pytest.mark.slow]

FETCH = """
import sys
from pyctr.images.content import ContentStore
from pyctr.images.distribution import RegistryClient
host, repo, digest, size, root = sys.argv[1:]
RegistryClient(host).fetch_blob(repo, digest, int(size), ContentStore(root))
"""

EXTRACT = """
import sys
from pyctr.layers.extract import extract_layer_atomic
blob, final, diff_id = sys.argv[1:]
with open(blob, "rb") as f:
    extract_layer_atomic(f, final, whiteouts="delete", diff_id=diff_id)
"""


def run_and_kill(args: list[str], delay: float) -> bool:
    """Start, SIGKILL after ``delay`` seconds; True if it finished first."""
    p = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        p.wait(timeout=delay)
        return p.returncode == 0
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        p.wait()
        return False


@pytest.fixture(scope="module")
def big_layer_image(registry, tmp_path_factory):
    layer = large_layer(7, 24 << 20, files=300)
    return push_image(registry, "pyctr/killme", "v1", [layer], workdir=tmp_path_factory.mktemp("killme"))


def test_fetch_killed_20_times(registry, big_layer_image, tmp_path):
    layer = big_layer_image.layers[0]
    root = tmp_path / "content"
    store = ContentStore(root)
    rnd = random.Random(1234)
    partial_sizes = []
    finished = False
    for _ in range(20):
        done = run_and_kill([FETCH, registry.host, "pyctr/killme", layer.digest, str(layer.size), str(root)],
                            rnd.uniform(0.05, 0.6))
        for d in store.list():
            assert store.verify(d), "a blob is visible with the wrong content"
        parts = store.partials()
        partial_sizes.append(parts[0].stat().st_size if parts else None)
        finished = finished or done
        if store.has(layer.digest):
            break
    # the next attempt completes
    subprocess.run([sys.executable, "-c", FETCH, registry.host, "pyctr/killme", layer.digest, str(layer.size),
                    str(root)], check=True, timeout=120)
    assert store.verify(layer.digest) and store.partials() == []
    grown = [s for s in partial_sizes if s]
    assert finished or grown == sorted(grown), f"partial did not grow across kills: {partial_sizes}"


def test_extract_killed_20_times(big_layer_image, tmp_path):
    layer = big_layer_image.layers[0]
    blob = tmp_path / "blob"
    blob.write_bytes(layer.blob)
    ref = tmp_path / "reference"
    with open(blob, "rb") as f:
        extract_layer_atomic(f, ref, whiteouts="delete")
    expected = sorted(os.path.relpath(os.path.join(d, n), ref) for d, ds, fs in os.walk(ref) for n in ds + fs)
    layers = tmp_path / "layers"
    layers.mkdir()
    # How long a whole extraction takes here and now (the machine's speed varies a lot): the
    # kills fall anywhere from just after the start to just before the end of one.
    started = time.monotonic()
    assert run_and_kill([EXTRACT, str(blob), str(layers / "timed"), layer.diff_id], 120)
    whole = time.monotonic() - started
    remove_tree(layers / "timed")
    rnd = random.Random(99)
    completed = 0
    for i in range(20):
        final = layers / f"l{i}"
        done = run_and_kill([EXTRACT, str(blob), str(final), layer.diff_id], rnd.uniform(0.1, 1.2) * whole)
        if final.exists():
            got = sorted(os.path.relpath(os.path.join(d, n), final) for d, ds, fs in os.walk(final) for n in ds + fs)
            assert got == expected, "a layer directory is visible half-written"
            completed += 1
        else:
            assert not done
    leftovers = sorted(p.name for p in layers.iterdir() if p.name.startswith("."))
    assert completed < 20, "no run was killed mid-extraction; the test proved nothing"
    stale = remove_stale_extractions(layers)
    assert sorted(p.name for p in stale) == leftovers
    assert all(not p.name.startswith(".") for p in layers.iterdir())
