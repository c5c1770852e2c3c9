"""A layer from an overlayfs upper directory, written once as an OCI layer tar.

The upper directory of a container's writable layer *is* the change the
container made: new and changed files, whiteouts (0:0 character devices) for
deleted ones, ``trusted.overlay.opaque=y`` on directories whose lower content
is hidden. :func:`write_layer` turns it into a tar the way Docker's overlay2
``Diff`` does: whiteouts as ``.wh.NAME``, opaque directories with a
``.wh..wh..opq`` entry, overlayfs' own ``trusted.overlay.*`` attributes left
out, other xattrs (``security.capability``...) kept, hard links kept as tar
links, mtimes in whole seconds (clamped to SOURCE_DATE_EPOCH when given),
owners as numbers.

This is only right when overlayfs wrote a plain upper directory: with
``redirect_dir`` a renamed directory is a redirect to the lower one, with
``metacopy`` a changed mode leaves the data below. pyctr mounts build
containers with both off (see :func:`check_plain_upper`).

Before the tar, :func:`remove_stubs` takes out what the runtime itself made
(mount points for /proc, /sys, /dev, /etc/hosts...), as BuildKit's stub
cleaner does, so none of it leaks into an image.
"""

from __future__ import annotations

import os
import stat
import tarfile

from pyctr.layers.create import add_node

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import IO


WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")
_CHUNK = 1 << 20

#: where the runtime mounts things in every container: their mount points are stubs
RUNTIME_TARGETS = ("/proc", "/sys", "/dev", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


class LayerInfo:
    __slots__ = ("size", "entries")

    def __init__(self) -> None:
        self.size = 0  # bytes of file data
        self.entries = 0


def _entries(top: str):  # noqa: ANN202  (a generator of (tar name, path, lstat))
    """Everything below ``top``, parents before children, each directory's entries in byte
    order: core.trees' walk (iterative, a bounded number of descriptors, never through a link);
    ``path`` goes through the directory's descriptor (/proc/self/fd), so a swapped-in link is
    not followed either."""
    from pyctr.core.trees import walk

    for level in walk(top, sort=True):
        prefix = level.path + "/" if level.path else ""
        here = f"/proc/self/fd/{level.fd}/"
        for name in sorted(level.dirs + level.files, key=lambda n: n.encode("utf-8", "surrogateescape")):
            try:
                st = os.stat(name, dir_fd=level.fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            yield prefix + name, here + name, st


def _xattrs(path: str) -> tuple[dict[str, str], bool]:
    """(the xattrs a layer carries, as PAX records; whether the directory is opaque)."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}, False
    pax: dict[str, str] = {}
    opaque = False
    for name in sorted(names):
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        if name in (OPAQUE_XATTR, "user.overlay.opaque"):  # (user.*: overlayfs mounted with userxattr, rootless)
            opaque = value == b"y"
            continue
        if name.startswith(_OVERLAY_XATTRS):
            continue
        pax["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return pax, opaque


def write_layer(upper: str, out: IO[bytes], *, epoch: int | None = None, skip: set[str] | None = None) -> LayerInfo:
    """Write the upper directory ``upper`` as a layer tar to ``out``.

    ``skip``: names left out when they are an empty file or directory (mount
    points a running container's runtime made, for ``commit``)."""
    info = LayerInfo()
    seen: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_CHUNK) as tf:
        for name, path, st in _entries(upper):
            if skip and name in skip and ((stat.S_ISREG(st.st_mode) and st.st_size == 0)
                                          or (stat.S_ISDIR(st.st_mode) and not os.listdir(path))):
                continue
            mtime = int(st.st_mtime)
            if epoch is not None and mtime > epoch:
                mtime = epoch
            mode = st.st_mode
            if stat.S_ISCHR(mode) and st.st_rdev == 0:
                parent, _, base = name.rpartition("/")
                wh = tarfile.TarInfo((parent + "/" if parent else "") + WHITEOUT_PREFIX + base)
                wh.mode = stat.S_IMODE(mode)
                wh.uid, wh.gid = st.st_uid, st.st_gid
                wh.uname = wh.gname = ""
                wh.mtime = mtime
                tf.addfile(wh)
                info.entries += 1
                continue
            ti = tarfile.TarInfo(name)
            ti.mode = stat.S_IMODE(mode)
            ti.uid, ti.gid = st.st_uid, st.st_gid
            ti.uname = ti.gname = ""
            ti.mtime = mtime
            pax, opaque = ({}, False) if stat.S_ISLNK(mode) else _xattrs(path)
            ti.pax_headers = pax
            info.entries += 1
            if stat.S_ISDIR(mode):
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
                if opaque:
                    op = tarfile.TarInfo(name + "/" + WHITEOUT_OPAQUE)
                    op.mtime = mtime
                    op.uname = op.gname = ""
                    tf.addfile(op)
            elif stat.S_ISLNK(mode):
                ti.type = tarfile.SYMTYPE
                ti.linkname = os.readlink(path)
                tf.addfile(ti)
            elif stat.S_ISREG(mode):
                ident = (st.st_dev, st.st_ino)
                if st.st_nlink > 1:
                    first = seen.get(ident)
                    if first is not None:
                        ti.type = tarfile.LNKTYPE
                        ti.linkname = first
                        tf.addfile(ti)
                        continue
                    seen[ident] = name
                ti.size = st.st_size
                info.size += st.st_size
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                with os.fdopen(fd, "rb") as f:
                    tf.addfile(ti, f)
            else:
                add_node(tf, ti, st)
    return info


class Stub:
    """A path the runtime would create as a mount point (it did not exist before)."""

    __slots__ = ("path", "parent_times")

    def __init__(self, path: str, parent_times: tuple[int, int] | None) -> None:
        self.path = path  # relative to the root, symlinks resolved
        self.parent_times = parent_times


def find_stubs(root: str, targets: list[str]) -> list[Stub]:
    """Before a container starts on ``root`` (the merged view): the missing components of
    each mount target (with the times of the directory above the first), to remove afterwards."""
    from pyctr.kernel.paths import secure_join

    stubs: list[Stub] = []
    seen: set[str] = set()
    for target in targets:
        resolved = secure_join(root, target)
        rel = os.path.relpath(resolved, root)
        if rel == "." or rel.startswith(".."):
            continue
        parts = rel.split("/")
        missing = False
        for i in range(1, len(parts) + 1):
            candidate = "/".join(parts[:i])
            if not missing and os.path.lexists(os.path.join(root, candidate)):
                continue
            times = None
            if not missing:  # the first missing one: its parent exists and will change
                missing = True
                parent = os.path.join(root, *parts[:i - 1]) if i > 1 else root
                try:
                    pst = os.stat(parent)
                    times = (pst.st_atime_ns, pst.st_mtime_ns)
                except OSError:
                    pass
            if candidate not in seen:
                seen.add(candidate)
                stubs.append(Stub(candidate, times))
    return stubs


def remove_stubs(upper: str, stubs: list[Stub]) -> None:
    """After the container: remove each stub from ``upper`` if it is still an empty
    directory or an empty file (a RUN that put files there keeps them), and give its
    parent back the times it had."""
    for stub in sorted(stubs, key=lambda s: s.path.count("/"), reverse=True):
        path = os.path.join(upper, stub.path)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        try:
            if stat.S_ISDIR(st.st_mode):
                os.rmdir(path)
            elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
                os.unlink(path)
            else:
                continue
        except OSError:
            continue
        parent = os.path.dirname(path)
        if stub.parent_times and os.path.isdir(parent):
            try:
                os.utime(parent, ns=stub.parent_times, follow_symlinks=False)
            except OSError:
                pass
