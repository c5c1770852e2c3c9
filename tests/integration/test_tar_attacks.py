"""Hostile layers: nothing outside the layer root may change.

Cases follow containerd ``pkg/archive/tar_test.go`` TestBreakouts and moby
go-archive TestUntarInvalidFilenames / InvalidHardlink / InvalidSymlink /
SymlinkBreakout / SiblingPrefixContained / ParentTraversalContained /
HandleTarTypeBlockCharFifoDeviceRange, plus whiteout and opaque markers aimed
through symlinks. Every case runs in both whiteout modes.

The verdict does not trust the code under test: before extracting, every
path around the root (a victim tree, a sibling whose name shares the root's
prefix, files named by absolute path in the tar) is recorded with its type,
mode, owner, size, mtime, link target and sha256; afterwards the same walk
must give the same record. The layer may be refused (ImageError) or
extracted; either way the outside is byte-for-byte unchanged.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest

from pyctr.core.errors import ImageError
from pyctr.layers.extract import extract_layer
from pyctr.testing.tarbuild import entry as E
from pyctr.testing.tarbuild import tar_bytes

pytestmark = pytest.mark.root

if os.geteuid() != 0:  # pragma: no cover
    pytest.skip("the attack suite runs as root (mknod, chown, trusted xattrs)", allow_module_level=True)


def snapshot(base: Path, skip: Path) -> dict[str, tuple]:
    """Independent record of everything under ``base`` except the layer root itself."""
    out: dict[str, tuple] = {}
    for dirpath, dirs, files in os.walk(base, followlinks=False):
        if Path(dirpath) == skip:
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if Path(dirpath, d) != skip]
        for name in [*dirs, *files, "."]:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            digest = None
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            try:
                xattrs = tuple(sorted(os.listxattr(p, follow_symlinks=False)))
            except OSError:
                xattrs = ()
            out[os.path.relpath(p, base)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                                             st.st_gid, st.st_size, st.st_mtime_ns, st.st_nlink, link, digest,
                                             xattrs)
    return out


class Env:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.dest = base / "dest"
        self.victim = base / "victim"
        self.sibling = base / "dest-evil"
        self.siblingfoo = base / "destfoo"
        self.dest.mkdir()
        self.victim.mkdir()
        (self.victim / "hello").write_text("hello victim")
        (self.victim / "sub").mkdir()
        (self.victim / "sub" / "deep").write_text("deep")
        self.sibling.mkdir()
        (self.sibling / "secret").write_text("secret")
        os.chmod(self.sibling / "secret", 0o600)
        self.siblingfoo.mkdir()
        (self.siblingfoo / "x").write_text("x")
        (base / "perm400").write_text("...")
        os.chmod(base / "perm400", 0o400)
        (base / "also-exists-outside-root").write_text("...")
        os.chmod(base / "also-exists-outside-root", 0o640)


def C(name, *entries, pre=None, check=None, err=None):
    """A case: tar entries (callables of Env allowed), optional pre-populated root, in-root check."""
    return pytest.param(entries, pre, check, err, id=name)


def pre_etc(env):
    (env.dest / "etc").mkdir()
    (env.dest / "etc/passwd").write_text("all users")


def pre_etc_localetc_dir(env):
    pre_etc(env)
    (env.dest / "localetc").mkdir()


def pre_etc_symlink(target):
    def f(env):
        pre_etc(env)
        (env.dest / "etc/whitedout").write_text("ahhhh whiteout")
        os.symlink(target, env.dest / "localetc")
    return f


def unbroken(env):
    assert (env.dest / "etc/unbroken").read_text() == "unbroken"


def in_root(root: Path, rel: str) -> Path:
    """Resolve ``rel`` as a process chrooted at ``root`` would (test's own resolver, not the code's)."""
    parts = [p for p in rel.split("/") if p]
    done: list[str] = []
    hops = 0
    while parts:
        comp = parts.pop(0)
        if comp in (".", ""):
            continue
        if comp == "..":
            if done:
                done.pop()
            continue
        p = root.joinpath(*done, comp)
        if p.is_symlink() and parts:  # intermediate symlinks are followed
            hops += 1
            assert hops < 40
            target = os.readlink(p)
            if target.startswith("/"):
                done = []
            parts = [x for x in target.split("/") if x] + parts
            continue
        done.append(comp)
    return root.joinpath(*done)


def same(a, b):
    def f(env):
        pa, pb = in_root(env.dest, a), in_root(env.dest, b)
        assert os.lstat(pa).st_ino == os.lstat(pb).st_ino
    return f


def V(env, *parts):
    return str(env.victim.joinpath(*parts))


CASES = [
    # --- moby TestUntarInvalidFilenames / ParentTraversalContained -----------
    C("dotdot-file", E("../victim/dotdot", data=b"x"), err=True),
    C("slash-dotdot-file", E("/../victim/slash-dotdot", data=b"x"), err=True),
    C("bare-parent", E("..", data=b"bad"), err=True),
    C("parent-child", E("../pwned", data=b"bad"), err=True),
    C("nested-parent", E("../../pwned", data=b"bad"), err=True),
    C("deep-dotdot", E("a/b/../../../victim/hello", data=b"pwned"), err=True),
    # --- moby TestUntarInvalidHardlink ----------------------------------------
    C("hardlink-dotdot", E("dotdot", "hardlink", link="../victim/hello"), err=True),
    C("hardlink-slash-dotdot", E("slash-dotdot", "hardlink", link="/../victim/hello"), err=True),
    C("hardlink-dir-then-write", E("loophole-victim", "hardlink", link="../victim", mode=0o755),
      E("loophole-victim/file", data=b"x"), err=True),
    C("hardlink-dir-then-symlink", E("loophole-victim", "hardlink", link="../victim"),
      E("symlink", "symlink", link="loophole-victim/hello"), err=True),
    C("hardlink-dir-then-hardlink", E("loophole-victim", "hardlink", link="../victim"),
      E("hardlink", "hardlink", link="loophole-victim/hello"), err=True),
    C("hardlink-dir-then-replace", E("loophole-victim", "hardlink", link="../victim"),
      E("loophole-victim", data=b"x"), err=True),
    C("hardlink-absolute-host-path", lambda env: E("grab", "hardlink", link=V(env, "hello")), err=True),
    # --- moby TestUntarInvalidSymlink -----------------------------------------
    C("symlink-dotdot", E("dotdot", "symlink", link="../victim/hello")),
    C("symlink-slash-dotdot", E("slash-dotdot", "symlink", link="/../victim/hello")),
    C("symlink-then-write", E("loophole-victim", "symlink", link="../victim"), E("loophole-victim/file", data=b"x")),
    C("symlink-then-symlink", E("loophole-victim", "symlink", link="../victim"),
      E("symlink", "symlink", link="loophole-victim/hello")),
    C("symlink-then-hardlink", E("loophole-victim", "symlink", link="../victim"),
      E("hardlink", "hardlink", link="loophole-victim/hello"), err=True),
    C("symlink-then-replace", E("loophole-victim", "symlink", link="../victim"), E("loophole-victim", data=b"x")),
    C("symlink-in-path-newdir", E("dir/loophole", "symlink", link="../../victim"),
      E("dir/loophole/newdir/newfile", data=b"x")),
    # --- moby TestUntarSymlinkBreakout (two-hop chain) ----------------------------
    C("symlink-chain-go-up", E("inner", "dir"), E("inner/go_up", "symlink", link=".."),
      E("inner/go_up/escape", "symlink", link="../victim"), E("inner/go_up/escape/newfile", data=b"x")),
    C("symlink-chain-absolute", lambda env: E("a", "symlink", link=str(env.base)),
      E("b", "symlink", link="a/victim"), E("b/hello", data=b"pwned"), E("b/sub/deep", data=b"pwned")),
    C("symlink-loop", E("a", "symlink", link="b"), E("b", "symlink", link="a"), E("a/x", data=b"x"), err=True),
    # --- moby TestUntarSiblingPrefixContained -----------------------------------
    C("sibling-prefix-hardlink", E("grab", "hardlink", link="../dest-evil/secret"), err=True),
    C("sibling-prefix-symlink-write", E("grab", "symlink", link="../dest-evil"), E("grab/secret", data=b"pwned")),
    C("sibling-prefix-foo", lambda env: E("s", "symlink", link=str(env.siblingfoo)), E("s/x", data=b"pwned"),
      E("s/new", data=b"new")),
    # --- moby TestUntarHardlinkToSymlink -----------------------------------------
    C("hardlink-to-symlink", E("symlink1", "symlink", link="regfile"), E("symlink2", "hardlink", link="symlink1"),
      E("regfile", data=b"r")),
    # --- containerd TestBreakouts -------------------------------------------------
    C("SymlinkAbsolute", E("etc", "dir"), E("localetc", "symlink", link="/etc"),
      E("/localetc/unbroken", data=b"unbroken"), check=unbroken),
    C("SymlinkUpAndOut", E("etc", "dir"), E("dummy", "dir"), E("localetc", "symlink", link="/dummy/../etc"),
      E("/localetc/unbroken", data=b"unbroken"), check=unbroken),
    C("SymlinkMultipleAbsolute", E("etc", "dir"), E("dummy", "dir"), E("/dummy/etc", "symlink", link="/etc"),
      E("localetc", "symlink", link="/dummy/etc"), E("/dummy/etc/unbroken", data=b"unbroken"), check=unbroken),
    C("SymlinkMultipleRelative", E("etc", "dir"), E("dummy", "dir"), E("/dummy/etc", "symlink", link="/etc"),
      E("localetc", "symlink", link="./dummy/etc"), E("/dummy/etc/unbroken", data=b"unbroken"), check=unbroken),
    C("SymlinkEmptyFile", E("etc", "dir"), E("etc/emptied", data=b"notempty"), E("localetc", "symlink", link="/etc"),
      E("/localetc/emptied", data=b""), check=lambda env: (env.dest / "etc/emptied").read_bytes() == b"" or 1 / 0),
    C("HardlinkRelative", E("etc", "dir", mode=0o770), E("/etc/passwd", data=b"inside"), E("breakouts", "dir"),
      E("breakouts/d1", "symlink", link="../../etc"), E("breakouts/mypasswd", "hardlink", link="/breakouts/d1/passwd"),
      check=same("breakouts/mypasswd", "etc/passwd")),
    C("HardlinkDownAndOut", E("etc", "dir"), E("/etc/passwd", data=b"inside"), E("breakouts", "dir"),
      E("downandout", "dir"), E("breakouts/d1", "symlink", link="../downandout/../../etc"),
      E("breakouts/mypasswd", "hardlink", link="/breakouts/d1/passwd"), check=same("breakouts/mypasswd", "etc/passwd")),
    C("HardlinkAbsolute", E("etc", "dir"), E("/etc/passwd", data=b"inside"), E("localetc", "symlink", link="/etc"),
      E("localpasswd", "hardlink", link="/localetc/passwd"), check=same("localpasswd", "etc/passwd")),
    C("HardlinkRelativeLong", E("etc", "dir"), E("/etc/passwd", data=b"inside"),
      E("localetc", "symlink", link="../../../../../../../etc"), E("localpasswd", "hardlink", link="/localetc/passwd"),
      check=same("localpasswd", "etc/passwd")),
    C("HardlinkRelativeUpAndOut", E("etc", "dir"), E("/etc/passwd", data=b"inside"),
      # "upandout" does not exist, so (as in the kernel) the link does not resolve: refused, contained.
      E("localetc", "symlink", link="upandout/../../../etc"), E("localpasswd", "hardlink", link="/localetc/passwd")),
    C("HardlinkDirectRelative", E("etc", "dir"), E("/etc/passwd", data=b"inside"),
      E("localpasswd", "hardlink", link="../../../../../etc/passwd"), err=True),
    C("HardlinkDirectAbsolute", E("etc", "dir"), E("/etc/passwd", data=b"inside"),
      E("localpasswd", "hardlink", link="/etc/passwd"), check=same("localpasswd", "etc/passwd")),
    C("SymlinkParentDirectory", E("etc", "dir"), E("/etc/passwd", data=b"inside"), E("..", "symlink", link="/etc/"),
      E("localpasswd", "hardlink", link="/etc/passwd"), err=True),
    C("SymlinkEmptyFilename", E("etc", "dir"), E("/etc/passwd", data=b"inside"), E("", "symlink", link="/etc/"),
      E("localpasswd", "hardlink", link="/etc/passwd"), err=True),
    C("SymlinkParentRelative", E("etc", "dir"), E("/etc/passwd", data=b"inside"),
      E("localetc/sub/..", "symlink", link="/etc/"), E("/localetc/localpasswd", "hardlink", link="/etc/passwd"),
      check=same("localetc/localpasswd", "etc/passwd")),
    C("SymlinkSlashEnded", E("etc", "dir"), E("/etc/passwd", data=b"inside"), E("localetc/", "dir"),
      E("/localetc/localpasswd", "hardlink", link="/etc/passwd"), check=same("localetc/localpasswd", "etc/passwd")),
    C("SymlinkOverrideDirectory", E("etc", "dir"), E("etc/passwd", data=b"inside"),
      E("localetc", "symlink", link="/etc"), E("/localetc/localpasswd", "hardlink", link="/etc/passwd"),
      pre=pre_etc_localetc_dir, check=same("localetc/localpasswd", "etc/passwd")),
    C("SymlinkOverrideDirectoryRelative", E("etc", "dir"), E("etc/passwd", data=b"inside"),
      E("localetc", "symlink", link="../../etc"), E("/localetc/localpasswd", "hardlink", link="/etc/passwd"),
      pre=pre_etc_localetc_dir, check=same("localetc/localpasswd", "etc/passwd")),
    C("DirectoryOverrideSymlink", E("etc/passwd", data=b"inside"), E("/localetc/", "dir"),
      E("/localetc/localpasswd", "hardlink", link="/etc/passwd"), pre=pre_etc_symlink("/etc"),
      check=same("localetc/localpasswd", "etc/passwd")),
    C("DirectoryOverrideSymlinkAndHardlink", E("/localetc/", "dir"),
      E("/localetc/localpasswd", data=b"different"), pre=pre_etc_symlink("etc"),
      check=lambda env: (env.dest / "etc/passwd").read_text() == "all users" or 1 / 0),
    C("WhiteoutRootParent", E(".wh...", data=b""), pre=pre_etc, err=True),
    C("WhiteoutParent", E("etc/.wh...", data=b""), pre=pre_etc, err=True),
    C("WhiteoutRoot", E(".wh..", data=b""), pre=pre_etc, err=True),
    C("WhiteoutCurrentDirectory", E("etc/.wh..", data=b""), pre=pre_etc, err=True),
    C("WhiteoutEmpty", E("etc/.wh.", data=b""), pre=pre_etc, err=True),
    C("WhiteoutSymlink", E(".wh.localetc"), pre=pre_etc_symlink("/etc"),
      check=lambda env: (env.dest / "etc/passwd").read_text() == "all users" or 1 / 0),
    C("WhiteoutSymlinkPath", E("localetc/.wh.whitedout"), pre=pre_etc_symlink("/etc"),
      check=lambda env: (env.dest / "etc/passwd").read_text() == "all users" or 1 / 0),
    C("WhiteoutDirectoryName", E(".wh.etc/somefile", data=b"non-empty"), pre=pre_etc_symlink("/etc")),
    C("WhiteoutDeadSymlinkParent", E("localetc/.wh.etc"), pre=pre_etc_symlink("/dne")),
    C("WhiteoutRelativePath", E("dne/../.wh.etc"), pre=pre_etc_symlink("/dne")),
    C("HardlinkSymlinkBeforeCreateTarget", E("etc", "dir"), E("localpasswd", "symlink", link="/etc/passwd"),
      E("localpasswd-dup", "hardlink", link="localpasswd"), E("/etc/passwd", data=b"after"),
      check=same("localpasswd-dup", "localpasswd")),
    C("HardlinkSymlinkRelative", E("etc", "dir"), E("/etc/passwd", data=b"inside"),
      E("passwdlink", "symlink", link="../../../../../etc/passwd"), E("localpasswd", "hardlink", link="/passwdlink"),
      check=same("localpasswd", "passwdlink")),
    C("HardlinkSymlinkAbsolute", E("etc", "dir"), E("/etc/passwd", data=b"inside"),
      E("passwdlink", "symlink", link="/etc/passwd"), E("localpasswd", "hardlink", link="/passwdlink"),
      check=same("localpasswd", "passwdlink")),
    C("HardlinkSymlinkChmod",
      lambda env: E(str(env.base / "also-exists-outside-root"), "symlink", link=str(env.base / "perm400"),
                    mode=0o777),
      lambda env: E("sketchylink", "hardlink", link=str(env.base / "also-exists-outside-root"), mode=0o777)),
    # --- whiteouts and opaque markers aimed outside through symlinks --------------
    C("whiteout-through-symlink-to-victim", lambda env: E("esc", "symlink", link=V(env)), E("esc/.wh.hello")),
    C("whiteout-through-relative-symlink", E("esc", "symlink", link="../victim"), E("esc/.wh.hello"),
      E("esc/.wh.sub")),
    C("opaque-through-symlink-to-victim", lambda env: E("esc", "symlink", link=V(env)), E("esc/.wh..wh..opq")),
    C("opaque-through-dotdot-symlink", E("up", "symlink", link=".."), E("up/.wh..wh..opq")),
    C("whiteout-of-dotdot-via-symlink", E("up", "symlink", link="../.."), E("up/.wh.victim")),
    # --- metadata aimed outside -------------------------------------------------------
    C("dir-entry-over-symlink-chmods", E("esc", "symlink", link="../victim"), E("esc", "dir", mode=0o777, uid=4242)),
    C("root-entry-metadata-stays-in-root", E(".", "dir", mode=0o700), E("./", "dir", mode=0o711)),
    C("xattr-through-symlink", E("esc", "symlink", link="../victim"),
      E("esc/hello", data=b"x", xattrs={"user.pwned": b"1", "trusted.overlay.redirect": b"/"})),
    C("fifo-through-symlink", E("esc", "symlink", link="../victim"), E("esc/fifo", "fifo")),
    C("char-through-symlink", E("esc", "symlink", link="../victim"), E("esc/null", "char", major=1, minor=3)),
    C("symlink-replacing-victim-hardlink", E("a", data=b"a"), E("b", "hardlink", link="a"),
      E("b", "symlink", link="../victim/hello"), E("b", data=b"through?")),
    C("long-symlink-chain", *[E(f"l{i}", "symlink", link=f"l{i + 1}") for i in range(45)],
      E("l45", "symlink", link="../victim"), E("l0/pwned", data=b"x"), err=True),
]


@pytest.mark.parametrize("mode", ["delete", "overlay"])
@pytest.mark.parametrize("entries,pre,check,err", CASES)
def test_breakout(tmp_path, mode, entries, pre, check, err):
    env = Env(tmp_path)
    if pre:
        pre(env)
    members = [e(env) if callable(e) else e for e in entries]
    try:
        data = tar_bytes(*members)
    except ValueError:
        pytest.skip("tarfile cannot write this member")
    before = snapshot(env.base, env.dest)
    raised = None
    try:
        extract_layer(io.BytesIO(data), env.dest, whiteouts=mode)
    except ImageError as e:
        raised = e
    after = snapshot(env.base, env.dest)
    assert after == before, "something outside the layer root changed"
    # the root is still a real directory where it was
    assert stat.S_ISDIR(os.lstat(env.dest).st_mode)
    if err:
        assert raised is not None, "hostile layer was accepted"
        assert "\n" not in str(raised)
    elif check is not None:
        assert raised is None, f"legitimate in-root layout refused: {raised}"
        check(env)


@pytest.mark.parametrize("major,minor", [(2**32, 0), (0, 2**32), (-1, 0), (0, -1)])
@pytest.mark.parametrize("kind", ["block", "char"])
def test_device_number_range(tmp_path, major, minor, kind):
    import tarfile

    env = Env(tmp_path)
    data = tar_bytes(E("dev", kind, major=major, minor=minor), fmt=tarfile.GNU_FORMAT)
    before = snapshot(env.base, env.dest)
    with pytest.raises(ImageError, match="device number"):
        extract_layer(io.BytesIO(data), env.dest, whiteouts="overlay")
    assert not os.path.lexists(env.dest / "dev")
    assert snapshot(env.base, env.dest) == before


def test_snapshot_detects_changes(tmp_path):
    """The verdict itself must be able to fail: each kind of change is seen."""
    env = Env(tmp_path)
    before = snapshot(env.base, env.dest)
    for change in (
        lambda: (env.victim / "hello").write_text("hello victiM"),
        lambda: os.chmod(env.base / "perm400", 0o600),
        lambda: (env.victim / "new").write_text(""),
        lambda: os.setxattr(env.victim / "sub", "user.x", b"1"),
        lambda: os.utime(env.victim / "sub/deep", ns=(1, 1)),
        lambda: os.link(env.victim / "hello", env.dest / "h"),  # nlink of a victim changes
    ):
        change()
        assert snapshot(env.base, env.dest) != before
        before = snapshot(env.base, env.dest)


def test_import_of_a_truncated_tar_is_refused_and_leaves_nothing(pyctr, tmp_path):
    """``pyctr import`` of a local tar has no diff_id to check: a tar cut right
    after a member (no end-of-archive marker) must still be refused, leaving no
    image, layer, layer record or blob; the whole tar then imports."""
    import sqlite3
    import tarfile

    full = tar_bytes(E("etc", "dir"), E("etc/motd", data=b"whole\n"), E("etc/big", data=os.urandom(3000)))
    last = tarfile.open(fileobj=io.BytesIO(full)).getmembers()[-1]
    cut = tmp_path / "cut.tar"
    cut.write_bytes(full[:last.offset_data + (last.size + 511) // 512 * 512])
    other = tmp_path / "other.tar"
    other.write_bytes(tar_bytes(E("other", data=b"x")))
    pyctr("import", str(other), "polish/other", check=True)  # the store's skeleton exists: like with like

    def state() -> tuple:
        db = sqlite3.connect(pyctr.root / "pyctr.db")
        try:
            rows = db.execute("SELECT id FROM layers").fetchall() + db.execute("SELECT id FROM images").fetchall()
        finally:
            db.close()
        files = sorted(str(p.relative_to(pyctr.root)) for p in pyctr.root.rglob("*")
                       if not p.name.startswith("pyctr.db"))
        return rows, files

    before = state()
    r = pyctr("import", str(cut), "polish/cut")
    assert r.returncode == 125
    assert r.stderr.strip().splitlines()[-1].endswith("layer truncated: no end-of-archive marker")
    assert state() == before
    assert pyctr("system", "check", check=True).stdout.strip() == "no problems found"
    whole = tmp_path / "whole.tar"
    whole.write_bytes(full)
    pyctr("import", str(whole), "polish/whole", check=True)
    assert len(pyctr("images", "-q", check=True).stdout.split()) == 2
