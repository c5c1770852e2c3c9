"""COPY and ADD: files from the context, another stage or an archive, into a root.

The destination is resolved inside the target root (its symbolic links
followed as if the root were ``/``), so an image's links cannot send a COPY
out onto the host; every entry is then made relative to a directory file
descriptor with ``O_NOFOLLOW``. Context files become 0:0 unless ``--chown``
(names looked up in the target's own /etc/passwd and /etc/group); files from
another stage keep their owners. Modes, mtimes, xattrs and hard links within
one source are kept; parents that did not exist are made 0755 root.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator

from pyctr.build.errors import BuildError
from pyctr.build.ignore import clean
from pyctr.kernel.paths import secure_join

_CHUNK = 1 << 20
WHITEOUT_PREFIX = ".wh."


# ------------------------------------------------------------------ owners --
def _lookup(root: str, table: str, name: str) -> tuple[int, int] | None:
    """(id, primary gid or id) of ``name`` in the root's /etc/passwd or /etc/group."""
    try:
        path = secure_join(root, f"/etc/{table}")
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 3 and fields[0] == name:
                    gid = int(fields[3]) if table == "passwd" and len(fields) > 3 and fields[3].isdigit() else int(fields[2])
                    return int(fields[2]), gid
    except (OSError, ValueError):
        return None
    return None


def parse_chown(spec: str, root: str) -> tuple[int, int]:
    """``--chown=user[:group]`` with names from the target root; a user alone gives gid = uid."""
    user, sep, group = spec.partition(":")
    if not user:
        raise BuildError(f"invalid --chown {spec!r}")
    if user.isdigit():
        uid = int(user)
    else:
        found = _lookup(root, "passwd", user)
        if found is None:
            raise BuildError(f"unable to convert uid/gid chown string to host mapping: can't find uid for user {user}: "
                             "no such user")
        uid = found[0]
    if not sep:
        return uid, uid
    if group.isdigit():
        return uid, int(group)
    found = _lookup(root, "group", group)
    if found is None:
        raise BuildError(f"unable to convert uid/gid chown string to host mapping: can't find gid for group {group}: "
                         "no such group")
    return uid, found[0]


def parse_chmod(spec: str) -> Callable[[int, bool], int]:
    """``--chmod``: octal (``755``) or symbolic (``u+x,go-w``, ``a=rX``); a function of
    (current permission bits, is a directory) to the new ones."""
    if spec and all(c in "01234567" for c in spec):
        value = int(spec, 8)
        if value > 0o7777:
            raise BuildError(f"invalid --chmod {spec!r}")
        return lambda _mode, _is_dir: value
    clauses = []
    for clause in spec.split(","):
        i = 0
        who = ""
        while i < len(clause) and clause[i] in "ugoa":
            who += clause[i]
            i += 1
        if i >= len(clause) or clause[i] not in "+-=":
            raise BuildError(f"invalid --chmod {spec!r}: want octal or symbolic ([ugoa]*[+-=][rwxXst]*)")
        ops = []
        while i < len(clause) and clause[i] in "+-=":
            op = clause[i]
            i += 1
            perms = ""
            while i < len(clause) and clause[i] in "rwxXst":
                perms += clause[i]
                i += 1
            ops.append((op, perms))
        if i != len(clause):
            raise BuildError(f"invalid --chmod {spec!r}")
        clauses.append((who or "a", ops))

    def apply(mode: int, is_dir: bool) -> int:
        for who, ops in clauses:
            mask = 0
            if "u" in who or "a" in who:
                mask |= 0o4700
            if "g" in who or "a" in who:
                mask |= 0o2070
            if "o" in who or "a" in who:
                mask |= 0o0007
            for op, perms in ops:
                bits = 0
                for p in perms:
                    if p == "r":
                        bits |= 0o444
                    elif p == "w":
                        bits |= 0o222
                    elif p == "x" or (p == "X" and (is_dir or mode & 0o111)):
                        bits |= 0o111
                    elif p == "s":
                        bits |= 0o6000
                    elif p == "t":
                        bits |= 0o1000
                bits &= mask | (0o1000 if "t" in perms else 0)
                if op == "+":
                    mode |= bits
                elif op == "-":
                    mode &= ~bits
                else:
                    mode = (mode & ~(mask & 0o7777)) | bits
        return mode & 0o7777

    return apply


# ------------------------------------------------------------- destination --
def destination(dest: str, workdir: str) -> tuple[str, bool]:
    """(absolute cleaned destination, whether it names a directory by its trailing slash)."""
    is_dir = dest.endswith("/") or dest.endswith("/.") or dest in (".", "")
    if not dest.startswith("/"):
        dest = (workdir or "/").rstrip("/") + "/" + dest
    return clean(dest), is_dir


def resolve_user(user: str, root: str) -> tuple[int, int]:
    """USER's ``user[:group]`` as ids, names from the root's /etc/passwd and /etc/group; a user
    alone gets its primary group (0 when it is an id not listed), as the runtime would."""
    name, sep, group = user.partition(":")
    if not name:
        return 0, 0
    found = _lookup(root, "passwd", name) if not name.isdigit() else None
    if name.isdigit():
        uid = int(name)
        gid = 0
        try:
            with open(secure_join(root, "/etc/passwd"), encoding="utf-8", errors="replace") as f:
                for line in f:
                    fields = line.split(":")
                    if len(fields) > 3 and fields[2] == name and fields[3].isdigit():
                        gid = int(fields[3])
                        break
        except OSError:
            pass
    elif found is None:
        raise BuildError(f"unable to find user {name}: no matching entries in passwd file")
    else:
        uid, gid = found
    if sep:
        if group.isdigit():
            gid = int(group)
        else:
            g = _lookup(root, "group", group)
            if g is None:
                raise BuildError(f"unable to find group {group}: no matching entries in group file")
            gid = g[0]
    return uid, gid


def _mkdir_parents(root: str, rel: str, epoch: int | None, owner: tuple[int, int] = (0, 0)) -> None:
    """Make the missing directories of the root-relative ``rel`` (0755, owned by ``owner``:
    root, or the COPY's ``--chown`` as buildah and BuildKit do)."""
    path = root
    for part in [p for p in rel.split("/") if p]:
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
            os.chmod(path, 0o755)
            if owner != (0, 0):
                os.chown(path, *owner)
            if epoch is not None:
                os.utime(path, (epoch, epoch), follow_symlinks=False)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise BuildError(f"cannot make {rel}: a symbolic link is in the way")
        if not stat.S_ISDIR(st.st_mode):
            raise BuildError(f"cannot copy to {rel}: not a directory")


def resolve_in(root: str, path: str) -> str:
    """``path`` inside ``root`` with every link on the way resolved in the root; the host path."""
    return secure_join(root, path)


# ------------------------------------------------------------------ entries --
class Entry:
    """One thing to copy: where it comes from, where it goes relative to the destination base."""

    __slots__ = ("src", "rel", "st")

    def __init__(self, src: str, rel: str, st: os.stat_result) -> None:
        self.src = src  # host path
        self.rel = rel  # path below the destination base ("" = the base itself)
        self.st = st


class Copier:
    """Copies entries into one target root, applying owners and modes."""

    def __init__(self, root: str, owner: tuple[int, int] | None, chmod: Callable[[int, bool], int] | None,
                 epoch: int | None = None, parents_owner: tuple[int, int] = (0, 0)) -> None:
        self.root = os.path.realpath(root)
        self.owner = owner  # None: keep the source's
        self.parents_owner = parents_owner  # of the directories a copy has to make
        self.chmod = chmod
        self.epoch = epoch
        self.links: dict[tuple[int, int], str] = {}
        self.dir_times: list[tuple[str, int]] = []

    def base(self, dest: str) -> str:
        """The host path of the destination base, its missing parents made."""
        path = resolve_in(self.root, dest)
        rel = os.path.relpath(path, self.root)
        if rel.startswith(".."):
            raise BuildError(f"destination {dest} is outside the root")
        parent = os.path.dirname(rel) if rel != "." else ""
        if parent and parent != ".":
            _mkdir_parents(self.root, parent, self.epoch, self.parents_owner)
        return path

    def copy(self, entries: Iterator[Entry], base: str) -> None:
        for entry in entries:
            name = os.path.basename(entry.rel)
            if name.startswith(WHITEOUT_PREFIX):
                raise BuildError(f"{entry.rel}: a file whose name starts with {WHITEOUT_PREFIX} cannot be in an "
                                 "image layer (it would read as a deletion)")
            target = os.path.join(base, entry.rel) if entry.rel else base
            parent = os.path.dirname(target)
            if not os.path.isdir(parent):
                _mkdir_parents(self.root, os.path.relpath(parent, self.root), self.epoch, self.parents_owner)
            self._one(entry, target)
        self.finish()

    def _owner(self, st: os.stat_result) -> tuple[int, int]:
        return self.owner if self.owner is not None else (st.st_uid, st.st_gid)

    def _mode(self, st: os.stat_result) -> int:
        mode = stat.S_IMODE(st.st_mode)
        return self.chmod(mode, stat.S_ISDIR(st.st_mode)) if self.chmod else mode

    def _clear(self, target: str, want_dir: bool) -> bool:
        """Make room at ``target``; True when an existing directory is kept."""
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if want_dir:
                return True
            raise BuildError(f"cannot copy to {os.path.relpath(target, self.root)}: it is a directory")
        os.unlink(target)
        return False

    def _one(self, entry: Entry, target: str) -> None:
        st = entry.st
        mode = st.st_mode
        uid, gid = self._owner(st)
        mtime = st.st_mtime_ns
        if self.epoch is not None and mtime > self.epoch * 1_000_000_000:
            mtime = self.epoch * 1_000_000_000
        if stat.S_ISDIR(mode):
            if not self._clear(target, True):
                os.mkdir(target, 0o700)
            os.chown(target, uid, gid, follow_symlinks=False)
            os.chmod(target, self._mode(st))
            _copy_xattrs(entry.src, target)
            self.dir_times.append((target, mtime))
            return
        ident = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and not stat.S_ISDIR(mode):
            first = self.links.get(ident)
            if first is not None:
                self._clear(target, False)
                os.link(first, target, follow_symlinks=False)
                return
            self.links[ident] = target
        self._clear(target, False)
        if stat.S_ISREG(mode):
            _copy_file(entry.src, target)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(entry.src), target)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(target, 0o600)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            os.mknod(target, stat.S_IFMT(mode) | 0o600, st.st_rdev)
        else:
            return  # sockets are not copied (as Docker's context leaves them out)
        os.chown(target, uid, gid, follow_symlinks=False)
        if not stat.S_ISLNK(mode):
            os.chmod(target, self._mode(st))
            _copy_xattrs(entry.src, target)
        os.utime(target, ns=(mtime, mtime), follow_symlinks=False)

    def finish(self) -> None:
        """Directory times last, deepest first (their contents changed them meanwhile)."""
        for path, mtime in sorted(self.dir_times, key=lambda t: t[0].count("/"), reverse=True):
            os.utime(path, ns=(mtime, mtime), follow_symlinks=False)
        self.dir_times = []


def _copy_file(src: str, dst: str) -> None:
    fd_in = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(fd_in).st_size
            copied = 0
            try:
                while copied < size:
                    n = os.copy_file_range(fd_in, fd_out, size - copied)
                    if n == 0:
                        break
                    copied += n
            except OSError:
                copied = -1
            if copied != size:
                os.lseek(fd_in, 0, os.SEEK_SET)
                os.ftruncate(fd_out, 0)
                os.lseek(fd_out, 0, os.SEEK_SET)
                while chunk := os.read(fd_in, _CHUNK):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd_out, view):]
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)


def _copy_xattrs(src: str, dst: str) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        return
    for name in names:
        if name.startswith(("trusted.overlay.", "user.overlay.", "security.selinux", "system.")):
            continue
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
        except OSError:
            pass


def source_entries(context, src_root: str, rel: str, st: os.stat_result, base_rel: str) -> Iterator[Entry]:  # noqa: ANN001
    """Entries of one COPY source: a directory's contents (the directory itself as ``base_rel``),
    or the file; from the build context (through its .dockerignore) or another root."""
    from pyctr.build.context import Context

    ctx = Context(src_root) if src_root else context
    if not stat.S_ISDIR(st.st_mode):
        yield Entry(ctx.host_path(rel), base_rel, st)
        return
    for path, pst in ctx.walk(rel):
        sub = path[len(rel):].lstrip("/") if rel else path
        yield Entry(ctx.host_path(path), os.path.join(base_rel, sub) if sub else base_rel, pst)


# ------------------------------------------------------------------ checksums --
def checksum(entries: Iterator[Entry], owner: tuple[int, int] | None,
             chmod: Callable[[int, bool], int] | None) -> str:
    """What a COPY's result depends on, for the cache: each entry's relative path, type,
    mode and owner as they will be, size, link target, xattrs and content; no times."""
    from pyctr.build.context import hasher, xattrs_of

    h = hasher(0)
    for entry in entries:
        st = entry.st
        mode = st.st_mode
        uid, gid = owner if owner is not None else (st.st_uid, st.st_gid)
        perm = chmod(stat.S_IMODE(mode), stat.S_ISDIR(mode)) if chmod and not stat.S_ISLNK(mode) else stat.S_IMODE(mode)
        h.update(f"{entry.rel}\0{stat.S_IFMT(mode)}\0{perm}\0{uid}\0{gid}\0".encode("utf-8", "surrogateescape"))
        if stat.S_ISREG(mode):
            content = hasher(st.st_size)
            with open(entry.src, "rb") as f:
                while chunk := f.read(_CHUNK):
                    content.update(chunk)
            h.update(f"{st.st_size}\0{content.hexdigest()}".encode())
        elif stat.S_ISLNK(mode):
            h.update(os.readlink(entry.src).encode("utf-8", "surrogateescape"))
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            h.update(f"{st.st_rdev}".encode())
        if st.st_nlink > 1 and not stat.S_ISDIR(mode):
            h.update(f"\0link{st.st_ino}".encode())
        for name, value in xattrs_of(entry.src):
            h.update(name.encode() + b"\0" + value + b"\0")
        h.update(b"\n")
    return h.hexdigest()


# ------------------------------------------------------------------- archives --
_MAGICS = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


def is_archive(path: str) -> bool:
    """Whether ADD extracts this local file: a (compressed) tar, detected by content as Docker does."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    if head.startswith(_MAGICS[:3]):
        return _tar_inside(path, head)
    return len(head) == 512 and head[257:262] == b"ustar"


def _tar_inside(path: str, head: bytes) -> bool:
    """Whether a compressed file starts with a tar header (the first block is enough)."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 16)
        if head.startswith(b"\x1f\x8b"):
            import zlib

            block = zlib.decompressobj(31).decompress(data, 512)
        elif head.startswith(b"BZh"):
            import bz2

            block = bz2.BZ2Decompressor().decompress(data)[:512]
        else:
            import lzma

            block = lzma.LZMADecompressor().decompress(data, 512)
    except (OSError, EOFError, ValueError, LookupError, Exception):  # noqa: BLE001  (not an archive after all)
        return False
    return len(block) >= 262 and block[257:262] == b"ustar"


def extract_archive(path: str, target_dir: str) -> None:
    """Unpack a local archive into ``target_dir`` as a union (existing files replaced), safely
    (every name resolved inside ``target_dir``); names that would read as whiteouts are refused."""
    import tarfile

    try:
        with tarfile.open(path, "r:*") as tf:
            for ti in tf:
                if os.path.basename(ti.name.rstrip("/")).startswith(WHITEOUT_PREFIX):
                    raise BuildError(f"{os.path.basename(path)}: {ti.name}: a file whose name starts with "
                                     f"{WHITEOUT_PREFIX} cannot be in an image layer")
    except tarfile.TarError as e:
        raise BuildError(f"cannot read archive {os.path.basename(path)}: {e}") from None
    from pyctr.layers.extract import extract_layer

    with open(path, "rb") as raw:
        head = raw.read(6)
        raw.seek(0)
        if head.startswith(b"BZh"):
            import bz2

            stream = bz2.BZ2File(raw)
        elif head.startswith(b"\xfd7zXZ\x00"):
            import lzma

            stream = lzma.LZMAFile(raw)
        else:
            stream = raw  # plain or gzip: the layer reader knows them
        extract_layer(stream, target_dir, whiteouts="delete")
