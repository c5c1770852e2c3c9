"""The build context (pyctr.build.context) and COPY's file handling (pyctr.build.copying) on
plain directories: selection, .dockerignore, links kept inside the context, owners and modes."""

import os
import stat

import pytest

from pyctr.build.context import Context, go_match
from pyctr.build.copying import Copier, Entry, checksum, destination, parse_chmod, parse_chown
from pyctr.build.errors import BuildError


@pytest.fixture
def ctx(tmp_path):
    root = tmp_path / "ctx"
    for rel, text in {"a.txt": "a", "b.txt": "b", "sub/c.txt": "c", "sub/d.log": "d", "logs/x.log": "x",
                      "logs/keep.log": "k"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    os.symlink("/etc", root / "hostile")  # absolute: must resolve inside the context
    os.symlink("../../", root / "sub/up")
    return root


def test_select_and_wildcards(ctx):
    c = Context(str(ctx))
    assert c.select("a.txt") == ["a.txt"]
    assert c.select("/a.txt") == ["a.txt"]  # a leading / is the context's root
    assert c.select("*.txt") == ["a.txt", "b.txt"]
    assert c.select("s?b/*.txt") == ["sub/c.txt"]
    assert c.select("[ab].txt") == ["a.txt", "b.txt"]
    with pytest.raises(BuildError, match="not found"):
        c.select("missing")
    with pytest.raises(BuildError, match="outside the build context"):
        c.select("../escape")


def test_links_resolve_inside_the_context(ctx):
    c = Context(str(ctx))
    assert c.host_path("hostile", follow_last=True) == str(ctx / "etc")
    assert c.host_path("sub/up/a.txt", follow_last=True) == str(ctx / "a.txt")
    assert c.lstat("hostile/passwd") is None  # the host's /etc/passwd is not reachable


def test_dockerignore_walk(ctx):
    c = Context(str(ctx), ["*.txt", "logs", "!logs/keep.log", "**/*.log"])
    assert c.excluded("a.txt") and not c.excluded("sub/c.txt")
    walked = [p for p, _ in c.walk("")]
    assert "a.txt" not in walked and "sub/c.txt" in walked and "sub/d.log" not in walked
    assert "logs" not in walked and "logs/x.log" not in walked
    # the last pattern (**/*.log) excludes keep.log again
    assert "logs/keep.log" not in walked
    c = Context(str(ctx), ["logs", "!logs/keep.log"])
    walked = [p for p, _ in c.walk("")]
    assert "logs/keep.log" in walked and "logs/x.log" not in walked and "logs" not in walked


def test_go_match():
    assert go_match("*.go", "main.go") and not go_match("*.go", "a/main.go")
    assert go_match("a/[^b]c", "a/xc") and not go_match("a/[^b]c", "a/bc")
    assert go_match("\\*", "*") and not go_match("\\*", "x")


def test_destination_rules():
    assert destination("rel", "/work") == ("/work/rel", False)
    assert destination("dir/", "/") == ("/dir", True)
    assert destination(".", "/app") == ("/app", True)
    assert destination("/a//b/../c", "/x") == ("/a/c", False)


def test_chmod_octal_and_symbolic():
    assert parse_chmod("640")(0o777, False) == 0o640
    assert parse_chmod("u+x,go-w")(0o666, False) == 0o744
    assert parse_chmod("a=rX")(0o700, True) == 0o555
    assert parse_chmod("a=rX")(0o600, False) == 0o444
    with pytest.raises(BuildError):
        parse_chmod("z+q")


def test_chown_names_from_the_target_root(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    (tmp_path / "etc/group").write_text("root:x:0:\nstaff:x:50:\n")
    assert parse_chown("app", str(tmp_path)) == (1000, 1000)  # a user alone: gid = uid
    assert parse_chown("app:staff", str(tmp_path)) == (1000, 50)
    assert parse_chown("7:8", str(tmp_path)) == (7, 8)
    with pytest.raises(BuildError, match="no such user"):
        parse_chown("ghost", str(tmp_path))
    with pytest.raises(BuildError, match="no such group"):
        parse_chown("app:ghosts", str(tmp_path))


def _entries(src):
    out = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for name in [""] if dirpath == str(src) else []:
            out.append(Entry(dirpath, "", os.lstat(dirpath)))
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            out.append(Entry(full, os.path.relpath(full, src), os.lstat(full)))
    return out


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_copier_owner_modes_times_and_links(tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d/f").write_text("data")
    os.chmod(src / "d/f", 0o751)
    os.link(src / "d/f", src / "d/hard")
    os.symlink("f", src / "d/link")
    os.utime(src / "d/f", (1_600_000_000, 1_600_000_000))
    target = tmp_path / "root"
    target.mkdir()
    (target / "etc").mkdir()
    os.symlink("/etc", target / "escape")  # a link in the image: the copy stays inside
    copier = Copier(str(target), (0, 0), None)
    base = copier.base("/escape/app")
    assert base == str(target / "etc/app")
    copier.copy(iter(_entries(src)), base)
    f = target / "etc/app/d/f"
    st = os.lstat(f)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)) == (0o751, 0, 0, 1_600_000_000)
    assert os.lstat(target / "etc/app/d/hard").st_ino == st.st_ino
    assert os.readlink(target / "etc/app/d/link") == "f"


def test_checksum_ignores_times_but_not_content_or_modes(tmp_path):
    f = tmp_path / "f"
    f.write_text("one")

    def digest():
        return checksum(iter([Entry(str(f), "f", os.lstat(f))]), (0, 0), None)

    first = digest()
    os.utime(f, (1, 1))
    assert digest() == first
    os.chmod(f, 0o600)
    assert digest() != first
    os.chmod(f, os.lstat(f).st_mode & 0o7777 | 0o044)
    f.write_text("two")
    assert digest() != first
