"""Walking, measuring and removing directory trees that strangers built.

A layer's tree comes from an image, so its shape is the image author's:
10,000 directories deep, or 100,000 entries in one directory, must neither
exhaust the stack (``os.walk``/``os.fwalk``/``shutil.rmtree`` recurse on
Python 3.11 and ``fwalk`` holds one descriptor per level) nor the process's
file descriptors. Everything here is iterative, and keeps at most
``MAX_OPEN_FDS`` directory descriptors open however deep the tree:

* :func:`walk` yields each directory once, with a descriptor valid during
  the yield (``dir_fd=`` for the caller's own calls), top-down (the caller
  may prune ``dirs``) or bottom-up, names in byte order if asked. Symbolic
  links are listed, never followed; a directory swapped for a link during
  the walk is not entered (``O_NOFOLLOW``). Deeper than ``MAX_OPEN_FDS``, a
  parent's descriptor is closed on the way down and reopened on the way up
  through ``..``, checked against the device and inode seen on the way down
  (the walk stops with an error if the tree was moved under it).
* :func:`remove_tree` is ``rm -rf`` that reports what it could not remove
  instead of raising (an immutable file, a mount point, EROFS), so the caller
  can record it and retry later (``system prune``, ``system check --repair``).
  It never crosses into another filesystem (a stale bind mount's data is not
  ours to delete).
* :func:`disk_usage` sums apparent sizes, each hard-linked inode once.

The build issue's diff/commit walks use :func:`walk` (``sort=True`` gives
the byte order a reproducible tar wants).
"""

from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False  # (typing's import is ~3 ms of every command; annotations are strings here)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

#: directory descriptors one walk keeps open at most (a few more are open for a moment)
MAX_OPEN_FDS = 16

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class TreeChanged(OSError):
    """A directory was moved or replaced while it was being walked."""


class Level:
    """One directory of a walk. ``fd`` is valid only until the walk goes on."""

    __slots__ = ("_names", "dev", "dirs", "fd", "files", "ino", "_pending", "_parts")

    def __init__(self, fd: int, dev: int, ino: int, parts: list[str]) -> None:
        self.fd: int = fd
        self.dev = dev
        self.ino = ino
        self.dirs: list[str] = []
        #: every entry that is not a directory (files, links, devices, sockets, fifos)
        self.files: list[str] = []
        self._pending: list[str] = []
        self._parts = parts

    @property
    def depth(self) -> int:
        return len(self._parts)

    @property
    def path(self) -> str:
        """The directory's path relative to the walk's top ("" for the top)."""
        return "/".join(self._parts)


def _list(level: Level, sort: bool) -> None:
    with os.scandir(level.fd) as it:
        for entry in it:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            (level.dirs if is_dir else level.files).append(entry.name)
    if sort:
        key = _byte_key
        level.dirs.sort(key=key)
        level.files.sort(key=key)


def _byte_key(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def _open_top(top: str | os.PathLike[str] | int) -> tuple[int, bool]:
    if isinstance(top, int):
        return os.open(".", _DIR_FLAGS, dir_fd=top), True
    return os.open(top, _DIR_FLAGS), True


def walk(top: str | os.PathLike[str] | int, *, topdown: bool = True, sort: bool = False,
         one_filesystem: bool = False, onerror: Any = None) -> Iterator[Level]:
    """Every directory under ``top`` (a path or a directory descriptor), iteratively.

    ``onerror(OSError, relative path)`` is called for a directory that cannot
    be opened or listed (the walk goes on without it); without it the error is
    raised. With ``one_filesystem``, directories on another device are left
    out (reported to ``onerror`` as ``EXDEV``).
    """
    fd, _ = _open_top(top)
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    root_dev = st.st_dev
    first = Level(fd, st.st_dev, st.st_ino, [])
    stack: list[Level] = [first]
    try:
        try:
            _list(first, sort)
        except OSError as e:
            if onerror is None:
                raise
            onerror(e, "")
        if topdown:
            yield first
        first._pending = list(reversed(first.dirs))
        while stack:
            cur = stack[-1]
            if cur._pending:
                name = cur._pending.pop()
                parts = cur._parts + [name]
                try:
                    child_fd = os.open(name, _DIR_FLAGS, dir_fd=cur.fd)
                except OSError as e:
                    # gone, or no longer a directory (ELOOP: replaced by a link): not entered
                    if onerror is None:
                        raise
                    onerror(e, "/".join(parts))
                    continue
                cst = os.fstat(child_fd)
                if one_filesystem and cst.st_dev != root_dev:
                    os.close(child_fd)
                    err = OSError(errno.EXDEV, "another filesystem is mounted here")
                    if onerror is None:
                        raise err
                    onerror(err, "/".join(parts))
                    continue
                child = Level(child_fd, cst.st_dev, cst.st_ino, parts)
                try:
                    _list(child, sort)
                except OSError as e:
                    if onerror is None:
                        os.close(child_fd)
                        raise
                    onerror(e, child.path)
                # keep at most MAX_OPEN_FDS descriptors: the one that falls out of the window closes
                if len(stack) >= MAX_OPEN_FDS:
                    old = stack[len(stack) - MAX_OPEN_FDS]
                    if old.fd >= 0:
                        os.close(old.fd)
                        old.fd = -1
                stack.append(child)
                if topdown:
                    yield child
                child._pending = list(reversed(child.dirs))
                continue
            # every subdirectory done
            stack.pop()
            if stack and stack[-1].fd < 0:
                _reopen_parent(cur, stack[-1])
            if not topdown:
                yield cur
            os.close(cur.fd)
            cur.fd = -1
    finally:
        for level in stack:
            if level.fd >= 0:
                os.close(level.fd)
                level.fd = -1


def _reopen_parent(child: Level, parent: Level) -> None:
    fd = os.open("..", _DIR_FLAGS, dir_fd=child.fd)
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (parent.dev, parent.ino):
        os.close(fd)
        raise TreeChanged(errno.ESTALE, f"{parent.path or '.'} was moved while it was walked")
    parent.fd = fd


# ------------------------------------------------------------------ remove --
def remove_tree(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Remove ``path`` and everything below it; a missing path is fine.

    Returns what could not be removed as (path, reason) pairs, empty when all
    is gone. Never raises for a tree that resists; never follows a link;
    never descends into another filesystem.
    """
    path = os.fspath(path)
    failed: list[tuple[str, str]] = []

    def note(e: OSError, rel: str) -> None:
        failed.append((os.path.join(path, rel) if rel else path, e.strerror or str(e)))

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return failed
    except OSError as e:
        return [(path, e.strerror or str(e))]
    if not stat.S_ISDIR(st.st_mode):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            failed.append((path, e.strerror or str(e)))
        return failed
    try:
        _empty_levels(walk(path, topdown=False, one_filesystem=True, onerror=note), note, failed)
    except OSError as e:
        note(e, "")
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        if not failed:
            failed.append((path, e.strerror or str(e)))
    return failed


def remove_tree_at(dir_fd: int, name: str) -> list[tuple[str, str]]:
    """:func:`remove_tree` of ``name`` in the directory ``dir_fd`` (an ``O_PATH`` descriptor will do);
    a link or file named so is unlinked, never followed."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return []
    except (NotADirectoryError, OSError) as e:
        if isinstance(e, NotADirectoryError) or e.errno == errno.ELOOP:
            try:
                os.unlink(name, dir_fd=dir_fd)
                return []
            except OSError as e2:
                return [(name, e2.strerror or str(e2))]
        return [(name, e.strerror or str(e))]
    try:
        failed = _remove_below(fd, name)
    finally:
        os.close(fd)
    if not failed:
        try:
            os.rmdir(name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        except OSError as e:
            failed.append((name, e.strerror or str(e)))
    return failed


def _remove_below(fd: int, label: str) -> list[tuple[str, str]]:
    """Everything inside the directory ``fd`` (not the directory itself)."""
    failed: list[tuple[str, str]] = []

    def note(e: OSError, rel: str) -> None:
        failed.append((_join(label, rel), e.strerror or str(e)))

    try:
        _empty_levels(walk(fd, topdown=False, one_filesystem=True, onerror=note), note, failed)
    except OSError as e:
        note(e, "")
    return failed


def _empty_levels(levels: Iterable[Level], note: Callable[[OSError, str], None],
                  failed: list[tuple[str, str]]) -> None:
    """Unlink each level's files, then remove its subdirectories (emptied by the
    levels before it: the walk is bottom-up); what resists goes to ``note``."""
    for level in levels:
        for name in level.files:
            try:
                os.unlink(name, dir_fd=level.fd)
            except FileNotFoundError:
                pass
            except OSError as e:
                note(e, _join(level.path, name))
        for name in level.dirs:
            try:
                os.rmdir(name, dir_fd=level.fd)
            except FileNotFoundError:
                pass
            except NotADirectoryError:  # replaced by a file or link since it was listed
                try:
                    os.unlink(name, dir_fd=level.fd)
                except OSError as e:
                    note(e, _join(level.path, name))
            except OSError as e:
                # a directory left non-empty by a failure below it has been said already
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not failed:
                    note(e, _join(level.path, name))


def _join(a: str, b: str) -> str:
    return f"{a}/{b}" if a else b


# ------------------------------------------------------------------ measure --
def disk_usage(path: str | os.PathLike[str], *, one_filesystem: bool = True) -> tuple[int, int]:
    """(apparent bytes, entries) under ``path``; a hard-linked inode counts once, a missing path is 0."""
    total = count = 0
    seen: set[tuple[int, int]] = set()
    try:
        for level in walk(path, one_filesystem=one_filesystem, onerror=lambda e, rel: None):
            for name in level.files + level.dirs:
                try:
                    st = os.stat(name, dir_fd=level.fd, follow_symlinks=False)
                except OSError:
                    continue
                count += 1
                if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                total += st.st_size
    except (FileNotFoundError, NotADirectoryError):
        return 0, 0
    return total, count


# ------------------------------------------------------------------ staging --
def remove_dead_staging(home: str | os.PathLike[str], names: list[str], in_use: Any) -> tuple[list[str], list[str]]:
    """Remove the ``.tmp-`` entries of ``names`` under ``home`` that ``in_use(name)`` says no live
    process is building; returns (removed names, lines for what resisted: name, path, reason).

    What resists (an immutable file, a mount point) stays, under its ``.tmp-`` name, for the next
    ``system prune`` or ``system check --repair`` to retry: a leftover never makes the calling
    command fail. Entries of any type are handled (a planted file or link is unlinked, never followed).
    """
    removed: list[str] = []
    stuck: list[str] = []
    for name in names:
        if not name.startswith(".tmp-") or "/" in name:
            continue
        try:
            if in_use(name):
                continue
        except Exception:  # a name in_use cannot parse is nobody's
            pass
        failed = remove_tree(os.path.join(home, name))
        if failed:
            where, why = failed[0]
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            stuck.append(f"{name}: cannot remove {where}: {why}{more}")
        else:
            removed.append(name)
    return removed, stuck


# --------------------------------------------------------------------- copy --
class _CopyFrame:
    __slots__ = ("src", "dst", "names", "index", "src_ident", "dst_ident", "st")

    def __init__(self, src: int, dst: int, st: os.stat_result) -> None:
        self.src, self.dst, self.st = src, dst, st
        with os.scandir(src) as it:
            self.names = [e.name for e in it]
        self.index = 0
        self.src_ident = (st.st_dev, st.st_ino)
        dst_st = os.fstat(dst)
        self.dst_ident = (dst_st.st_dev, dst_st.st_ino)


def _meta_fd(fd: int, st: os.stat_result) -> None:
    try:
        os.fchown(fd, st.st_uid, st.st_gid)
    except OSError:
        pass  # a server that squashes root may refuse; the content is what matters
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _meta_at(dfd: int, name: str, st: os.stat_result, link: bool) -> None:
    try:
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dfd, follow_symlinks=False)
    except OSError:
        pass
    if not link:
        os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dfd)
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dfd, follow_symlinks=False)


def _reopen_up(frame: _CopyFrame, parent: _CopyFrame) -> None:
    for side, ident in (("src", parent.src_ident), ("dst", parent.dst_ident)):
        fd = os.open("..", _DIR_FLAGS, dir_fd=getattr(frame, side))
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != ident:
            os.close(fd)
            raise TreeChanged(errno.ESTALE, "a directory was moved while it was copied")
        setattr(parent, side, fd)


def copy_tree(src: str | os.PathLike[str] | int, dst: str | os.PathLike[str]) -> None:
    """Copy what is inside ``src`` into the existing directory ``dst`` (Docker's volume copy-up):
    directories, files, links, devices and fifos with owners, modes and times; ``dst``'s own
    metadata becomes ``src``'s. Links are copied, never followed. Iterative, at most
    ``MAX_OPEN_FDS`` descriptors per side however deep."""
    top_src = os.open(src, _DIR_FLAGS) if not isinstance(src, int) else os.open(".", _DIR_FLAGS, dir_fd=src)
    top_dst = os.open(dst, _DIR_FLAGS)
    stack = [_CopyFrame(top_src, top_dst, os.fstat(top_src))]
    try:
        while stack:
            cur = stack[-1]
            if cur.index == len(cur.names):
                # done with this directory: its metadata last (its mtime stops changing now)
                stack.pop()
                try:
                    _meta_fd(cur.dst, cur.st)
                except OSError:
                    if stack:
                        raise  # the volume's own directory: a server that squashes root may refuse
                if stack and stack[-1].src < 0:
                    _reopen_up(cur, stack[-1])
                os.close(cur.src)
                os.close(cur.dst)
                continue
            name = cur.names[cur.index]
            cur.index += 1
            s = os.stat(name, dir_fd=cur.src, follow_symlinks=False)
            mode = s.st_mode
            if stat.S_ISDIR(mode):
                os.mkdir(name, 0o700, dir_fd=cur.dst)
                child_src = os.open(name, _DIR_FLAGS, dir_fd=cur.src)
                child_dst = os.open(name, _DIR_FLAGS, dir_fd=cur.dst)
                stack.append(_CopyFrame(child_src, child_dst, s))
                if len(stack) > MAX_OPEN_FDS:
                    old = stack[len(stack) - MAX_OPEN_FDS - 1]
                    if old.src >= 0:
                        os.close(old.src)
                        os.close(old.dst)
                        old.src = old.dst = -1
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(name, dir_fd=cur.src), name, dir_fd=cur.dst)
                _meta_at(cur.dst, name, s, link=True)
            elif stat.S_ISREG(mode):
                fin = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur.src)
                try:
                    fout = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                   0o600, dir_fd=cur.dst)
                    try:
                        while True:
                            chunk = os.read(fin, 1 << 20)
                            if not chunk:
                                break
                            view = memoryview(chunk)
                            while view:
                                view = view[os.write(fout, view):]
                    finally:
                        os.close(fout)
                finally:
                    os.close(fin)
                _meta_at(cur.dst, name, s, link=False)
            elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                os.mknod(name, mode, s.st_rdev, dir_fd=cur.dst)
                _meta_at(cur.dst, name, s, link=False)
            # sockets are not copied
    finally:
        for frame in stack:
            for fd in (frame.src, frame.dst):
                if fd >= 0:
                    os.close(fd)
