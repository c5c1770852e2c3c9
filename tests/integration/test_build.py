"""pyctr build on a real kernel: RUN in pyctr containers, layers from overlay upper
directories, the content-keyed cache, bad input. (Reference-builder comparisons are in
tests/clients/builder/test_build_compare.py, run once in the clients leg.)"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.root


def _write(ctx: Path, files: dict[str, str]) -> Path:
    ctx.mkdir(parents=True, exist_ok=True)
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
    # one of the two names carries the data, the other is a hard link to it
    assert sorted((m.name, m.linkname) for m in run_layer if m.islnk()) in ([("a/b/hard", "hi")], [("hi", "a/b/hard")])
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
    ('FROM busybox\nENV A="${B:?must be set}"\n', "B: must be set"),
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


def test_heredocs_as_buildkit_documents_them(busybox, tmp_path):
    # (buildah 1.28, the comparison's reference, predates heredocs: BuildKit's documented behaviour)
    df = ('FROM busybox\nARG WHO=world\n'
          'RUN <<EOF\necho "hello $WHO" > /from-run\nEOF\n'
          'RUN <<-"EOT" sh\n\techo "$HOME stays" > /quoted\n\tEOT\n'
          'RUN <<EOF\n#!/bin/sh\necho script $0 > /script\nEOF\n'
          'COPY <<EOF /etc/motd\nhi $WHO\nEOF\n'
          'COPY <<"EOF" <<EOT2 /multi/\nno $WHO\nEOF\nsecond\nEOT2\n'
          'RUN cat <<EOF > /stdin-doc\nline\nEOF\n')
    ctx = _write(tmp_path / "ctx", {"Dockerfile": df})
    r = busybox("build", "-t", "heredoc", str(ctx))
    assert r.returncode == 0, r.stdout + r.stderr
    out = busybox("run", "--rm", "--network", "none", "heredoc", "sh", "-c",
                  "cat /from-run /quoted /script /etc/motd /multi/EOF /multi/EOT2 /stdin-doc", check=True).stdout
    assert out.splitlines() == ["hello world", "/root stays", "script /dev/pipes/EOF", "hi world", "no $WHO",
                                "second", "line"]
    assert "/dev/pipes" not in busybox("run", "--rm", "--network", "none", "heredoc", "ls", "/dev").stdout


def test_run_mounts_stay_out_of_the_layer(busybox, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cr3t\n")
    df = ("FROM busybox\n"
          "RUN --mount=type=cache,target=/cache echo run >> /cache/log && wc -l < /cache/log > /cache-lines\n"
          "RUN --mount=type=bind,source=data,target=/in cat /in/file > /copied-by-bind\n"
          "RUN --mount=type=secret,id=tok cat /run/secrets/tok > /leaked-on-purpose\n"
          "RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && ls /scratch > /tmpfs-was\n")
    ctx = _write(tmp_path / "ctx", {"Dockerfile": df, "data/file": "via bind\n"})
    r = busybox("build", "-t", "mounts", "--secret", f"id=tok,src={secret}", str(ctx))
    assert r.returncode == 0, r.stdout + r.stderr
    out = busybox("run", "--rm", "--network", "none", "mounts", "sh", "-c",
                  "cat /cache-lines /copied-by-bind /leaked-on-purpose /tmpfs-was; ls /cache /in /scratch /run/secrets",
                  check=False)
    lines = out.stdout.splitlines()
    assert lines[:4] == ["1", "via bind", "s3cr3t", "x"]
    assert "No such file" in out.stderr  # none of the mount points is in the image
    for layer in _layers(busybox, "mounts")[1:]:
        assert not any(m.name in ("cache", "in", "scratch", "run") or m.name.startswith(("cache/", "in/", "scratch/", "run/"))
                       for m in layer), layer
    # the cache mount's content is not an input: a rebuild with --no-cache sees it grow
    busybox("build", "-t", "mounts2", "--no-cache", "--secret", f"id=tok,src={secret}", str(ctx), check=True)
    assert busybox("run", "--rm", "--network", "none", "mounts2", "cat", "/cache-lines",
                   check=True).stdout == "2\n"


def test_onbuild_triggers_run_in_the_child(busybox, tmp_path):
    parent = _write(tmp_path / "parent", {"Dockerfile": "FROM busybox\nONBUILD COPY marker /marker\n"
                                                          "ONBUILD RUN echo triggered > /triggered\n"})
    busybox("build", "-t", "withtriggers", str(parent), check=True)
    child = _write(tmp_path / "child", {"Dockerfile": "FROM withtriggers\nCMD [\"cat\", \"/triggered\", \"/marker\"]\n",
                                        "marker": "from the child's context\n"})
    busybox("build", "-t", "child", str(child), check=True)
    out = busybox("run", "--rm", "--network", "none", "child", check=True).stdout
    assert out == "triggered\nfrom the child's context\n"
    assert busybox("inspect", "--format", "{{json .Config.OnBuild}}", "child", check=True).stdout.strip() in ("null", "[]")


def test_cache_from_an_image_and_builder_prune(busybox, tmp_path):
    ctx = _write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo slow > /slow\nCOPY f /f\n", "f": "f\n"})
    first = busybox("build", "-q", "-t", "cached:1", str(ctx), check=True).stdout.strip()
    pruned = busybox("builder", "prune", "-f", check=True).stdout
    assert "Total:" in pruned
    # the cache is gone, the image stays; --cache-from takes its steps from its history
    r = busybox("build", "--cache-from", "cached:1", "-t", "cached:2", str(ctx), check=True)
    assert r.stdout.count("Using cache") == 2, r.stdout
    assert busybox("inspect", "--format", "{{.Id}}", "cached:2", check=True).stdout.strip() == first
    busybox("rmi", "cached:1", "cached:2", check=True)
    busybox("builder", "prune", "-f", check=True)
    assert busybox("build", str(ctx), check=True).stdout.count("Using cache") == 0


@pytest.mark.registry
def test_pushed_to_a_registry_pulled_and_run_by_podman(busybox, tmp_path, registry):
    import shutil
    import subprocess
    import tempfile

    if not shutil.which("podman"):
        pytest.skip("podman is not installed")
    ctx = _write(tmp_path / "ctx", {"Dockerfile": SMALL, "f.txt": "hello\n"})
    ref = f"{registry.host}/built/small:1"
    busybox("build", "-t", ref, str(ctx), check=True)
    busybox("push", ref, check=True)
    base = tempfile.mkdtemp(prefix="pbp-")
    pod = ["podman", "--root", f"{base}/root", "--runroot", f"{base}/run", "--storage-driver", "vfs",
           "--cgroup-manager", "cgroupfs", "--events-backend", "none", "--runtime", "runc"]
    limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]  # (no CAP_SYS_RESOURCE here)
    try:
        subprocess.run(pod + ["pull", "--tls-verify=false", ref], check=True, capture_output=True, timeout=300)
        out = subprocess.run(pod + ["run", "--rm", "--network", "none", *limits, ref], capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        assert out.stdout == "hi\n"
        listed = subprocess.run(pod + ["run", "--rm", "--network", "none", *limits, ref, "sh", "-c",
                                       "cat /copied/f.txt; ls /etc/group 2>&1; echo $X"],
                                capture_output=True, text=True, timeout=300).stdout
        assert listed.splitlines()[0] == "hello" and "No such file" in listed and listed.splitlines()[-1] == "1"
    finally:
        subprocess.run(pod + ["system", "reset", "-f"], capture_output=True, timeout=300)
        subprocess.run(["umount", "-R", f"{base}/root"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_copy_exclude_and_parents(busybox, tmp_path):
    # (newer than buildah 1.28: BuildKit's documented behaviour, patterns as in .dockerignore)
    ctx = _write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY --exclude=*.md --exclude=sub/c.txt src /ex/\n"
                      "COPY --parents x/y/z/f /p/\nCOPY --parents ./x/./y/z /pivot/\n",
        "src/a.txt": "a", "src/b.md": "b", "src/sub/c.txt": "c", "src/sub/d.md": "d", "x/y/z/f": "f"})
    r = busybox("build", "-t", "exparents", str(ctx))
    assert r.returncode == 0, r.stdout + r.stderr
    out = busybox("run", "--rm", "--network", "none", "exparents", "sh", "-c",
                  "find /ex /p /pivot -type f | sort", check=True).stdout.split()
    assert out == ["/ex/a.txt", "/ex/sub/d.md", "/p/x/y/z/f", "/pivot/y/z/f"]


def test_context_with_a_socket_and_a_fifo(busybox, tmp_path):
    import socket

    ctx = _write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY special /special/\n", "special/file": "f"})
    os.mkfifo(ctx / "special/pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(ctx / "special/sock"))
    try:
        r = busybox("build", "-t", "special", str(ctx))
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        sock.close()
    names = {m.name: m for m in _layers(busybox, "special")[-1]}
    # as Docker's context: sockets are left out, a fifo is a fifo
    assert "special/sock" not in names and names["special/pipe"].isfifo() and names["special/file"].isreg()
