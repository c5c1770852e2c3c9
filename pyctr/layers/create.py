"""Making a layer tar from a directory: sorted, deterministic, whiteouts and opaque
directories written back from overlayfs's form, hard links and xattrs kept."""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator

from pyctr.layers.names import (
    OVERLAY_OPAQUE_XATTR,
    USER_OVERLAY_OPAQUE_XATTR,
    WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX,
    opaque_xattr,
)

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import IO

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: directory descriptors the walk keeps open at most, however deep the tree
_MAX_OPEN = 16


class _Dir:
    __slots__ = ("fd", "ident", "entries", "index", "prefix")

    def __init__(self, fd: int, prefix: str) -> None:
        st = os.fstat(fd)
        self.fd = fd
        self.ident = (st.st_dev, st.st_ino)
        with os.scandir(fd) as it:
            self.entries = sorted(((e.name, e.is_dir(follow_symlinks=False)) for e in it),
                                  key=lambda e: e[0].encode("utf-8", "surrogateescape"))
        self.index = 0
        self.prefix = prefix


def _walk_sorted(top: str) -> Iterator[tuple[int, str, str]]:
    """(directory fd, entry name, name in tar), depth first in byte order, never following
    symlinks; iterative, with at most ``_MAX_OPEN`` directory descriptors however deep (a parent
    whose descriptor was closed on the way down is reopened as ``..``, checked by inode)."""
    stack = [_Dir(os.open(top, _DIR), "")]
    try:
        while stack:
            cur = stack[-1]
            if cur.index == len(cur.entries):
                stack.pop()
                if stack and stack[-1].fd < 0:
                    parent = os.open("..", _DIR, dir_fd=cur.fd)
                    st = os.fstat(parent)
                    if (st.st_dev, st.st_ino) != stack[-1].ident:
                        os.close(parent)
                        raise OSError(f"{stack[-1].prefix or top} changed while it was read")
                    stack[-1].fd = parent
                os.close(cur.fd)
                continue
            name, is_dir = cur.entries[cur.index]
            cur.index += 1
            tar_name = cur.prefix + name
            yield cur.fd, name, tar_name
            if is_dir:
                try:
                    child = os.open(name, _DIR, dir_fd=cur.fd)
                except OSError:
                    continue  # replaced by a link or gone since it was listed: not entered
                stack.append(_Dir(child, tar_name + "/"))
                if len(stack) > _MAX_OPEN:
                    old = stack[len(stack) - _MAX_OPEN - 1]
                    if old.fd >= 0:
                        os.close(old.fd)
                        old.fd = -1
    finally:
        for d in stack:
            if d.fd >= 0:
                os.close(d.fd)


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
        for dfd, entry, name in _walk_sorted(os.fspath(src_dir)):
            st = os.stat(entry, dir_fd=dfd, follow_symlinks=False)
            # xattr calls take no dir_fd: /proc/self/fd/N names the directory, whatever its depth
            path = f"/proc/self/fd/{dfd}/{entry}"
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
                ti.linkname = os.readlink(entry, dir_fd=dfd)
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
                fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
                with open(fd, "rb") as f:
                    tf.addfile(ti, f)
            else:
                add_node(tf, ti, st)


def add_node(tf: tarfile.TarFile, ti: tarfile.TarInfo, st: os.stat_result) -> None:
    """Write ``ti`` as the device or fifo ``st`` (its lstat) says; anything else that is
    neither file, directory nor link (a socket) is not carried in layers, as Docker's."""
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(st.st_mode):
        ti.type = tarfile.FIFOTYPE
    else:
        return
    tf.addfile(ti)
