"""pyctr build on a real kernel: RUN in pyctr containers, layers from overlay upper
directories, the content-keyed cache, bad input. (Reference-builder comparisons are in
test_build_compare.py.)"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.root


def _write(ctx: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = ctx / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return ctx


def _layers(p, image: str) -> list[list[tarfile.TarInfo]]:
    """The members of each layer tar of ``image``, read from the content store."""
    image_id = p("inspect", "--format", "{{.Id}}", image, check=True).stdout.strip()
    config = json.loads((p.root / "blobs/sha256" / image_id[7:]).read_bytes())
    out = []
    for diff_id in config["rootfs"]["diff_ids"]:
        with tarfile.open(p.root / "blobs/sha256" / diff_id[7:]) as tf:
            out.append(tf.getmembers())
    return out


def _overlay_layers(p) -> set[str]:
    return {n for n in os.listdir(p.root / "overlay2") if n != "l"}


SMALL = """FROM busybox
RUN echo hi > /hi && rm /etc/group && mkdir -p /a/b && ln /hi /a/b/hard
COPY f.txt /copied/
ENV X=1
CMD ["cat", "/hi"]
"""


def test_small_build_runs_and_its_layers_hold_only_the_changes(busybox, tmp_path):
    ctx = _write(tmp_path / "ctx", {"Dockerfile": SMALL, "f.txt": "hello\n"})
    r = busybox("build", "-t", "small", str(ctx))
    assert r.returncode == 0, r.stderr
    assert "Successfully tagged small:latest" in r.stdout
    run = busybox("run", "--rm", "--network", "none", "small")
    assert run.stdout == "hi\n"
    base, run_layer, copy_layer = _layers(busybox, "small")
    names = {m.name: m for m in run_layer}
    # the runtime's mount points (/proc, /sys, /dev, /etc/hosts...) are not in the layer
    assert set(names) == {"a", "a/b", "a/b/hard", "etc", "etc/.wh.group", "hi"}
    assert names["hi"].islnk() and names["hi"].linkname == "a/b/hard"
    assert all(isinstance(m.mtime, int) or float(m.mtime).is_integer() for m in run_layer)
    assert not any(k.startswith("SCHILY.xattr.trusted.overlay") for m in run_layer for k in m.pax_headers)
    assert [m.name for m in copy_layer] == ["copied", "copied/f.txt"]
    f = copy_layer[1]
    assert (f.uid, f.gid, f.mode, f.size) == (0, 0, 0o644, 6)
    history = busybox("history", "--no-trunc", "--format", "{{.CreatedBy}}", "small", check=True).stdout
    assert "COPY file:" in history and "/bin/sh -c echo hi" in history


def test_cached_rebuild_reuses_every_step_and_gives_the_same_image(busybox, tmp_path):
    ctx = _write(tmp_path / "ctx", {"Dockerfile": SMALL, "f.txt": "hello\n"})
    first = busybox("build", "-q", str(ctx), check=True).stdout.strip()
    layers = _overlay_layers(busybox)
    again = busybox("build", str(ctx), check=True)
    assert again.stdout.count("Using cache") == 4
    assert busybox("build", "-q", str(ctx), check=True).stdout.strip() == first
    assert _overlay_layers(busybox) == layers
    # a touched file is still a hit; a changed one misses from its COPY on (the RUN before stays cached)
    os.utime(ctx / "f.txt", (1, 1))
    assert busybox("build", "-q", str(ctx), check=True).stdout.strip() == first
    (ctx / "f.txt").write_text("changed\n")
    changed = busybox("build", str(ctx), check=True).stdout
    steps = changed.split("Step ")
    assert "Using cache" in steps[2] and "Using cache" not in steps[3] and "Using cache" not in steps[4]
    assert busybox("build", "--no-cache", str(ctx), check=True).stdout.count("Using cache") == 0


def test_failing_run_says_so_and_leaves_nothing(busybox, tmp_path):
    ctx = _write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo partial > /p && echo out && exit 3\n"})
    layers = _overlay_layers(busybox)
    r = busybox("build", str(ctx))
    assert r.returncode == 1
    assert "out" in r.stdout
    assert "returned a non-zero code: 3" in r.stderr
    assert busybox("ps", "-a", "-q", check=True).stdout.strip() == ""
    assert _overlay_layers(busybox) == layers
    assert str(busybox.root) not in Path("/proc/self/mountinfo").read_text()


@pytest.mark.parametrize(("dockerfile", "message"), [
    ("FROM busybox\nRUN [1]\n", "Dockerfile:2: when using JSON array syntax"),
    ("FROM busybox\nBOGUS x\n", "Dockerfile:2: unknown instruction: BOGUS"),
    ("RUN echo\n", "no build stage"),
    ("FROM busybox\nCOPY ../outside /x\n", "forbidden path outside the build context"),
    ("FROM busybox\nCOPY missing /x\n", '"missing" not found'),
    ("FROM busybox\nENV A=${B:?must be set}\n", "B: must be set"),
    ("FROM busybox\nCOPY --bogus=1 a /x\n", "unknown flag: bogus"),
])
def test_bad_dockerfiles_fail_before_anything_runs(busybox, tmp_path, dockerfile, message):
    ctx = _write(tmp_path / "ctx", {"Dockerfile": dockerfile})
    r = busybox("build", str(ctx))
    assert r.returncode == 1, r.stdout
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert busybox("ps", "-a", "-q", check=True).stdout.strip() == ""


def test_dockerignore_and_a_link_out_of_the_context(busybox, tmp_path):
    ctx = _write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY . /ctx/\nCOPY hostile/passwd /stolen\n",
        ".dockerignore": "*.log\n!keep.log\n",
        "a.log": "no\n", "keep.log": "yes\n", "etc/passwd": "the context's own\n",
    })
    os.symlink("/etc", ctx / "hostile")  # resolves to the context's etc/, never the host's
    r = busybox("build", "-t", "ign", str(ctx))
    assert r.returncode == 0, r.stderr
    out = busybox("run", "--rm", "--network", "none", "ign", "sh", "-c",
                  "ls /ctx; cat /stolen", check=True).stdout
    assert "a.log" not in out and "keep.log" in out and "the context's own" in out


def test_build_args_targets_and_stdin(busybox, tmp_path):
    df = ("ARG BASE=busybox\nFROM $BASE AS one\nARG WHO=nobody\nRUN echo $WHO > /who\n"
          "FROM busybox\nCOPY --from=one /who /who\n")
    r = busybox("build", "-t", "args", "--build-arg", "WHO=world", "--build-arg", "UNUSED=1", "-f", "-",
                str(_write(tmp_path / "ctx", {})), input=df)
    assert r.returncode == 0, r.stderr
    assert "UNUSED" in r.stderr  # not consumed: a warning
    assert busybox("run", "--rm", "--network", "none", "args", "cat", "/who", check=True).stdout == "world\n"
    r = busybox("build", "-q", "--target", "one", "-f", "-", str(tmp_path / "ctx"), input=df)
    assert r.returncode == 0, r.stderr
    image = r.stdout.strip()
    assert busybox("run", "--rm", "--network", "none", image, "cat", "/who", check=True).stdout == "nobody\n"


def test_context_tar_on_stdin(busybox, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in {"Dockerfile": b"FROM busybox\nCOPY x /x\n", "x": b"from a tar\n"}.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    import subprocess

    from tests.conftest import PYCTR

    r = subprocess.run(PYCTR + ["build", "-t", "fromtar", "-"], input=buf.getvalue(), capture_output=True,
                       env=busybox.env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert busybox("run", "--rm", "--network", "none", "fromtar", "cat", "/x", check=True).stdout == "from a tar\n"


def test_reproducible_with_source_date_epoch(busybox, tmp_path):
    ctx = _write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo same > /same\nCOPY f /f\nCMD [\"sh\"]\n",
                                    "f": "f\n"})
    busybox.env["SOURCE_DATE_EPOCH"] = "1700000000"
    first = busybox("build", "-q", "--no-cache", str(ctx), check=True).stdout.strip()
    second = busybox("build", "-q", "--no-cache", str(ctx), check=True).stdout.strip()
    assert first == second
    config = json.loads((busybox.root / "blobs/sha256" / first[7:]).read_bytes())
    assert config["created"] == "2023-11-14T22:13:20Z"
