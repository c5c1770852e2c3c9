"""A container's files from the host: ``diff``, ``export`` and ``cp``, never leaving its root.

Every path inside the container is opened with ``openat2(RESOLVE_IN_ROOT)``
from a descriptor of the container's root: its symbolic links (even ones a
running container swaps in while we work) are resolved as if that root were
``/``, so no link in the container can make ``cp`` read or write a host
file. Walks go one directory at a time, each opened again from the root with
``RESOLVE_NO_SYMLINKS``, and never follow links.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tarfile
from collections.abc import Iterator

from pyctr.images.store import image_store
from pyctr.build.errors import BuildError
from pyctr.core.errors import DriverError, NotFound, UsageError
from pyctr.kernel import linux
from pyctr.layers.create import add_node

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import IO

    from pyctr.core.container import Container
    from pyctr.core.engine import Engine

_DIR = os.O_RDONLY | os.O_DIRECTORY
_CHUNK = 1 << 20
_IN_ROOT = linux.RESOLVE_IN_ROOT | linux.RESOLVE_NO_MAGICLINKS
_NO_LINKS = _IN_ROOT | 0x04  # RESOLVE_NO_SYMLINKS


@contextlib.contextmanager
def container_root(engine: Engine, container: Container) -> Iterator[str]:
    """The container's merged root, mounted for the block when it was not (a stopped container)."""
    storage = engine.storage_for(container)
    merged = storage.metadata(container.id).get("MergedDir")
    was_mounted = bool(merged) and _is_mounted(merged)
    path = str(storage.get(container.id))
    try:
        yield path
    finally:
        if not was_mounted and container.status not in ("running", "paused"):
            storage.put(container.id)


def _is_mounted(path: str) -> bool:
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


class Root:
    """A directory fd standing for a container's ``/``."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, path: str, flags: int = os.O_PATH, *, follow: bool = True, mode: int = 0) -> int:
        """``path`` inside the root; links resolved in it (``follow=False``: the last one not)."""
        path = path.lstrip("/") or "."
        if not follow and path != ".":
            flags |= os.O_NOFOLLOW
        return linux.openat2(self.fd, path, flags, mode, _IN_ROOT)

    def open_dir_strict(self, rel: str) -> int:
        """A directory met by a walk: no link anywhere on its path (a swapped-in link fails)."""
        return linux.openat2(self.fd, rel.lstrip("/") or ".", _DIR, 0, _NO_LINKS)

    def resolve(self, path: str) -> str:
        """The root-relative path ``path`` resolves to (links followed inside the root)."""
        fd = self.open(path)
        try:
            real = os.readlink(f"/proc/self/fd/{fd}")
            top = os.readlink(f"/proc/self/fd/{self.fd}")
        finally:
            os.close(fd)
        if real == top:
            return ""
        if not real.startswith(top.rstrip("/") + "/"):
            raise OSError(errno.EXDEV, f"{path} resolved outside the container")
        return real[len(top.rstrip("/")) + 1:]


def _walk(root: Root, rel: str) -> Iterator[tuple[str, os.stat_result]]:
    """(root-relative path, lstat) of ``rel`` and everything below it, parents first, names in
    byte order; one directory at a time, never through a link."""
    parent, _, name = rel.rpartition("/")
    pfd = root.open_dir_strict(parent)
    try:
        st = os.stat(name, dir_fd=pfd, follow_symlinks=False) if name else os.fstat(pfd)
    finally:
        os.close(pfd)
    stack = [(rel, st)]
    while stack:
        path, st = stack.pop()
        yield path, st
        if not stat.S_ISDIR(st.st_mode):
            continue
        fd = root.open_dir_strict(path)
        try:
            names = sorted(os.listdir(fd), key=lambda s: s.encode("utf-8", "surrogateescape"), reverse=True)
            children = []
            for child in names:
                try:
                    children.append((f"{path}/{child}" if path else child,
                                     os.stat(child, dir_fd=fd, follow_symlinks=False)))
                except FileNotFoundError:
                    continue
        finally:
            os.close(fd)
        stack += children


def _open_file(root: Root, rel: str) -> int:
    parent, _, name = rel.rpartition("/")
    pfd = root.open_dir_strict(parent)
    try:
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
    finally:
        os.close(pfd)


def _tar_entry(tf: tarfile.TarFile, root: Root, rel: str, st: os.stat_result, name: str,
               links: dict[tuple[int, int], str]) -> None:
    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = int(st.st_mtime)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        ti.type = tarfile.DIRTYPE
        tf.addfile(ti)
    elif stat.S_ISLNK(mode):
        parent, _, base = rel.rpartition("/")
        pfd = root.open_dir_strict(parent)
        try:
            ti.linkname = os.readlink(base, dir_fd=pfd)
        finally:
            os.close(pfd)
        ti.type = tarfile.SYMTYPE
        tf.addfile(ti)
    elif stat.S_ISREG(mode):
        ident = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and ident in links:
            ti.type = tarfile.LNKTYPE
            ti.linkname = links[ident]
            tf.addfile(ti)
            return
        links[ident] = name
        fd = _open_file(root, rel)
        with os.fdopen(fd, "rb") as f:
            ti.size = os.fstat(f.fileno()).st_size
            tf.addfile(ti, f)
    else:
        add_node(tf, ti, st)


def write_tar(root: Root, rel: str, out: IO[bytes], top: str) -> None:
    """A tar of ``rel`` (a file or a tree) whose entries are named under ``top``."""
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_CHUNK) as tf:
        for path, st in _walk(root, rel):
            sub = path[len(rel):].lstrip("/") if rel else path
            name = "/".join(p for p in (top, sub) if p) or "."
            _tar_entry(tf, root, path, st, name, links)


# --------------------------------------------------------------------- export --
def export(engine: Engine, container: Container, out: IO[bytes]) -> None:
    """``pyctr export``: the container's whole filesystem as a tar."""
    with container_root(engine, container) as path, Root(path) as root:
        write_tar(root, "", out, "")


# ------------------------------------------------------------------------- diff --
def changes(engine: Engine, container: Container) -> list[tuple[str, str]]:
    """``pyctr diff``: (kind, path) with A added, C changed, D deleted, as Docker lists them,
    read from the writable layer's upper directory (runtime mount points left out)."""
    from pyctr.build.diff import OPAQUE_XATTR, RUNTIME_TARGETS

    storage = engine.storage_for(container)
    meta = storage.metadata(container.id)
    upper = meta.get("UpperDir")
    if not upper:
        raise UsageError(f"diff needs a storage driver with upper directories (this container uses {storage.name})")
    lowers = [p for p in meta.get("LowerDir", "").split(":") if p]

    def in_lower(rel: str) -> bool:
        for lower in lowers:
            path = os.path.join(lower, rel)
            if os.path.lexists(path):
                st = os.lstat(path)
                return not (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0)
            parent = os.path.dirname(rel)
            if parent and _opaque(os.path.join(lower, parent), OPAQUE_XATTR):
                return False
        return False

    stubs = {t.lstrip("/") for t in RUNTIME_TARGETS}
    out: list[tuple[str, str]] = []
    with Root(upper) as root:
        for rel, st in _walk(root, ""):
            if not rel:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append(("D", "/" + rel))
                continue
            if rel in stubs and not in_lower(rel) and (stat.S_ISDIR(st.st_mode) or st.st_size == 0):
                continue
            out.append(("C" if in_lower(rel) else "A", "/" + rel))
    # a directory is listed as changed only when something in it is (or it is new)
    listed = {p for _, p in out}
    kept = []
    for kind, path in out:
        if kind == "C" and os.path.isdir(os.path.join(upper, path.lstrip("/"))) \
                and not any(p.startswith(path + "/") for p in listed):
            st = os.lstat(os.path.join(upper, path.lstrip("/")))
            lower_st = next((os.lstat(os.path.join(lo, path.lstrip("/"))) for lo in lowers
                             if os.path.lexists(os.path.join(lo, path.lstrip("/")))), None)
            if lower_st is not None and (lower_st.st_mode, lower_st.st_uid, lower_st.st_gid) == \
                    (st.st_mode, st.st_uid, st.st_gid):
                continue
        kept.append((kind, path))
    return kept


def _opaque(path: str, xattr: str) -> bool:
    try:
        return os.getxattr(path, xattr, follow_symlinks=False) == b"y"
    except OSError:
        return False


# --------------------------------------------------------------------------- cp --
def copy_out(engine: Engine, container: Container, src: str, dest: str, *, follow: bool, archive: bool,
             stdout: IO[bytes] | None = None) -> None:
    """``pyctr cp CONTAINER:SRC DEST`` (``DEST`` ``-``: a tar on ``stdout``)."""
    with container_root(engine, container) as path, Root(path) as root:
        contents_only = src.endswith("/.") or src.endswith("/./")
        trimmed = src.rstrip("/") if src.strip("/") else "/"
        if contents_only:
            trimmed = trimmed[:-2] if trimmed.endswith("/.") else trimmed
        try:
            parent_rel = root.resolve(os.path.dirname(trimmed) or "/")
            base = os.path.basename(trimmed)
            rel = f"{parent_rel}/{base}" if parent_rel and base else (base or parent_rel)
            if follow or src.endswith("/"):
                rel = root.resolve(trimmed)
            pfd = root.open_dir_strict(os.path.dirname(rel))
            try:
                st = os.stat(os.path.basename(rel), dir_fd=pfd, follow_symlinks=False) if rel else os.fstat(pfd)
            finally:
                os.close(pfd)
        except FileNotFoundError:
            raise NotFound(f"Could not find the file {src} in container {container.name}") from None
        except OSError as e:
            raise UsageError(f"{src}: {e.strerror or e}") from None
        if src.endswith("/") and not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{src}: not a directory")
        name = os.path.basename(rel) or "."
        if dest == "-":
            write_tar(root, rel, stdout or os.fdopen(1, "wb", closefd=False), "" if contents_only else name)
            return
        _to_host(root, rel, st, dest, contents_only, archive)


def _to_host(root: Root, rel: str, st: os.stat_result, dest: str, contents_only: bool, archive: bool) -> None:
    """Docker's rules for where a copy lands on the host."""
    dest_exists = os.path.exists(dest)
    if stat.S_ISDIR(st.st_mode):
        if dest_exists and not os.path.isdir(dest):
            raise UsageError("cannot copy a directory to a file")
        target = dest if (not dest_exists or contents_only) else os.path.join(dest, os.path.basename(rel) or "root")
    else:
        if dest.endswith("/") and not dest_exists:
            raise UsageError(f"destination directory {dest} does not exist")
        target = os.path.join(dest, os.path.basename(rel)) if os.path.isdir(dest) else dest
        parent = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(parent):
            raise UsageError(f"destination directory {parent} does not exist")
    links: dict[tuple[int, int], str] = {}
    dirs: list[tuple[str, int]] = []
    uid, gid = os.getuid(), os.getgid()
    for path, est in _walk(root, rel):
        sub = path[len(rel):].lstrip("/") if rel else path
        host = os.path.join(target, sub) if sub else target
        mode = est.st_mode
        if stat.S_ISDIR(mode):
            if not os.path.isdir(host):
                os.mkdir(host, 0o700)
            dirs.append((host, est.st_mtime_ns))
        else:
            if os.path.lexists(host) and not os.path.isdir(host):
                os.unlink(host)
            ident = (est.st_dev, est.st_ino)
            if stat.S_ISREG(mode) and est.st_nlink > 1 and ident in links:
                os.link(links[ident], host)
                continue
            if stat.S_ISREG(mode):
                links[ident] = host
                fd = _open_file(root, path)
                with os.fdopen(fd, "rb") as src, open(host, "wb") as out:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
            elif stat.S_ISLNK(mode):
                parent, _, base = path.rpartition("/")
                pfd = root.open_dir_strict(parent)
                try:
                    os.symlink(os.readlink(base, dir_fd=pfd), host)
                finally:
                    os.close(pfd)
            elif stat.S_ISFIFO(mode):
                os.mkfifo(host, 0o600)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                os.mknod(host, stat.S_IFMT(mode) | 0o600, est.st_rdev)
            else:
                continue
        owner = (est.st_uid, est.st_gid) if archive else (uid, gid)
        os.chown(host, *owner, follow_symlinks=False)
        if not stat.S_ISLNK(mode):
            os.chmod(host, stat.S_IMODE(mode))
            os.utime(host, ns=(est.st_mtime_ns, est.st_mtime_ns))
    for host, mtime in reversed(dirs):
        os.utime(host, ns=(mtime, mtime))


def copy_in(engine: Engine, container: Container, src: str, dest: str, *, archive: bool, follow: bool = False,
            stdin: IO[bytes] | None = None) -> None:
    """``pyctr cp SRC CONTAINER:DEST`` (``SRC`` ``-``: a tar from ``stdin``, unpacked into DEST)."""
    with container_root(engine, container) as path, Root(path) as root:
        try:
            dest_rel = root.resolve(dest)
            dest_exists = True
        except FileNotFoundError:
            dest_exists = False
            parent = os.path.dirname(dest.rstrip("/")) or "/"
            try:
                parent_rel = root.resolve(parent)
            except FileNotFoundError:
                raise UsageError(f"destination directory {parent} does not exist in the container") from None
            name = os.path.basename(dest.rstrip("/"))
            dest_rel = f"{parent_rel}/{name}" if parent_rel else name
        dest_is_dir = dest_exists and _is_dir(root, dest_rel)
        if src == "-":
            if not dest_is_dir:
                raise UsageError(f"destination {dest} must be a directory in the container")
            fd = root.open_dir_strict(dest_rel)
            try:
                from pyctr.layers.extract import extract_layer

                extract_layer(stdin or os.fdopen(0, "rb", closefd=False), f"/proc/self/fd/{fd}",
                              whiteouts="delete", same_owner=True)
            finally:
                os.close(fd)
            return
        source = os.path.realpath(src) if follow else os.path.abspath(src)
        contents_only = src.endswith("/.") or src.endswith("/./")
        try:
            sst = os.stat(source) if follow else os.lstat(source)
        except FileNotFoundError:
            raise UsageError(f"could not find the file {src} on the host") from None
        if stat.S_ISDIR(sst.st_mode):
            if dest_exists and not dest_is_dir:
                raise UsageError("cannot copy a directory to a file")
            target = dest_rel if (not dest_exists or contents_only) else f"{dest_rel}/{os.path.basename(source)}".lstrip("/")
        else:
            if dest.endswith("/") and not dest_exists:
                raise UsageError(f"destination directory {dest} does not exist in the container")
            target = f"{dest_rel}/{os.path.basename(source)}".lstrip("/") if dest_is_dir else dest_rel
        _from_host(root, source, sst, target, archive)


def _is_dir(root: Root, rel: str) -> bool:
    try:
        os.close(root.open_dir_strict(rel))
        return True
    except OSError:
        return False


def _from_host(root: Root, source: str, sst: os.stat_result, target: str, archive: bool) -> None:
    """Write the host tree ``source`` at the root-relative ``target``; every directory opened
    from the root without following links, every entry made with ``O_NOFOLLOW``."""
    stack = [(source, sst, target)]
    links: dict[tuple[int, int], str] = {}
    dirs: list[tuple[str, int]] = []
    while stack:
        host, st, rel = stack.pop()
        parent, _, name = rel.rpartition("/")
        pfd = root.open_dir_strict(parent)
        try:
            mode = st.st_mode
            try:
                existing = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                existing = None
            if stat.S_ISDIR(mode):
                if existing is not None and not stat.S_ISDIR(existing.st_mode):
                    os.unlink(name, dir_fd=pfd)
                    existing = None
                if existing is None:
                    os.mkdir(name, 0o700, dir_fd=pfd)
                dirs.append((rel, st.st_mtime_ns))
                for child in sorted(os.listdir(host), reverse=True):
                    cpath = os.path.join(host, child)
                    stack.append((cpath, os.lstat(cpath), f"{rel}/{child}"))
            else:
                if existing is not None:
                    if stat.S_ISDIR(existing.st_mode):
                        raise UsageError(f"cannot overwrite directory /{rel} with a file")
                    os.unlink(name, dir_fd=pfd)
                ident = (st.st_dev, st.st_ino)
                if stat.S_ISREG(mode) and st.st_nlink > 1 and ident in links:
                    first_parent, _, first_name = links[ident].rpartition("/")
                    ffd = root.open_dir_strict(first_parent)
                    try:
                        os.link(first_name, name, src_dir_fd=ffd, dst_dir_fd=pfd, follow_symlinks=False)
                    finally:
                        os.close(ffd)
                    continue
                if stat.S_ISREG(mode):
                    links[ident] = rel
                    out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                  0o600, dir_fd=pfd)
                    with open(host, "rb") as f, os.fdopen(out, "wb") as o:
                        while chunk := f.read(_CHUNK):
                            o.write(chunk)
                elif stat.S_ISLNK(mode):
                    os.symlink(os.readlink(host), name, dir_fd=pfd)
                elif stat.S_ISFIFO(mode):
                    os.mkfifo(name, 0o600, dir_fd=pfd)
                elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                    os.mknod(name, stat.S_IFMT(mode) | 0o600, st.st_rdev, dir_fd=pfd)
                else:
                    continue
            owner = (st.st_uid, st.st_gid) if archive else (0, 0)
            os.chown(name, *owner, dir_fd=pfd, follow_symlinks=False)
            if not stat.S_ISLNK(mode):
                os.chmod(name, stat.S_IMODE(mode), dir_fd=pfd, follow_symlinks=False) \
                    if os.chmod in os.supports_follow_symlinks else _chmod_at(pfd, name, stat.S_IMODE(mode))
                if not stat.S_ISDIR(mode):
                    os.utime(name, ns=(st.st_mtime_ns, st.st_mtime_ns), dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(pfd)
    for rel, mtime in reversed(dirs):
        parent, _, name = rel.rpartition("/")
        pfd = root.open_dir_strict(parent)
        try:
            os.utime(name, ns=(mtime, mtime), dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(pfd)


def _chmod_at(pfd: int, name: str, mode: int) -> None:
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
    try:
        os.chmod(f"/proc/self/fd/{fd}", mode)
    finally:
        os.close(fd)


def commit_container(engine: Engine, container: Container, repository: str | None, changes: list[str],
                     message: str, author: str, pause: bool) -> str:
    """``pyctr commit``: the container's changes as a new layer on its image; the image id."""
    import copy
    import json
    import time

    from pyctr.build.imageconfig import config_bytes
    from pyctr.build.diff import RUNTIME_TARGETS, write_layer
    from pyctr.build.instructions import apply_changes
    from pyctr.images import reference
    from pyctr.images.store import chain_ids

    images = image_store(engine)
    try:
        image = images.resolve(container.image_id)
    except NotFound:
        raise UsageError(f"the image of container {container.name} is gone; cannot commit") from None
    tags = [str(reference.parse(repository))] if repository else []
    storage = engine.storage_for(container)
    meta = storage.metadata(container.id)
    upper = meta.get("UpperDir")
    if not upper:
        raise UsageError(f"commit needs a storage driver with upper directories (this container uses {storage.name})")
    spec = container.spec
    config = copy.deepcopy(image.config)
    cfg = config.setdefault("config", {})
    cfg["Env"] = list(spec.env)
    cfg["Cmd"] = list(spec.cmd) or None
    cfg["Entrypoint"] = list(spec.entrypoint) or None
    if spec.workdir and spec.workdir != "/":
        cfg["WorkingDir"] = spec.workdir
    if spec.user:
        cfg["User"] = spec.user
    if spec.labels:
        cfg["Labels"] = dict(spec.labels)
    apply_changes(cfg, changes)
    # as dockerd's commit: the container it came from and that container's config (docker-py reads them)
    config["container"] = container.id
    config["container_config"] = {**copy.deepcopy(cfg), "Image": spec.image or container.image_id}
    paused = False
    if pause and container.status == "running":
        paused = _freeze(engine, container, True)
    try:
        lowers = [p for p in meta.get("LowerDir", "").split(":") if p]
        skip = {t.lstrip("/") for t in RUNTIME_TARGETS
                if not any(os.path.lexists(os.path.join(lo, t.lstrip("/"))) for lo in lowers)}
        with images.content.new_blob() as blob:
            write_layer(upper, blob, skip=skip)
            diff_id = blob.commit()
    finally:
        if paused:
            _freeze(engine, container, False)
    parent_chain = chain_ids((image.config.get("rootfs") or {}).get("diff_ids") or [])
    layer_id = images.add_layer(diff_id, parent_chain[-1] if parent_chain else None,
                                lambda: images.content.open(diff_id))
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() % 1 * 1e9):09d}Z"
    config["created"] = now
    config.setdefault("rootfs", {"type": "layers", "diff_ids": []}).setdefault("diff_ids", []).append(diff_id)
    entry = {"created": now, "created_by": " ".join(spec.argv)}
    if author:
        entry["author"] = author
        config["author"] = author
    if message:
        entry["comment"] = message
    config.setdefault("history", []).append(entry)
    del json
    registered = images.register(config_bytes(config), list(image.layers) + [layer_id], tags)
    return registered.id


def _freeze(engine: Engine, container: Container, on: bool) -> bool:
    cgroups = engine.cgroups_for(container)
    handle = container.runtime.get("cgroup")
    if cgroups is None or handle is None:
        return False
    try:
        (cgroups.freeze if on else cgroups.thaw)(handle)
    except (AttributeError, OSError, BuildError, DriverError):
        return False  # (it exited meanwhile: nothing left to pause)
    return True
