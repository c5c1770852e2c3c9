"""Safe layer extraction.

``tarfile`` is used only to parse headers (streaming ``r|`` mode) and to read
member data. Every filesystem operation is done here, relative to directory
file descriptors, because tarfile's own extraction filters have had bypasses
(CVE-2025-4517 and relatives).

How names are resolved (the same rules as containerd's ``pkg/archive``):

* A member name is cleaned lexically first (leading ``/`` dropped, ``.`` and
  ``..`` folded); a name that climbs above the root is refused.
* The parent directories are then walked one component at a time with
  ``O_PATH|O_NOFOLLOW`` opens relative to the previous directory's fd. A
  symlink met on the way is read and resolved *as if the layer root were /*:
  absolute targets restart at the root, ``..`` never goes above it. The kernel
  is never handed a ``..`` or a path with more than one component, so nothing
  outside the root can be reached, whatever symlinks earlier members made.
* The last component is always acted on with ``dir_fd=parent`` and without
  following symlinks.
* A hardlink may only point at something created earlier in the same layer
  (tracked by inode), and links to the entry itself: a symlink is linked, never
  followed.

Callers extract into a fresh directory and rename it into place on success
(:func:`extract_layer_atomic`), so a broken or malicious layer leaves nothing.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import tarfile
from pathlib import Path
from typing import IO, Literal

from pyctr.core.errors import ImageError
from pyctr.core.trees import remove_tree, remove_tree_at
from pyctr.layers.names import WHITEOUT_OPAQUE, WHITEOUT_PREFIX, clean_name, opaque_xattr, whiteout_target
from pyctr.layers.streams import HashingReader, open_layer_stream

_MAX_SYMLINK_HOPS = 40
_MAX_DEV = 0xFFFFFFFF
_CHUNK = 1 << 20
_TAR_BUFSIZE = 128 << 10  # see extract_layer
_O_PATH_DIR = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
#: directory descriptors one name resolution keeps open at most, however deep the name
_MAX_STACK_FDS = 32
#: how many components up open_dir looks for a cached directory to start from
_PREFIX_TRIES = 4

Whiteouts = Literal["overlay", "delete"]


# ---------------------------------------------------------- the extractor --
class _Extractor:
    def __init__(self, root_fd: int, whiteouts: Whiteouts, max_size: int | None, max_entries: int,
                 same_owner: bool, limit_name: str | None = None) -> None:
        self.root_fd = root_fd
        self.whiteouts = whiteouts
        self.max_size = max_size if max_size is not None else float("inf")
        self.limit_name = limit_name
        self.max_entries = max_entries
        self.same_owner = same_owner
        self.opaque = opaque_xattr()
        self.size = 0
        self.entries = 0
        # Inodes created (or re-declared, for directories) by this layer: the
        # only things a hardlink may point at, and what survives an opaque marker.
        self.made: set[tuple[int, int]] = set()
        self.dir_times: list[tuple[str, tuple[int, int], int]] = []
        self._dircache: dict[str, int] = {}
        st = os.fstat(root_fd)
        self.root_ident = (st.st_dev, st.st_ino)

    # -- resolution ---------------------------------------------------------
    def close(self) -> None:
        self._drop_cache()

    def _drop_cache(self) -> None:
        for fd in self._dircache.values():
            os.close(fd)
        self._dircache.clear()

    def open_dir(self, rel: str, create: bool, strict: bool = True) -> int | None:
        """An O_PATH fd of directory ``rel`` resolved inside the root (caller closes).

        Missing components are created (0755) when ``create``; otherwise None.
        A component that is not a directory is an error when ``create`` and
        ``strict``, else None.
        """
        cached = self._dircache.get(rel)
        if cached is not None:
            return os.dup(cached)
        # a deep tree's members come parent first: the directory a few components up is
        # usually cached, and resolving from there keeps a 10,000-deep layer linear
        start, rest = None, rel
        prefix = rel
        for _ in range(_PREFIX_TRIES):
            prefix, sep, _last = prefix.rpartition("/")
            if not sep:
                break
            hit = self._dircache.get(prefix)
            if hit is not None:
                start, rest = hit, rel[len(prefix) + 1:]
                break
        fd = self._walk(rest, create, strict, start=start)
        if fd is not None and rel:
            if len(self._dircache) >= 64:
                self._drop_cache()
            self._dircache[rel] = os.dup(fd)
        return fd

    def _walk(self, rel: str, create: bool, strict: bool = True, start: int | None = None) -> int | None:
        """Resolve ``rel`` from the root (or from ``start``, a directory already resolved inside it).

        A stack of the directories passed, of which only the last ``_MAX_STACK_FDS`` stay open:
        a ``..`` that pops to a closed one reopens it as the kernel's ``..`` of the directory
        just left, which (that directory being inside the root and not the root) is inside
        the root. At the root, ``..`` stays at the root.
        """
        stack = [os.dup(self.root_fd if start is None else start)]
        pending = [c for c in rel.split("/") if c] if rel else []
        pending.reverse()  # a stack: pop() takes the next component
        hops = 0
        try:
            while pending:
                comp = pending.pop()
                if comp == ".":
                    continue
                if comp == "..":
                    self._up(stack)
                    continue
                cur = stack[-1]
                try:
                    fd = os.open(comp, _O_PATH_DIR, dir_fd=cur)
                except FileNotFoundError:
                    if not create:
                        return None
                    try:
                        os.mkdir(comp, 0o755, dir_fd=cur)
                    except FileExistsError:
                        pass
                    fd = os.open(comp, _O_PATH_DIR, dir_fd=cur)
                st = os.fstat(fd)
                if stat.S_ISDIR(st.st_mode):
                    stack.append(fd)
                    if len(stack) > _MAX_STACK_FDS:
                        old = len(stack) - _MAX_STACK_FDS - 1
                        if stack[old] >= 0:
                            os.close(stack[old])
                            stack[old] = -1
                    continue
                if stat.S_ISLNK(st.st_mode):
                    os.close(fd)
                    hops += 1
                    if hops > _MAX_SYMLINK_HOPS:
                        raise ImageError(f"too many levels of symlinks resolving {rel!r} in layer")
                    target = os.readlink(comp, dir_fd=cur)
                    if target.startswith("/"):
                        for f in stack:
                            if f >= 0:
                                os.close(f)
                        stack[:] = [os.dup(self.root_fd)]
                    parts = [c for c in target.split("/") if c]
                    pending.extend(reversed(parts))
                    continue
                os.close(fd)
                if not (create and strict):
                    return None
                raise ImageError(f"layer path {rel!r}: {comp!r} is not a directory")
            return stack.pop()
        finally:
            for f in stack:
                if f >= 0:
                    os.close(f)

    def _is_root(self, fd: int) -> bool:
        st = os.fstat(fd)
        return (st.st_dev, st.st_ino) == self.root_ident

    def _up(self, stack: list[int]) -> None:
        """``..`` on the resolution stack, never above the root."""
        cur = stack[-1]
        if len(stack) > 1 and stack[-2] >= 0:
            os.close(stack.pop())
            return
        if self._is_root(cur):
            return  # the root's ".." is the root
        parent = os.open("..", _O_PATH_DIR, dir_fd=cur)
        os.close(stack.pop())
        if stack:
            stack[-1] = parent  # it was closed (-1): now open again
        else:
            stack.append(parent)

    def parent_of(self, rel: str, create: bool = True) -> tuple[int | None, str]:
        parent, base = posixpath.split(rel)
        return self.open_dir(parent, create), base

    # -- helpers --------------------------------------------------------------
    def _lstat(self, pfd: int, base: str) -> os.stat_result | None:
        try:
            return os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def _remove(self, pfd: int, base: str, st: os.stat_result) -> None:
        self._drop_cache()
        if stat.S_ISDIR(st.st_mode):
            # iterative, never follows links (shutil.rmtree recursion-errors on a deep tree)
            failed = remove_tree_at(pfd, base)
            if failed:
                raise OSError(errno.ENOTEMPTY, f"cannot remove {failed[0][0]}: {failed[0][1]}")
        else:
            os.unlink(base, dir_fd=pfd)
        self.made.discard((st.st_dev, st.st_ino))

    def _owner(self, ti: tarfile.TarInfo, pfd: int, base: str, fd: int | None = None) -> None:
        if not self.same_owner:
            return
        try:
            if fd is not None:
                os.fchown(fd, ti.uid, ti.gid)
            else:
                os.chown(base, ti.uid, ti.gid, dir_fd=pfd, follow_symlinks=False)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
            # Only in a user namespace: the owner is not one of its ids
            raise ImageError(_unmapped_owner(ti)) from None

    def _xattrs(self, ti: tarfile.TarInfo, target: int | str) -> None:
        for key, value in (ti.pax_headers or {}).items():
            if not key.startswith("SCHILY.xattr."):
                continue
            name = key[len("SCHILY.xattr."):]
            # overlayfs metadata from a stranger could redirect lookups; only
            # pyctr itself sets trusted.overlay.* / user.overlay.* (opaque markers).
            if name.startswith(("trusted.overlay.", "user.overlay.")) or not name:
                continue
            raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
            try:
                if isinstance(target, int):
                    os.setxattr(target, name, raw)
                else:
                    os.setxattr(target, name, raw, follow_symlinks=False)
            except OSError as e:
                if e.errno not in (errno.ENOTSUP, errno.EPERM, errno.EOPNOTSUPP):
                    raise

    @staticmethod
    def _mtime_ns(ti: tarfile.TarInfo) -> int:
        return int(ti.mtime * 1_000_000_000)

    # -- entries --------------------------------------------------------------
    def apply(self, ti: tarfile.TarInfo, tf: tarfile.TarFile) -> None:
        self.entries += 1
        if self.entries > self.max_entries:
            raise ImageError(f"layer has more than {self.max_entries} entries")
        rel = clean_name(ti.name)
        base = posixpath.basename(rel)

        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(rel, base, ti)
            return
        if rel == "":
            if ti.isdir():
                self._root_dir(ti)
                return
            raise ImageError(f"layer entry {ti.name!r} would replace the layer root")

        if ti.ischr() or ti.isblk():
            if not (0 <= ti.devmajor <= _MAX_DEV and 0 <= ti.devminor <= _MAX_DEV):
                raise ImageError(f"layer entry {ti.name!r}: device number out of range")

        pfd, base = self.parent_of(rel, create=True)
        assert pfd is not None
        try:
            self._entry(ti, tf, rel, pfd, base)
        finally:
            os.close(pfd)

    def _root_dir(self, ti: tarfile.TarInfo) -> None:
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.root_fd)
        try:
            self._owner(ti, -1, "", fd)
            os.fchmod(fd, ti.mode & 0o7777)
            self._xattrs(ti, fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        self.dir_times.append(("", (st.st_dev, st.st_ino), self._mtime_ns(ti)))

    def _entry(self, ti: tarfile.TarInfo, tf: tarfile.TarFile, rel: str, pfd: int, base: str) -> None:
        old = self._lstat(pfd, base)
        if old is not None and not (ti.isdir() and stat.S_ISDIR(old.st_mode)):
            self._remove(pfd, base, old)

        mt = self._mtime_ns(ti)
        if ti.isdir():
            if old is None or not stat.S_ISDIR(old.st_mode):
                os.mkdir(base, 0o700, dir_fd=pfd)
            fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
            try:
                self._owner(ti, pfd, base, fd)
                os.fchmod(fd, ti.mode & 0o7777)
                self._xattrs(ti, fd)
                st = os.fstat(fd)
            finally:
                os.close(fd)
            self.made.add((st.st_dev, st.st_ino))
            self.dir_times.append((rel, (st.st_dev, st.st_ino), mt))
        elif ti.isreg():
            self.size += ti.size
            if self.size > self.max_size:
                why = f" (the {self.limit_name} setting)" if self.limit_name else ""
                raise ImageError(f"layer unpacks to more than {self.max_size} bytes{why}")
            fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=pfd)
            try:
                src = tf.extractfile(ti)
                left = ti.size
                while left > 0 and src is not None:
                    chunk = src.read(min(_CHUNK, left))
                    if not chunk:
                        raise ImageError(f"layer is truncated inside {ti.name!r}")
                    _write_all(fd, chunk)
                    left -= len(chunk)
                self._owner(ti, pfd, base, fd)
                os.fchmod(fd, ti.mode & 0o7777)
                self._xattrs(ti, fd)
                os.utime(fd, ns=(mt, mt))
                st = os.fstat(fd)
            finally:
                os.close(fd)
            self.made.add((st.st_dev, st.st_ino))
        elif ti.issym():
            os.symlink(ti.linkname, base, dir_fd=pfd)
            self._owner(ti, pfd, base)
            os.utime(base, ns=(mt, mt), dir_fd=pfd, follow_symlinks=False)
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
            self.made.add((st.st_dev, st.st_ino))
        elif ti.islnk():
            self._hardlink(ti, pfd, base)
        elif ti.ischr() or ti.isblk() or ti.isfifo():
            kind = stat.S_IFCHR if ti.ischr() else stat.S_IFBLK if ti.isblk() else stat.S_IFIFO
            dev = os.makedev(ti.devmajor, ti.devminor) if kind != stat.S_IFIFO else 0
            try:
                os.mknod(base, kind | 0o600, dev, dir_fd=pfd)
            except PermissionError:
                if kind != stat.S_IFIFO and _in_user_namespace():
                    # As Docker's and podman's extraction in a user namespace: no device
                    # can be made there, and a container there could not use one anyway.
                    return
                raise ImageError(f"layer entry {ti.name!r}: cannot create device node (needs CAP_MKNOD)") from None
            self._special_meta(ti, pfd, base, mt)
        else:
            raise ImageError(f"layer entry {ti.name!r} has unsupported type {ti.type!r}")

    def _special_meta(self, ti: tarfile.TarInfo, pfd: int, base: str, mt: int) -> None:
        # A node just made by mknod is not a symlink, so following it is
        # harmless; O_PATH fds cannot be fchmod'ed and opening a FIFO blocks.
        self._owner(ti, pfd, base)
        os.chmod(base, ti.mode & 0o7777, dir_fd=pfd)
        self._xattrs(ti, f"/proc/self/fd/{pfd}/{base}")
        os.utime(base, ns=(mt, mt), dir_fd=pfd, follow_symlinks=False)
        st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        self.made.add((st.st_dev, st.st_ino))

    def _hardlink(self, ti: tarfile.TarInfo, pfd: int, base: str) -> None:
        trel = clean_name(ti.linkname)
        if trel == "":
            raise ImageError(f"hardlink {ti.name!r} points at the layer root")
        tpfd, tbase = self.parent_of(trel, create=False)
        if tpfd is None:
            raise ImageError(f"hardlink {ti.name!r} -> {ti.linkname!r}: target not in this layer")
        try:
            st = self._lstat(tpfd, tbase)
            if st is None or (st.st_dev, st.st_ino) not in self.made or stat.S_ISDIR(st.st_mode):
                raise ImageError(f"hardlink {ti.name!r} -> {ti.linkname!r}: target not in this layer")
            # follow_symlinks=False: link the symlink itself, never its target.
            os.link(tbase, base, src_dir_fd=tpfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tpfd)

    def _whiteout(self, rel: str, base: str, ti: tarfile.TarInfo) -> None:
        parent = posixpath.dirname(rel)
        if base == WHITEOUT_OPAQUE:
            self._opaque(parent)
            return
        if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # other AUFS metadata (.wh..wh.plnk and friends): ignored like Docker
        target = whiteout_target(base, ti.name)
        if self.whiteouts == "overlay":
            # Under a non-directory there is nothing left to hide (umoci writes
            # "opt" then "opt/.wh.keep" when a directory became a file).
            pfd = self.open_dir(parent, create=True, strict=False)
            if pfd is None:
                return
            try:
                old = self._lstat(pfd, target)
                if old is not None:
                    self._remove(pfd, target, old)
                try:
                    os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
                except PermissionError:
                    raise ImageError("cannot create overlay whiteout (needs CAP_MKNOD)") from None
                if self.same_owner:
                    os.chown(target, 0, 0, dir_fd=pfd, follow_symlinks=False)
                st = os.stat(target, dir_fd=pfd, follow_symlinks=False)
                self.made.add((st.st_dev, st.st_ino))
            finally:
                os.close(pfd)
            return
        pfd = self.open_dir(parent, create=False)
        if pfd is None:
            return  # nothing there to delete
        try:
            old = self._lstat(pfd, target)
            if old is not None:
                self._remove(pfd, target, old)
        finally:
            os.close(pfd)

    def _opaque(self, parent: str) -> None:
        pfd = self.open_dir(parent, create=True, strict=False)
        if pfd is None:
            return  # not a directory (any more): nothing below it to hide
        try:
            dfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=pfd)
        finally:
            os.close(pfd)
        try:
            if self.whiteouts == "overlay":
                os.setxattr(dfd, self.opaque, b"y")
            else:
                self._clear_lower(dfd)
        finally:
            os.close(dfd)

    def _clear_lower(self, dfd: int) -> bool:
        """Remove what lower layers put in this directory; keep this layer's entries.

        A lower directory that holds entries of this layer (its parent was
        implied, not declared) is kept with just those. Returns whether
        anything is left. Bottom-up and iterative: any depth.
        """
        from pyctr.core.trees import walk

        kept: set[tuple[int, int]] = set()  # directories that keep something of this layer
        self._drop_cache()
        for level in walk(dfd, topdown=False):
            keeps = False
            for name in level.files:
                st = os.stat(name, dir_fd=level.fd, follow_symlinks=False)
                if (st.st_dev, st.st_ino) in self.made:
                    keeps = True
                else:
                    os.unlink(name, dir_fd=level.fd)
                    self.made.discard((st.st_dev, st.st_ino))
            for name in level.dirs:
                st = os.stat(name, dir_fd=level.fd, follow_symlinks=False)
                ident = (st.st_dev, st.st_ino)
                if ident in kept or ident in self.made:
                    keeps = True
                else:
                    os.rmdir(name, dir_fd=level.fd)
            if keeps:
                kept.add((level.dev, level.ino))
        st = os.fstat(dfd)
        return (st.st_dev, st.st_ino) in kept

    def finish(self) -> None:
        """Directory mtimes last, after their contents stopped changing: one bottom-up walk of
        the layer, each directory matched by inode (any depth, linear time)."""
        from pyctr.core.trees import walk

        self._drop_cache()
        times = {ident: mt for _rel, ident, mt in self.dir_times}
        if not times:
            return
        for level in walk(self.root_fd, topdown=False):
            for name in level.dirs:
                st = os.stat(name, dir_fd=level.fd, follow_symlinks=False)
                mt = times.get((st.st_dev, st.st_ino))
                if mt is not None:
                    os.utime(name, ns=(mt, mt), dir_fd=level.fd, follow_symlinks=False)
        mt = times.get(self.root_ident)
        if mt is not None:
            os.utime(self.root_fd, ns=(mt, mt))


class _TarInfo(tarfile.TarInfo):
    """Remembers, on the TarFile, why the header read that ended the archive failed.

    tarfile's ``next()`` returns None (the end) not only after the zero block
    that marks the end of an archive but also at a clean EOF, after a short
    header and after a header with a bad checksum, so a layer cut at a member
    boundary (or corrupted in a header) would unpack as a shorter layer. Go's
    archive/tar, which Docker uses, refuses the bad header; we refuse all
    three: the end must be a zero block (one is enough, as for GNU tar).
    """

    @classmethod
    def fromtarfile(cls, tf: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tf)
        except tarfile.HeaderError as e:
            tf.pyctr_end = e  # type: ignore[attr-defined]
            raise


def _in_user_namespace() -> bool:
    from pyctr.core import rootless

    return rootless.in_user_namespace()


def _unmapped_owner(ti: tarfile.TarInfo) -> str:
    from pyctr.core import rootless

    what = f"layer entry {ti.name!r} belongs to uid {ti.uid}, gid {ti.gid}"
    if rootless.single_mapping():
        return (f"{what}, but only id 0 exists in your rootless user namespace (no /etc/subuid and /etc/subgid "
                "range for your account): ask for one (usermod --add-subuids/--add-subgids), then pyctr system migrate")
    return f"{what}, which is beyond your /etc/subuid or /etc/subgid range: ask for a larger one (65536 ids)"


_UNTERMINATED = ("layer truncated: no end-of-archive marker after the last member "
                 "(accepted only when the layer's digest verifies every byte)")


def _check_end(tf: tarfile.TarFile, verified: bool) -> None:
    """After ``next()`` returned None: a layer whose end is not a zero block is an error, unless
    the stream simply stopped at a member boundary and a digest verifies it (umoci writes such
    layers; containers/storage and containerd accept them)."""
    end = getattr(tf, "pyctr_end", None)
    if isinstance(end, tarfile.EOFHeaderError):
        return
    if isinstance(end, tarfile.EmptyHeaderError) and verified:
        return
    if isinstance(end, tarfile.InvalidHeaderError):
        raise ImageError(f"broken layer: invalid tar header at offset {tf.offset}")
    raise ImageError(_UNTERMINATED)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# ------------------------------------------------------------- public API --
def extract_layer(stream: IO[bytes], dest: str | os.PathLike[str], *, whiteouts: Whiteouts = "overlay",
                  max_size: int | None = 8 << 30, max_entries: int = 2_000_000,
                  diff_id: str | None = None, same_owner: bool | None = None,
                  verified: bool | None = None, limit_name: str | None = None) -> int:
    """Unpack one layer blob (gzip, zstd or plain tar) into the directory ``dest``.

    Nothing outside ``dest`` is ever touched. ``whiteouts="overlay"`` turns
    ``.wh.NAME`` into a 0:0 character device and ``.wh..wh..opq`` into the
    ``trusted.overlay.opaque=y`` xattr (for an overlay2 ``diff/``);
    ``"delete"`` removes what they name from ``dest`` (for a vfs layer that
    starts as a copy of its parent). With ``diff_id`` the uncompressed stream
    must hash to it. ``same_owner`` (default: running as root) applies the
    tar's uid/gid. ``verified`` (default: a ``diff_id`` is given) accepts a
    layer whose only defect is a missing end: no zero block after the last
    member, or the last member's data not padded to 512 bytes (umoci writes
    such layers); a member whose data is short is refused regardless.
    ``max_size`` bounds the file data unpacked (None: no bound); the refusal
    names ``limit_name``, the setting a user would change, when there is one.

    Returns the number of bytes of file data unpacked. Raises
    :class:`ImageError` for a broken, truncated, oversized or hostile layer;
    ``dest`` is then half-written and the caller must delete it: extract into
    a fresh temporary directory and rename on success, as
    :func:`extract_layer_atomic` does.
    """
    if whiteouts not in ("overlay", "delete"):
        raise ValueError(f"whiteouts must be 'overlay' or 'delete', not {whiteouts!r}")
    if same_owner is None:
        same_owner = os.geteuid() == 0
    if verified is None:
        verified = diff_id is not None
    import zlib

    root_fd = os.open(os.fspath(dest), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    ex = _Extractor(root_fd, whiteouts, max_size, max_entries, same_owner, limit_name)
    try:
        raw = HashingReader(open_layer_stream(stream))
        try:
            raw.header_phase()  # opening already reads the first member's header
            # bufsize: tarfile's stream mode reads 10 KiB records by default, which
            # costs a Python call per record; much larger buffers cost a copy of
            # the buffer per header read. 128 KiB measured best.
            with tarfile.open(fileobj=raw, mode="r|", errorlevel=2, bufsize=_TAR_BUFSIZE,  # type: ignore[call-overload]
                              tarinfo=_TarInfo) as tf:
                # next() rather than iteration: tarfile keeps every member in
                # tf.members, which for a 2M-entry layer would be gigabytes.
                while True:
                    raw.header_phase()
                    try:
                        ti = tf.next()
                    except tarfile.ReadError as e:
                        # the previous member's data was read in full (apply did), so the
                        # stream ended in its padding: only the end is missing
                        if not (verified and str(e) == "unexpected end of data"):
                            if str(e) == "unexpected end of data":
                                raise ImageError(_UNTERMINATED) from None
                            raise
                        break
                    raw.data_phase()
                    if ti is None:
                        _check_end(tf, bool(verified))
                        break
                    ex.apply(ti, tf)
                    tf.members.clear()
            raw.drain()  # tar padding after the end marker is part of the diff_id
        except (tarfile.TarError, EOFError, zlib.error) as e:
            raise ImageError(f"broken layer: {e or type(e).__name__}") from None
        except OSError as e:
            if e.errno is None:  # gzip.BadGzipFile and other format errors
                raise ImageError(f"broken layer: {e}") from None
            # Hostile names end here too (ELOOP, ENOTDIR, EEXIST...), and so do
            # disk-full and read-only filesystems: one line either way.
            where = f" ({e.filename})" if e.filename else ""
            raise ImageError(f"cannot unpack layer: {e.strerror}{where}") from None
        if diff_id is not None and raw.digest != diff_id:
            raise ImageError(f"layer content {raw.digest} does not match diff_id {diff_id}")
        ex.finish()
        return ex.size
    finally:
        ex.close()
        os.close(root_fd)


def extract_layer_atomic(stream: IO[bytes], final_dir: str | os.PathLike[str], *, sync: bool = False,
                         **kwargs) -> int:
    """:func:`extract_layer` into a temporary sibling of ``final_dir``, renamed into place on success.

    On any failure the temporary directory is removed and ``final_dir`` does
    not exist. ``final_dir`` must not exist yet. A killed process never leaves
    a half layer under the final name; ``sync=True`` also makes the data
    durable before the rename (``syncfs``: costly on a busy filesystem, so
    off by default, as in Docker and containers/storage).
    """
    final = Path(final_dir)
    if final.exists():
        raise ImageError(f"{final} already exists")
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    tmp.mkdir(mode=0o755)
    try:
        size = extract_layer(stream, tmp, **kwargs)
        if sync:
            _syncfs(tmp)  # the layer's data is on disk before its name says it is complete
        os.rename(tmp, final)
        fd = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return size
    except BaseException:
        remove_tree(tmp)
        raise


def remove_stale_extractions(parent: str | os.PathLike[str]) -> list[Path]:
    """Delete temporary dirs left in ``parent`` by :func:`extract_layer_atomic` runs that were killed.

    Only ``.NAME.tmp-PID-RANDOM`` directories whose PID is no longer alive are
    removed (for ``system check`` / the next start). Returns what was removed.
    """
    removed = []
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        return removed
    for name in names:
        if not name.startswith(".") or ".tmp-" not in name:
            continue
        try:
            pid = int(name.rsplit(".tmp-", 1)[1].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid():
            try:
                os.kill(pid, 0)
                continue  # still running (or another process reused the PID): leave it
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
        else:
            continue
        path = Path(parent) / name
        remove_tree(path)
        removed.append(path)
    return removed


def _syncfs(path: Path) -> None:
    import ctypes

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)
