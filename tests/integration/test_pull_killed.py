"""``pyctr pull`` SIGKILLed at random points: never a listed image with missing layers; the next pull completes."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import time

import pytest

from pyctr.testing.images import push_large_image
from tests.conftest import PYCTR

pytestmark = [pytest.mark.registry, pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def kill_image(registry, tmp_path_factory):
    return push_large_image(registry, "img2/killpull", "v1", layers=4, unpacked_mb=32,
                            workdir=tmp_path_factory.mktemp("img2-killpull"))


def listed_images_are_whole(root) -> None:
    db = sqlite3.connect(root / "pyctr.db")
    try:
        for image_id, layers in db.execute("SELECT id, layers FROM images"):
            for layer_id in json.loads(layers):
                row = db.execute("SELECT complete FROM layers WHERE id = ?", (layer_id,)).fetchone()
                assert row and row[0] == 1, f"image {image_id[:19]} lists incomplete layer {layer_id[:12]}"
                link = root / "overlay2" / layer_id / "link"
                assert link.exists(), f"image {image_id[:19]} lists missing layer {layer_id[:12]}"
                assert (root / "overlay2" / "l" / link.read_text().strip()).is_symlink()
    finally:
        db.close()


def test_pull_killed_at_random_points(pyctr, kill_image):
    ref = kill_image.ref
    start = time.monotonic()
    pyctr("pull", "-q", ref, check=True, timeout=300)
    full = time.monotonic() - start
    pyctr("rmi", ref, check=True)
    rnd = random.Random(1234)
    finished = 0
    for _i in range(24):
        p = subprocess.Popen(PYCTR + ["pull", "-q", ref], env=pyctr.env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        try:
            p.wait(timeout=rnd.uniform(0.05, full * 1.1))
            finished += p.returncode == 0
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
        listed_images_are_whole(pyctr.root)
        out = pyctr("images", "-q", "--no-trunc", check=True).stdout.split()
        if out:
            pyctr("rmi", ref, check=True)  # start the next round from the layers a killed run left
        listed_images_are_whole(pyctr.root)
    assert finished < 24, "every pull finished before it could be killed"
    r = pyctr("pull", ref, check=True, timeout=300)
    assert "Status: Downloaded newer image" in r.stdout
    listed_images_are_whole(pyctr.root)
    layers = pyctr("inspect", "--format", "{{ range .RootFS.Layers }}{{.}}\n{{ end }}", ref, check=True).stdout
    assert layers.split() == kill_image.diff_ids
    check = pyctr("system", "check")
    assert check.returncode == 0 and check.stdout.strip() == "no problems found", check.stdout
