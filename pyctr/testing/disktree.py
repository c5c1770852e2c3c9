"""Root filesystems on disk, compared as a user would: every entry's type, mode, owner, size,
content (sha256) and link target, and which entries are hard links of each other (mtimes
aside). Used by the interop suite to hold pyctr's unpacked view of an image against the
producer's own (``tar -xp``, ``umoci unpack``, ``podman image mount``, dockerd's vfs layer).

:func:`awkward_tree` makes the source tree those tests pack: busybox plus what layers find
hard to carry (hard links, absolute and relative symlinks, a fifo, setuid and odd modes,
foreign owners, an empty 0700 directory, a unicode name, a name over 100 bytes).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

#: a file name longer than ustar's 100-byte name field
LONG_NAME = "a-name-longer-than-one-hundred-bytes-" + "x" * 80


def view(top: str | os.PathLike[str]) -> tuple[dict[str, tuple], set[frozenset[str]]]:
    """Every entry under ``top`` (mtimes aside) and the hard-link groups."""
    top = os.fspath(top)
    entries: dict[str, tuple] = {}
    inodes: dict[tuple[int, int], set[str]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, top)
            st = os.lstat(p)
            extra: object = None
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    extra = hashlib.sha256(f.read()).hexdigest()
                if st.st_nlink > 1:
                    inodes.setdefault((st.st_dev, st.st_ino), set()).add(rel)
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                extra = st.st_rdev
            mode = stat.S_IMODE(st.st_mode) if not stat.S_ISLNK(st.st_mode) else 0
            entries[rel] = (stat.S_IFMT(st.st_mode), mode, st.st_uid, st.st_gid,
                            st.st_size if stat.S_ISREG(st.st_mode) else 0, extra)
    return entries, {frozenset(g) for g in inodes.values() if len(g) > 1}


def assert_same(want_top: str | os.PathLike[str], got_top: str | os.PathLike[str]) -> None:
    """Fail with the first few differences when the two trees differ."""
    want, want_links = view(want_top)
    got, got_links = view(got_top)
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    differ = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    assert not missing and not extra and not differ, (missing[:5], extra[:5],
                                                       [(k, want[k], got[k]) for k in differ[:5]])
    assert want_links == got_links


def awkward_tree(dest: str | os.PathLike[str]) -> Path:
    """Busybox plus the awkward entries (see the module's docstring), at ``dest``."""
    from pyctr.testing.images import build_busybox_rootfs

    src = build_busybox_rootfs(dest)
    (src / "opt/data").mkdir(parents=True)
    (src / "opt/data/file").write_bytes(os.urandom(5000))
    os.link(src / "opt/data/file", src / "opt/data/hardlink")
    os.symlink("/etc/passwd", src / "opt/abs-link")
    os.symlink("../etc/group", src / "opt/rel-link")
    os.mkfifo(src / "opt/fifo")
    (src / "opt/setuid").write_bytes(b"#!/bin/sh\n")
    os.chmod(src / "opt/setuid", 0o4755)
    (src / "opt/owned").write_text("owned by 1000\n")
    os.chown(src / "opt/owned", 1000, 1000)
    (src / "opt/private").mkdir(mode=0o700)
    os.chmod(src / "opt/private", 0o700)
    (src / "opt/ünïcödé").write_text("utf-8 name\n")
    (src / "opt" / LONG_NAME).write_text("long name\n")
    os.chmod(src / "opt/data", 0o751)
    return src
