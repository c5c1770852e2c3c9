"""commit, diff, export and cp on real containers; cp against hostile links that point out
of the container (checked independently: the victim files on the host are read back)."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile

import pytest

from tests.conftest import PYCTR

pytestmark = pytest.mark.root


@pytest.fixture
def changed(busybox):
    """A stopped container that added, changed and deleted files."""
    busybox("run", "--name", "ch", "--network", "none", "busybox", "sh", "-c",
            "echo new > /new && echo 'x:x:1:1::/:/bin/sh' >> /etc/passwd && rm /bin/ls && mkdir -p /d/e "
            "&& echo deep > /d/e/f", check=True)
    yield busybox
    busybox("rm", "-f", "ch")


def test_diff_lists_what_changed_and_not_the_runtime_mount_points(changed):
    out = changed("diff", "ch", check=True).stdout.splitlines()
    assert "A /new" in out and "C /etc/passwd" in out and "D /bin/ls" in out and "A /d/e/f" in out
    assert "C /etc" in out and "C /bin" in out
    assert not any(p in line for line in out for p in ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/proc",
                                                       "/sys", "/dev"))


def test_commit_makes_an_image_with_the_changes(changed):
    image = changed("commit", "-c", 'CMD ["cat", "/new"]', "-m", "saved", "-a", "me", "ch", "committed:1",
                    check=True).stdout.strip()
    assert image.startswith("sha256:")
    assert changed("run", "--rm", "--network", "none", "committed:1", check=True).stdout == "new\n"
    r = changed("run", "--rm", "--network", "none", "committed:1", "ls", "/bin/ls")
    assert r.returncode != 0
    history = changed("history", "--format", "{{.Comment}}", "committed:1", check=True).stdout.splitlines()
    assert history[0] == "saved"
    import json

    config = json.loads((changed.root / "blobs/sha256" / image[7:]).read_bytes())
    assert config["author"] == "me" and config["config"]["Cmd"] == ["cat", "/new"]
    r = changed("commit", "-c", "RUN echo no", "ch")
    assert r.returncode == 125 and "not a valid change command" in r.stderr


def test_export_is_the_merged_filesystem(changed, tmp_path):
    out = tmp_path / "export.tar"
    changed("export", "-o", str(out), "ch", check=True)
    with tarfile.open(out) as tf:
        names = set(tf.getnames())
        assert tf.extractfile("new").read() == b"new\n"
    assert "bin/busybox" in names and "bin/ls" not in names and "d/e/f" in names


def test_cp_both_ways(changed, tmp_path):
    changed("cp", "ch:/new", str(tmp_path / "new"), check=True)
    assert (tmp_path / "new").read_text() == "new\n"
    changed("cp", "ch:/d", str(tmp_path / "dcopy"), check=True)
    assert (tmp_path / "dcopy/e/f").read_text() == "deep\n"
    r = subprocess.run(PYCTR + ["cp", "ch:/d/e", "-"], capture_output=True, env=changed.env, timeout=60)
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
        assert tf.getnames() == ["e", "e/f"]
    (tmp_path / "in.txt").write_text("into the container\n")
    os.chown(tmp_path / "in.txt", 1234, 1234)
    changed("cp", str(tmp_path / "in.txt"), "ch:/d/", check=True)
    changed("cp", "-a", str(tmp_path / "in.txt"), "ch:/kept-owner.txt", check=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("from-stdin.txt")
        ti.size = 3
        tf.addfile(ti, io.BytesIO(b"tar"))
    r = subprocess.run(PYCTR + ["cp", "-", "ch:/d"], input=buf.getvalue(), capture_output=True, env=changed.env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    out = changed("run", "--rm", "--network", "none", "busybox", "true", check=True)
    del out
    changed("export", "-o", str(tmp_path / "after.tar"), "ch", check=True)
    with tarfile.open(tmp_path / "after.tar") as tf:
        m = tf.getmember("d/in.txt")
        assert (m.uid, m.gid) == (0, 0)
        assert tf.extractfile(m).read() == b"into the container\n"
        assert (tf.getmember("kept-owner.txt").uid, tf.getmember("kept-owner.txt").gid) == (1234, 1234)
        assert tf.extractfile("d/from-stdin.txt").read() == b"tar"
    r = changed("cp", "ch:/no/such", str(tmp_path / "x"))
    assert r.returncode != 0 and "Could not find" in r.stderr


def test_cp_never_follows_a_container_link_onto_the_host(busybox, tmp_path):
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    victim = victim_dir / "secret"
    victim.write_text("host secret\n")
    before = (victim.read_bytes(), os.stat(victim).st_mtime_ns, sorted(os.listdir(victim_dir)))
    # links that would point at the victim if they were followed on the host
    busybox("run", "--name", "evil", "--network", "none", "busybox", "sh", "-c",
            f"ln -s {victim} /abs && ln -s ../../../../../../../../{str(victim)[1:]} /rel "
            f"&& ln -s {victim_dir} /absdir && ln -s / /root-link && mkdir -p {victim_dir} "
            f"&& echo container > {victim}", check=True)
    try:
        # reading through the links gives the container's files, never the host's
        for link in ("/abs", "/rel", "/absdir/secret", "/root-link" + str(victim)):
            out = tmp_path / "out"
            if out.exists():
                out.unlink()
            r = busybox("cp", "-L", f"evil:{link}", str(out))
            assert r.returncode == 0, r.stderr
            assert out.read_text() == "container\n", link
        # writing through them lands inside the container
        (tmp_path / "payload").write_text("payload\n")
        for dest in ("/abs", "/rel", "/absdir/secret", "/absdir/", "/root-link" + str(victim_dir) + "/new"):
            r = busybox("cp", str(tmp_path / "payload"), f"evil:{dest}")
            assert r.returncode == 0, (dest, r.stderr)
        r = subprocess.run(PYCTR + ["cp", "-", "evil:/absdir"], input=_tar_with("../../escaped", b"x"),
                           capture_output=True, env=busybox.env, timeout=60)
        assert r.returncode != 0  # a name climbing out of the destination is refused
        assert (victim.read_bytes(), os.stat(victim).st_mtime_ns, sorted(os.listdir(victim_dir))) == before
        assert not (tmp_path / "escaped").exists()
        inside = busybox("export", "-o", str(tmp_path / "evil.tar"), "evil")
        assert inside.returncode == 0
        with tarfile.open(tmp_path / "evil.tar") as tf:
            assert tf.extractfile(str(victim)[1:]).read() == b"payload\n"
    finally:
        busybox("rm", "-f", "evil")


def _tar_with(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_cp_into_a_running_container(busybox, tmp_path):
    busybox("run", "-d", "--name", "live", "--network", "none", "busybox", "sleep", "60", check=True)
    try:
        (tmp_path / "f").write_text("live\n")
        busybox("cp", str(tmp_path / "f"), "live:/tmp/f", check=True)
        assert busybox("exec", "live", "cat", "/tmp/f", check=True).stdout == "live\n"
        busybox("exec", "live", "sh", "-c", "echo back > /tmp/g", check=True)
        busybox("cp", "live:/tmp/g", str(tmp_path / "g"), check=True)
        assert (tmp_path / "g").read_text() == "back\n"
    finally:
        busybox("rm", "-f", "live")
