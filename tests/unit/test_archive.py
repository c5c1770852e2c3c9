"""Layer extraction: formats, metadata, whiteouts (both modes), limits, broken layers."""

from __future__ import annotations

import hashlib
import io
import os
import stat

import pytest

from pyctr.core.errors import ImageError
from pyctr.layers.create import create_layer_tar
from pyctr.layers.extract import extract_layer, extract_layer_atomic
from pyctr.layers.streams import open_layer_stream
from pyctr.testing.tarbuild import entry as E
from pyctr.testing.tarbuild import gzip_bytes, tar_bytes, zstd_bytes

is_root = os.geteuid() == 0
root_only = pytest.mark.skipif(not is_root, reason="needs root")


def run(tmp_path, data: bytes, mode="delete", dest=None, **kw):
    dest = dest or tmp_path / "dest"
    dest.mkdir(exist_ok=True)
    return extract_layer(io.BytesIO(data), dest, whiteouts=mode, **kw), dest


def listing(root):
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, root)] = stat.S_IFMT(os.lstat(p).st_mode)
    return out


BASIC = tar_bytes(
    E("etc", "dir"),
    E("etc/hosts", data=b"127.0.0.1 localhost\n"),
    E("etc/hosts.allow", "hardlink", link="etc/hosts"),
    E("usr/local/lib/libnothing.so", data=b"\0\0", mode=0o755),  # implied parents
    E("usr/local/lib/libnothing.so.2", "symlink", link="libnothing.so"),
    E("home/derek", "dir", mode=0o700),
    E("bin/su", data=b"su", mode=0o4755, uid=0, gid=0),
)


@pytest.mark.parametrize("wrap", [lambda b: b, gzip_bytes, zstd_bytes], ids=["plain", "gzip", "zstd"])
def test_formats(tmp_path, wrap):
    size, dest = run(tmp_path, wrap(BASIC))
    assert size == len(b"127.0.0.1 localhost\n") + 2 + 2
    assert (dest / "etc/hosts").read_bytes() == b"127.0.0.1 localhost\n"
    assert os.path.samefile(dest / "etc/hosts", dest / "etc/hosts.allow")
    assert os.readlink(dest / "usr/local/lib/libnothing.so.2") == "libnothing.so"
    assert stat.S_IMODE(os.stat(dest / "home/derek").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(dest / "bin/su").st_mode) == 0o4755
    assert os.stat(dest / "etc").st_mtime == 1_600_000_000  # dirs get their mtime after contents


def test_open_layer_stream_sniffs():
    for wrap in (lambda b: b, gzip_bytes, zstd_bytes):
        assert open_layer_stream(io.BytesIO(wrap(BASIC))).read() == BASIC


def test_diff_id_checked(tmp_path):
    good = "sha256:" + hashlib.sha256(BASIC).hexdigest()
    run(tmp_path, gzip_bytes(BASIC), diff_id=good)
    with pytest.raises(ImageError, match="diff_id"):
        run(tmp_path, gzip_bytes(BASIC), dest=tmp_path / "d2", diff_id="sha256:" + "0" * 64)


@root_only
def test_owner_then_mode_keeps_setuid(tmp_path):
    data = tar_bytes(E("x", data=b"x", mode=0o6755, uid=1234, gid=5678), E("d", "dir", uid=42, gid=43, mode=0o1777))
    _, dest = run(tmp_path, data)
    st = os.stat(dest / "x")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o6755)
    st = os.stat(dest / "d")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (42, 43, 0o1777)


def test_user_xattr(tmp_path):
    data = tar_bytes(E("f", data=b"1", xattrs={"user.pyctr": b"v\xffal"}))
    _, dest = run(tmp_path, data)
    try:
        assert os.getxattr(dest / "f", "user.pyctr") == b"v\xffal"
    except OSError:
        pytest.skip("filesystem without user xattrs")


@root_only
def test_overlay_xattrs_from_layer_are_dropped(tmp_path):
    data = tar_bytes(E("d", "dir", xattrs={"trusted.overlay.redirect": b"/etc", "trusted.overlay.opaque": b"y"}))
    _, dest = run(tmp_path, data, mode="overlay")
    assert [x for x in os.listxattr(dest / "d") if x.startswith("trusted.overlay.")] == []


@root_only
def test_devices_and_fifo(tmp_path):
    data = tar_bytes(E("dev/null", "char", major=1, minor=3, mode=0o666), E("dev/loop9", "block", major=7, minor=9),
                     E("run/fifo", "fifo", mode=0o620))
    _, dest = run(tmp_path, data)
    st = os.lstat(dest / "dev/null")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3) and stat.S_IMODE(st.st_mode) == 0o666
    assert stat.S_ISBLK(os.lstat(dest / "dev/loop9").st_mode)
    st = os.lstat(dest / "run/fifo")
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o620


def lower(tmp_path):
    dest = tmp_path / "dest"
    (dest / "etc/conf.d").mkdir(parents=True)
    (dest / "etc/passwd").write_text("root")
    (dest / "etc/conf.d/a").write_text("a")
    (dest / "opt/app").mkdir(parents=True)
    (dest / "opt/app/old").write_text("old")
    (dest / "opt/app/sub").mkdir()
    (dest / "opt/app/sub/deep").write_text("deep")
    (dest / "keep").write_text("keep")
    return dest


def test_whiteouts_delete_mode(tmp_path):
    dest = lower(tmp_path)
    data = tar_bytes(
        E("etc/.wh.passwd"),
        E("etc/.wh.conf.d"),  # a whole directory
        E(".wh.nonexistent"),  # nothing to do
        E("opt/app", "dir"),
        E("opt/app/new", data=b"new"),  # created before the opaque marker: must survive
        E("opt/app/.wh..wh..opq"),
        E("opt/app/newer", data=b"newer"),
    )
    run(tmp_path, data, mode="delete", dest=dest)
    assert listing(dest) == {
        "etc": stat.S_IFDIR, "opt": stat.S_IFDIR, "opt/app": stat.S_IFDIR, "keep": stat.S_IFREG,
        "opt/app/new": stat.S_IFREG, "opt/app/newer": stat.S_IFREG,
    }


def test_opaque_keeps_same_layer_subtree(tmp_path):
    dest = lower(tmp_path)
    data = tar_bytes(E("opt/app/sub/fresh", data=b"f"), E("opt/app/.wh..wh..opq"))
    run(tmp_path, data, mode="delete", dest=dest)
    # "sub" existed below but this layer put "fresh" in it: sub stays, deep goes.
    assert listing(dest / "opt/app") == {"sub": stat.S_IFDIR, "sub/fresh": stat.S_IFREG}


@root_only
def test_whiteouts_overlay_mode(tmp_path):
    data = tar_bytes(
        E("etc", "dir"), E("etc/.wh.passwd"), E("opt/app/.wh..wh..opq"), E("opt/app/new", data=b"n"),
    )
    _, dest = run(tmp_path, data, mode="overlay")
    st = os.lstat(dest / "etc/passwd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 and (st.st_uid, st.st_gid) == (0, 0)
    assert os.getxattr(dest / "opt/app", "trusted.overlay.opaque") == b"y"
    assert not (dest / "etc/.wh.passwd").exists()
    assert not os.path.lexists(dest / "opt/app/.wh..wh..opq")
    assert (dest / "opt/app/new").read_bytes() == b"n"


@pytest.mark.parametrize("name", [".wh.", ".wh..", ".wh...", "etc/.wh..", "etc/.wh...", "a/.wh."])
@pytest.mark.parametrize("mode", ["delete", "overlay"])
def test_invalid_whiteout_names(tmp_path, name, mode):
    dest = lower(tmp_path)
    with pytest.raises(ImageError, match="whiteout"):
        run(tmp_path, tar_bytes(E(name)), mode=mode, dest=dest)
    assert (dest / "etc/passwd").read_text() == "root"


def test_replace_dir_with_file_and_back(tmp_path):
    dest = lower(tmp_path)
    data = tar_bytes(E("opt/app", data=b"now a file"), E("keep", "dir"), E("keep/x", data=b"x"))
    run(tmp_path, data, dest=dest)
    assert (dest / "opt/app").read_bytes() == b"now a file"
    assert (dest / "keep/x").read_bytes() == b"x"


def test_hardlink_to_lower_layer_refused(tmp_path):
    dest = lower(tmp_path)
    with pytest.raises(ImageError, match="not in this layer"):
        run(tmp_path, tar_bytes(E("pw", "hardlink", link="etc/passwd")), dest=dest)


def test_hardlink_to_symlink_links_the_link(tmp_path):
    data = tar_bytes(E("s1", "symlink", link="regfile"), E("s2", "hardlink", link="s1"), E("regfile", data=b"r"))
    _, dest = run(tmp_path, data)
    assert os.readlink(dest / "s2") == "regfile"
    assert os.lstat(dest / "s1").st_ino == os.lstat(dest / "s2").st_ino


def test_entry_limit(tmp_path):
    data = tar_bytes(*[E(f"f{i}") for i in range(20)])
    with pytest.raises(ImageError, match="entries"):
        run(tmp_path, data, max_entries=10)


def test_size_limit(tmp_path):
    data = tar_bytes(E("a", data=b"x" * 600), E("b", data=b"y" * 600))
    with pytest.raises(ImageError, match="more than 1000 bytes"):
        run(tmp_path, data, max_size=1000)


@pytest.mark.parametrize("cut", [100, 700, 1500, 2600])
@pytest.mark.parametrize("wrap", [gzip_bytes, zstd_bytes], ids=["gzip", "zstd"])
def test_truncated_compressed_layer(tmp_path, cut, wrap):
    data = wrap(tar_bytes(E("a", data=os.urandom(2000)), E("b", data=os.urandom(2000))))
    with pytest.raises(ImageError):
        run(tmp_path, data[:cut] if cut < len(data) else data[:-4])


def test_truncated_plain_layer(tmp_path):
    data = tar_bytes(E("a", data=os.urandom(3000)))
    with pytest.raises(ImageError):
        run(tmp_path, data[:1200])


def _cut_at_the_last_member_end() -> tuple[bytes, bytes]:
    """A two-member tar, and the same cut right after the last member's data:
    a valid tar stream but for its end-of-archive marker."""
    import tarfile

    full = tar_bytes(E("a", data=b"x" * 1000), E("b", data=b"y" * 100))
    last = tarfile.open(fileobj=io.BytesIO(full)).getmembers()[-1]
    return full, full[:last.offset_data + 512]


@pytest.mark.parametrize("tail", [b"", b"\0" * 300], ids=["no-zero-block", "short-zero-block"])
@pytest.mark.parametrize("wrap", [lambda b: b, gzip_bytes, zstd_bytes], ids=["plain", "gzip", "zstd"])
def test_truncated_at_a_member_boundary_is_refused(tmp_path, tail, wrap):
    _, cut = _cut_at_the_last_member_end()
    with pytest.raises(ImageError, match="^layer truncated: no end-of-archive marker"):
        run(tmp_path, wrap(cut + tail))


def _sha(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("wrap", [lambda b: b, gzip_bytes, zstd_bytes], ids=["plain", "gzip", "zstd"])
def test_a_verified_layer_may_lack_its_end_as_umoci_writes_them(tmp_path, wrap):
    """umoci 0.4.7's layers: the last member's data is not padded and no zero block follows.
    With a diff_id that verifies every byte, that is accepted (as containers/storage does)."""
    full, cut = _cut_at_the_last_member_end()
    import tarfile

    last = tarfile.open(fileobj=io.BytesIO(full)).getmembers()[-1]
    unpadded = full[:last.offset_data + last.size]  # 100 bytes of data, no padding, no end
    for tar in (cut, unpadded):
        dest = tmp_path / f"d{len(tar)}"
        dest.mkdir()
        assert extract_layer(io.BytesIO(wrap(tar)), dest, diff_id=_sha(tar)) == 1100
        assert (dest / "b").read_bytes() == b"y" * 100
        with pytest.raises(ImageError, match="^layer truncated: no end-of-archive marker"):
            run(tmp_path, wrap(tar))  # no digest: refused
        with pytest.raises(ImageError, match="does not match diff_id"):
            d2 = tmp_path / f"e{len(tar)}"
            d2.mkdir()
            extract_layer(io.BytesIO(wrap(tar)), d2, diff_id=_sha(tar + b"x"))


def test_short_member_data_is_refused_even_when_verified(tmp_path):
    full, _ = _cut_at_the_last_member_end()
    import tarfile

    last = tarfile.open(fileobj=io.BytesIO(full)).getmembers()[-1]
    short = full[:last.offset_data + 50]  # the header says 100 bytes
    with pytest.raises(ImageError, match="broken layer"):
        extract_layer(io.BytesIO(short), tmp_path, diff_id=_sha(short))


@pytest.mark.parametrize("zeros", [1, 2, 20])
def test_one_or_more_zero_blocks_end_a_layer(tmp_path, zeros):
    """GNU tar warns about a lone zero block and Go's archive/tar accepts it: so do we."""
    _, cut = _cut_at_the_last_member_end()
    size, dest = run(tmp_path, cut + b"\0" * 512 * zeros)
    assert size == 1100 and sorted(os.listdir(dest)) == ["a", "b"]


def test_an_empty_layer_of_zero_blocks_is_accepted(tmp_path):
    assert run(tmp_path, b"\0" * 1024)[0] == 0


def test_a_bad_header_after_a_member_is_refused(tmp_path):
    """tarfile would end the archive quietly there; Go's archive/tar says ErrHeader."""
    full, cut = _cut_at_the_last_member_end()
    bad = full[:1536] + b"Z" * 512 + full[2048:]  # b's header
    with pytest.raises(ImageError, match="invalid tar header at offset 1536"):
        run(tmp_path, bad)


def test_truncated_layer_leaves_nothing_and_the_whole_one_unpacks(tmp_path):
    full, cut = _cut_at_the_last_member_end()
    final = tmp_path / "layers" / "abc"
    final.parent.mkdir()
    with pytest.raises(ImageError, match="no end-of-archive marker"):
        extract_layer_atomic(io.BytesIO(cut), final, whiteouts="delete")
    assert os.listdir(final.parent) == []
    assert extract_layer_atomic(io.BytesIO(full), final, whiteouts="delete") == 1100
    assert sorted(os.listdir(final)) == ["a", "b"]


def test_garbage(tmp_path):
    with pytest.raises(ImageError):
        run(tmp_path, b"\x1f\x8b" + os.urandom(500))
    with pytest.raises(ImageError):
        run(tmp_path, b"not a tar at all" * 40, dest=tmp_path / "d2")


def test_atomic_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "layers" / "abc"
    final.parent.mkdir()
    data = tar_bytes(E("a", data=b"x" * 5000))[:1500]
    with pytest.raises(ImageError):
        extract_layer_atomic(io.BytesIO(data), final, whiteouts="delete")
    assert os.listdir(final.parent) == []
    size = extract_layer_atomic(io.BytesIO(gzip_bytes(BASIC)), final, whiteouts="delete")
    assert size > 0 and (final / "etc/hosts").exists()
    assert sorted(os.listdir(final.parent)) == ["abc"]


def test_create_layer_tar_roundtrip_deterministic(tmp_path):
    _, src = run(tmp_path, BASIC)
    out1, out2 = io.BytesIO(), io.BytesIO()
    create_layer_tar(src, out1, mtime=0)
    create_layer_tar(src, out2, mtime=0)
    assert out1.getvalue() == out2.getvalue()
    _, again = run(tmp_path, out1.getvalue(), dest=tmp_path / "again")
    assert listing(again) == listing(src)
    assert os.path.samefile(again / "etc/hosts", again / "etc/hosts.allow")
    assert stat.S_IMODE(os.stat(again / "bin/su").st_mode) == 0o4755


@root_only
def test_create_layer_tar_overlay_roundtrip(tmp_path):
    data = tar_bytes(E("etc", "dir"), E("etc/.wh.passwd"), E("opt/app/.wh..wh..opq"), E("opt/app/new", data=b"n"))
    _, dest = run(tmp_path, data, mode="overlay")
    out = io.BytesIO()
    create_layer_tar(dest, out)
    import tarfile

    names = tarfile.open(fileobj=io.BytesIO(out.getvalue())).getnames()
    assert "etc/.wh.passwd" in names and "opt/app/.wh..wh..opq" in names and "opt/app/new" in names


def test_huge_pax_header_refused(tmp_path):
    import tarfile

    ti = tarfile.TarInfo("f")
    ti.pax_headers = {"comment": "x" * (17 << 20)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(ti, io.BytesIO(b""))
    with pytest.raises(ImageError, match="header larger"):
        run(tmp_path, gzip_bytes(buf.getvalue()))


def test_many_members_memory_is_not_kept(tmp_path):
    data = tar_bytes(*[E(f"d/f{i}", data=b"x") for i in range(3000)])
    size, dest = run(tmp_path, data)
    assert size == 3000 and len(os.listdir(dest / "d")) == 3000


def test_remove_stale_extractions(tmp_path):
    from pyctr.layers.extract import remove_stale_extractions

    live = tmp_path / f".a.tmp-{os.getpid()}-00ff"
    dead = tmp_path / ".b.tmp-999999999-00ff"
    other = tmp_path / "c"
    for d in (live, dead, other):
        d.mkdir()
    (dead / "f").write_text("x")
    assert remove_stale_extractions(tmp_path) == [dead]
    assert live.exists() and other.exists() and not dead.exists()
