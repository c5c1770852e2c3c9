"""Making a layer tar from a directory: sorted, deterministic, whiteouts and opaque
directories written back from overlayfs's form, hard links and xattrs kept."""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from collections.abc import Iterable
from typing import IO

from pyctr.layers.names import (
    OVERLAY_OPAQUE_XATTR,
    USER_OVERLAY_OPAQUE_XATTR,
    WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX,
    opaque_xattr,
)


def _walk_sorted(top: str) -> Iterable[tuple[str, str]]:
    """(path on disk, name in tar) depth-first in byte order, never following symlinks."""
    def rec(d: str, prefix: str) -> Iterable[tuple[str, str]]:
        with os.scandir(d) as it:
            entries = sorted(it, key=lambda e: e.name.encode("utf-8", "surrogateescape"))
        for e in entries:
            name = prefix + e.name
            yield e.path, name
            if e.is_dir(follow_symlinks=False):
                yield from rec(e.path, name + "/")
    return rec(top, "")


def create_layer_tar(src_dir: str | os.PathLike[str], out_fileobj: IO[bytes], *,
                     mtime: int | None = None) -> None:
    """Write ``src_dir`` as an uncompressed PAX tar layer, deterministically.

    Entries are sorted, hardlinks inside the tree become tar hardlinks, xattrs
    are kept (SCHILY.xattr.*), and 0:0 character devices are written back as
    ``.wh.`` whiteouts and ``trusted.overlay.opaque`` as ``.wh..wh..opq``, so
    an overlay2 ``diff/`` round-trips. ``mtime`` overrides all timestamps.
    """
    seen: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out_fileobj, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for path, name in _walk_sorted(os.fspath(src_dir)):
            st = os.lstat(path)
            ti = tarfile.TarInfo(name)
            ti.uid, ti.gid = st.st_uid, st.st_gid
            ti.uname = ti.gname = ""
            ti.mode = stat.S_IMODE(st.st_mode)
            ti.mtime = st.st_mtime if mtime is None else mtime
            pax: dict[str, str] = {}
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                wh = tarfile.TarInfo(posixpath.join(posixpath.dirname(name), WHITEOUT_PREFIX + posixpath.basename(name)))
                wh.mtime = ti.mtime
                wh.uname = wh.gname = ""
                tf.addfile(wh)
                continue
            if not stat.S_ISLNK(st.st_mode):
                try:
                    for key in os.listxattr(path, follow_symlinks=False):
                        val = os.getxattr(path, key, follow_symlinks=False)
                        if key in (OVERLAY_OPAQUE_XATTR, USER_OVERLAY_OPAQUE_XATTR):
                            continue
                        pax["SCHILY.xattr." + key] = val.decode("utf-8", "surrogateescape")
                except OSError:
                    pass
            ti.pax_headers = pax
            if stat.S_ISDIR(st.st_mode):
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
                try:
                    if os.getxattr(path, opaque_xattr(), follow_symlinks=False) == b"y":
                        op = tarfile.TarInfo(name + "/" + WHITEOUT_OPAQUE)
                        op.mtime = ti.mtime
                        op.uname = op.gname = ""
                        tf.addfile(op)
                except OSError:
                    pass
            elif stat.S_ISLNK(st.st_mode):
                ti.type = tarfile.SYMTYPE
                ti.linkname = os.readlink(path)
                tf.addfile(ti)
            elif stat.S_ISREG(st.st_mode):
                ident = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and ident in seen:
                    ti.type = tarfile.LNKTYPE
                    ti.linkname = seen[ident]
                    tf.addfile(ti)
                    continue
                seen[ident] = name
                ti.size = st.st_size
                with open(path, "rb") as f:
                    tf.addfile(ti, f)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                ti.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
                ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                tf.addfile(ti)
            elif stat.S_ISFIFO(st.st_mode):
                ti.type = tarfile.FIFOTYPE
                tf.addfile(ti)
            # sockets are not carried in layers (like Docker)
