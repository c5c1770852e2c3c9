"""(This directory is "builder", not "build": pytest never collects a directory named build.)

pyctr build against a reference builder (podman build, i.e. buildah) on the corpus in
build_corpus/: every case is built by both from the same context on the same base image,
and the image configs (what the Dockerfile decides) and the root filesystem trees after
all layers (type, mode, owner, size, content, link target, xattrs, mtimes of what came
from the context) must match, apart from the intended differences listed in
INTENDED below (and in a case's case.json).

podman 4.3.1 (buildah 1.28) is the reference here; it predates heredocs, COPY --link,
--parents, --exclude and ADD --checksum, which tests/integration/test_build.py checks
against BuildKit's documented behaviour instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from pyctr.testing.imagetree import apply_layers, compare_trees, config_view, link_groups, read_docker_archive

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.build_compare]

CORPUS = Path(__file__).parent / "build_corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "Dockerfile").exists())
OLD = 1_600_000_000  # context files get this mtime, so COPY's mtimes can be compared
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: differences between pyctr (BuildKit's semantics) and buildah 1.28, on purpose
INTENDED = {
    "run-dir": "buildah leaves an empty /run in every RUN layer (its own mount point); pyctr removes "
               "the mount points its runtime made (as BuildKit does)",
    "volume-dirs": "buildah mounts VOLUME paths during later RUNs and leaves their empty directories in the "
                   "layer (Docker's classic builder too); BuildKit and pyctr do not create them",
    "expose-ranges": "EXPOSE 8000-8002 is three ports in Docker's config; buildah 1.28 keeps the range as one key",
    "env-order": "ENV of a variable that is already set replaces it in place (BuildKit's addEnv); buildah moves it "
                 "to the end: Env is compared as a mapping",
}
# per case, case.json's "intended" lists more, each with the value pyctr must have (BuildKit's)


def _podman_cmd(base: Path) -> list[str]:
    return ["podman", "--root", str(base / "root"), "--runroot", str(base / "run"), "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs", "--events-backend", "none", "--runtime", "runc"]


@pytest.fixture(scope="module")
def base_tar(busybox_rootfs, tmp_path_factory) -> Path:
    """The base image as a tar both builders import: busybox with PATH and CMD set."""
    if not shutil.which("podman"):
        pytest.skip("podman is not installed (the reference builder)")
    out = tmp_path_factory.mktemp("base") / "busybox.tar"
    subprocess.run(["tar", "--sort=name", f"--mtime=@{OLD}", "--owner=0", "--group=0", "--numeric-owner",
                    "-C", str(busybox_rootfs), "-cf", str(out), "."], check=True)
    return out


@pytest.fixture(scope="module")
def podman(base_tar):
    """A private podman root (short runroot: podman wants it under 50 characters) with the base."""
    base = Path(tempfile.mkdtemp(prefix="pbc-"))
    cmd = _podman_cmd(base)
    subprocess.run(cmd + ["import", "--change", 'CMD ["sh"]', "--change", f"ENV PATH={DEFAULT_PATH}",
                          str(base_tar), "localhost/busybox:latest"], check=True, capture_output=True, timeout=300)
    yield cmd
    subprocess.run(cmd + ["system", "reset", "-f"], capture_output=True, timeout=300)
    subprocess.run(["umount", "-R", str(base / "root")], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def pyctr_root(tmp_path_factory, base_tar):
    from tests.conftest import Pyctr

    p = Pyctr(tmp_path_factory.mktemp("pyctr"))
    p("import", "--change", 'CMD ["sh"]', "--change", f"ENV PATH={DEFAULT_PATH}", str(base_tar), "busybox",
      check=True)
    return p


def _context(case: str, dest: Path) -> tuple[Path, dict]:
    src = CORPUS / case
    meta = json.loads((src / "case.json").read_text()) if (src / "case.json").exists() else {}
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns("case.json"))
    for command in meta.get("setup", []):
        subprocess.run(command, shell=True, cwd=dest, check=True)
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (OLD, OLD), follow_symlinks=False)
    os.utime(dest, (OLD, OLD))
    return dest, meta


def _build_args(meta: dict) -> list[str]:
    args = []
    for key, value in meta.get("build_args", {}).items():
        args += ["--build-arg", f"{key}={value}"]
    if meta.get("target"):
        args += ["--target", meta["target"]]
    return args


def _expand_ranges(ports: dict | None) -> dict | None:
    if not ports:
        return ports
    out = {}
    for key in ports:
        port, _, proto = key.partition("/")
        lo, _, hi = port.partition("-")
        for n in range(int(lo), int(hi or lo) + 1):
            out[f"{n}/{proto}"] = {}
    return out


@pytest.mark.parametrize("case", CASES)
def test_same_image_as_the_reference_builder(case, podman, pyctr_root, tmp_path):
    ctx, meta = _context(case, tmp_path / "ctx")
    since = int(time.time()) - 1
    extra = _build_args(meta)

    ref = subprocess.run(podman + ["build", "--format", "docker", "--network", "host", "--layers", "-t",
                                   f"localhost/case-{case}"] + extra + [str(ctx)],
                         capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, f"the reference builder failed: {ref.stdout[-2000:]}{ref.stderr[-2000:]}"
    subprocess.run(podman + ["save", "--format", "docker-archive", "-o", str(tmp_path / "ref.tar"),
                             f"localhost/case-{case}"], check=True, capture_output=True, timeout=300)
    ours = pyctr_root("build", "-t", f"case-{case}", *extra, str(ctx), timeout=600)
    assert ours.returncode == 0, f"pyctr build failed: {ours.stdout[-3000:]}{ours.stderr[-2000:]}"
    pyctr_root("save", "-o", str(tmp_path / "ours.tar"), f"case-{case}", check=True)

    ref_config, ref_layers = read_docker_archive(str(tmp_path / "ref.tar"))
    our_config, our_layers = read_docker_archive(str(tmp_path / "ours.tar"))

    want, got = config_view(ref_config), config_view(our_config)
    want["ExposedPorts"] = _expand_ranges(want["ExposedPorts"])  # INTENDED["expose-ranges"]
    skip_tree: dict[str, set[str]] = {}
    for diff in meta.get("intended", []):
        kind, _, what = diff["what"].partition(":")
        if kind == "config":
            assert got[what] == diff["expect"], f"{what}: {got[what]!r} ({diff['why']})"
            want[what] = got[what]
        else:
            path, _, key = what.rpartition(":")
            skip_tree.setdefault(path, set()).add(key)
    env_want, env_got = want.pop("Env") or [], got.pop("Env") or []
    assert dict(e.split("=", 1) for e in env_got) == dict(e.split("=", 1) for e in env_want)  # INTENDED["env-order"]
    assert got == want

    ref_tree, our_tree = apply_layers(ref_layers), apply_layers(our_layers)
    ignore = set(meta.get("ignore", []))
    volumes = (ref_config.get("config") or {}).get("Volumes") or {}
    for path, entry in ref_tree.items():
        empty_dir = entry["type"] == "dir" and not any(p.startswith(path + "/") for p in ref_tree)
        if empty_dir and path not in our_tree and (path == "run" or "/" + path in volumes
                                                   or any(v.startswith("/" + path + "/") for v in volumes)):
            ignore.add(path)  # INTENDED["run-dir"], INTENDED["volume-dirs"]
    for diff in meta.get("intended", []):
        kind, _, what = diff["what"].partition(":")
        if kind == "tree":
            path, _, key = what.rpartition(":")
            assert our_tree[path][key] == diff["expect"], f"{path} {key}: {our_tree[path][key]!r} ({diff['why']})"
    problems = [p for p in compare_trees(our_tree, ref_tree, since=since, ignore=ignore)
                if not any(p.startswith(f"/{path}: {key} ") for path, keys in skip_tree.items() for key in keys)]
    assert not problems, "\n".join(problems[:40])
    assert link_groups(our_tree) == link_groups(ref_tree)
