"""Measure the image building blocks against podman: fetch + verify + extract a 4-layer image.

Starts a local docker-registry, pushes a ~150 MB (unpacked) 4-layer image with
skopeo, then times, over several runs into fresh stores:
  * pyctr blocks: RegistryClient.fetch_blob (one thread per layer) into a
    ContentStore, then extract_layer_atomic per layer (threads, overlay mode,
    diff_id checked);
  * ``podman pull`` into a fresh --root (when podman is installed).
Prints medians. Usage: python benchmarks/pull_blocks.py [runs]
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pyctr.images.content import ContentStore
from pyctr.images.distribution import RegistryClient, parse_diff_ids, parse_image_manifest
from pyctr.layers.extract import extract_layer_atomic
from pyctr.testing.images import push_large_image
from pyctr.testing.registry import start_registry


def pyctr_pull(host: str, repo: str, tag: str, root: Path) -> None:
    c = RegistryClient(host)
    store = ContentStore(root / "content")
    raw, _, _ = c.get_manifest(repo, tag)
    man = parse_image_manifest(raw)
    c.fetch_blob(repo, man.config.digest, man.config.size, store)
    diff_ids = parse_diff_ids(store.read(man.config.digest), len(man.layers))
    (root / "layers").mkdir()

    def one(i: int) -> None:
        d = man.layers[i]
        cl = RegistryClient(host)  # one connection per worker
        cl.fetch_blob(repo, d.digest, d.size, store)
        with store.open(d.digest) as f:
            extract_layer_atomic(f, root / "layers" / diff_ids[i][7:], whiteouts="overlay", diff_id=diff_ids[i])

    with ThreadPoolExecutor(max_workers=len(man.layers)) as ex:
        list(ex.map(one, range(len(man.layers))))


def podman_pull(host: str, repo: str, tag: str, root: Path) -> None:
    subprocess.run(["podman", "--root", str(root / "storage"), "--runroot", str(root / "run"),
                    "--storage-driver", "overlay", "pull", "-q", "--tls-verify=false", f"{host}/{repo}:{tag}"],
                   check=True, capture_output=True)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    reg = start_registry("none")
    work = tempfile.TemporaryDirectory(prefix="pyctr-img-bench-push-")
    try:
        im = push_large_image(reg, workdir=work.name)
        print(json.dumps({"layers": len(im.layers), "unpacked_mb": round(sum(len(la.tar) for la in im.layers) / 2**20, 1),
                          "compressed_mb": round(sum(la.size for la in im.layers) / 2**20, 1)}))
        results: dict[str, list[float]] = {"pyctr-blocks": []}
        if shutil.which("podman"):
            results["podman"] = []
        for _ in range(runs):
            for name in results:
                root = Path(tempfile.mkdtemp(prefix=f"pyctr-img-bench-{name}-", dir="/var/tmp"))
                try:
                    t = time.perf_counter()
                    (pyctr_pull if name == "pyctr-blocks" else podman_pull)(reg.host, im.repository, im.tag, root)
                    results[name].append(time.perf_counter() - t)
                finally:
                    if name == "podman":
                        subprocess.run(["podman", "--root", str(root / "storage"), "--runroot", str(root / "run"),
                                        "--storage-driver", "overlay", "system", "reset", "-f"], capture_output=True)
                        subprocess.run(["umount", "-R", str(root / "storage" / "overlay")], capture_output=True)
                    shutil.rmtree(root, ignore_errors=True)
        for name, vals in results.items():
            print(f"{name}: median {statistics.median(vals):.2f}s runs={[round(v, 2) for v in vals]}")
        if "podman" in results:
            print(f"ratio pyctr/podman: {statistics.median(results['pyctr-blocks']) / statistics.median(results['podman']):.2f}")
    finally:
        reg.stop()
        work.cleanup()


if __name__ == "__main__":
    main()
