"""A layer tar from an overlayfs-style upper directory (pyctr.build.diff), made by hand:
whiteouts and opaque markers as overlayfs writes them, overlayfs' own xattrs left out."""

import io
import os
import stat
import tarfile

import pytest

from pyctr.build.diff import find_stubs, remove_stubs, write_layer

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="whiteout devices and trusted.* xattrs need root")


def _tar(upper, **kw):
    buf = io.BytesIO()
    info = write_layer(str(upper), buf, **kw)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tf:
        return info, {m.name: m for m in tf.getmembers()}


@needs_root
def test_whiteouts_opaque_dirs_links_and_xattrs(tmp_path):
    up = tmp_path / "upper"
    (up / "etc").mkdir(parents=True)
    os.mknod(up / "etc/gone", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    (up / "opaque").mkdir()
    os.setxattr(up / "opaque", "trusted.overlay.opaque", b"y")
    os.setxattr(up / "etc", "trusted.overlay.origin", b"\x00junk")
    (up / "opaque/new").write_text("n")
    (up / "bin").mkdir()
    (up / "bin/tool").write_text("tool")
    os.setxattr(up / "bin/tool", "security.capability", b"\x01\x00\x00\x02" + b"\x00" * 16)
    os.link(up / "bin/tool", up / "bin/alias")
    os.symlink("tool", up / "bin/link")
    os.utime(up / "bin/tool", (1.7, 1_700_000_000.9))
    info, members = _tar(up)
    assert sorted(members) == ["bin", "bin/alias", "bin/link", "bin/tool", "etc", "etc/.wh.gone", "opaque",
                               "opaque/.wh..wh..opq", "opaque/new"]
    order = list(members)
    assert all(order.index(n.rsplit("/", 1)[0]) < order.index(n) for n in order if "/" in n)  # parents first
    assert members["etc/.wh.gone"].isreg() and members["etc/.wh.gone"].size == 0
    assert not any(k.startswith("SCHILY.xattr.trusted.overlay") for m in members.values() for k in m.pax_headers)
    # the first name of a hard-linked file carries the data, later names link to it
    assert members["bin/alias"].isreg() and members["bin/tool"].islnk() and members["bin/tool"].linkname == "bin/alias"
    assert "SCHILY.xattr.security.capability" in members["bin/alias"].pax_headers
    assert members["bin/link"].issym() and members["bin/link"].linkname == "tool"
    assert members["bin/alias"].mtime == 1_700_000_000  # whole seconds, no PAX mtime record
    assert "mtime" not in members["bin/alias"].pax_headers
    assert info.size == 5


def test_epoch_clamps_times(tmp_path):
    up = tmp_path / "upper"
    up.mkdir()
    (up / "old").write_text("o")
    os.utime(up / "old", (100, 100))
    (up / "new").write_text("n")
    _, members = _tar(up, epoch=1000)
    assert members["old"].mtime == 100 and members["new"].mtime == 1000


def test_skip_leaves_out_empty_stubs_only(tmp_path):
    up = tmp_path / "upper"
    (up / "etc").mkdir(parents=True)
    (up / "etc/hosts").write_text("")
    (up / "proc").mkdir()
    (up / "etc/kept").write_text("k")
    _, members = _tar(up, skip={"etc/hosts", "proc", "etc/kept"})
    assert set(members) == {"etc", "etc/kept"}


def test_stubs_are_found_before_and_removed_after(tmp_path):
    root = tmp_path / "merged"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hosts").write_text("image's own\n")
    os.symlink("/etc", root / "etc-link")
    os.utime(root / "etc", (5, 5))
    stubs = find_stubs(str(root), ["/proc", "/etc/hosts", "/etc/resolv.conf", "/etc-link/hostname", "/a/b/c"])
    assert sorted(s.path for s in stubs) == ["a", "a/b", "a/b/c", "etc/hostname", "etc/resolv.conf", "proc"]
    # what the runtime would make, plus a file a RUN wrote under a stub directory
    (root / "proc").mkdir()
    (root / "etc/resolv.conf").write_text("")
    (root / "etc/hostname").write_text("")
    (root / "a/b/c").mkdir(parents=True)
    (root / "a/b/kept").write_text("written by the command")
    remove_stubs(str(root), stubs)
    assert sorted(os.listdir(root)) == ["a", "etc", "etc-link"]
    assert os.listdir(root / "a/b") == ["kept"]  # the empty mount point went, the command's file stayed
    assert sorted(os.listdir(root / "etc")) == ["hosts"]
    assert os.stat(root / "etc").st_mtime == 5
