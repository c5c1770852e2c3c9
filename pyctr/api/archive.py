"""``/containers/{id}/archive`` (``docker cp`` both ways) and ``/containers/{id}/export``.

The container's root is the boundary: a path is resolved with every symlink
taken as the container would see it (pyctr.kernel.paths.secure_join), and then
opened through an ``O_PATH`` descriptor whose real location is checked, so a
symlink a process in the container plants pointing at ``/etc`` of the host, or
a directory it swaps for one meanwhile, leads back into the root, never out.
Reading walks with directory descriptors (``O_NOFOLLOW``: a symlink is stored
as a symlink); writing goes through layers.extract_layer, which touches
nothing outside the directory it is given.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
import tarfile
from collections.abc import Iterator

from pyctr.api.errors import ApiError
from pyctr.api.objects import is_running, lookup
from pyctr.api.routes import route

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.api.http import Request
    from pyctr.core.container import Container
    from pyctr.core.engine import Engine

#: the largest archive ``PUT`` unpacks (bytes of file data)
MAX_UPLOAD = 8 << 30


@contextlib.contextmanager
def rootfs(engine: Engine, c: Container) -> Iterator[str]:
    """The container's root on the host: mounted already while it runs, else for the while."""
    storage = engine.storage_for(c)
    if is_running(c):
        paths = storage.metadata(c.id)
        root = paths.get("MergedDir") or paths.get("Dir")
        if root and os.path.isdir(root):
            yield root
            return
    root = str(storage.get(c.id))
    try:
        yield root
    finally:
        if not is_running(c):
            with contextlib.suppress(Exception):
                storage.put(c.id)


@contextlib.contextmanager
def located(engine: Engine, c: Container, path: str) -> Iterator[tuple[str, str]]:
    """(the host directory that holds ``path``, ``path`` relative to it): a volume or a bind the
    container mounts there (its mounts live in the container's own mount namespace, not in the
    root seen from here), else its root."""
    import posixpath

    norm = posixpath.normpath("/" + path.lstrip("/"))
    best = None
    for m in c.spec.mounts or []:
        target = posixpath.normpath(m.target)
        if (norm == target or norm.startswith(target.rstrip("/") + "/")) and m.type in ("volume", "bind"):
            if best is None or len(target) > len(best.target):
                best = m
    if best is not None:
        base = best.source
        if best.type == "volume":
            from pyctr.core import volumes

            vol = volumes.get(engine, best.source)
            if vol is None:  # a created container's volume is made at its start; dockerd has it from its create
                vol, _ = volumes.create(engine, best.source, best.driver, dict(best.driver_options),
                                        dict(best.labels))
            base = volumes.mountpoint(engine, vol)
        if base and os.path.isdir(base):
            yield base, norm[len(posixpath.normpath(best.target)):] or "/"
            return
    with rootfs(engine, c) as root:
        yield root, path


@contextlib.contextmanager
def _inside(root: str, path: str) -> Iterator[tuple[str, os.stat_result]]:
    """(``/proc/self/fd/N`` of the resolved path, its lstat); 404 when it does not exist."""
    from pyctr.kernel.paths import opath_inside, secure_join

    try:
        resolved = secure_join(root, path)
    except OSError as e:
        raise ApiError(400, f"invalid path {path}: {e.strerror or e}") from None
    if not os.path.lexists(resolved):
        raise ApiError(404, f"Could not find the file {path} in container")
    try:
        with opath_inside(root, resolved) as fdpath:
            yield fdpath, os.stat(fdpath)
    except OSError as e:
        raise ApiError(400, f"invalid path {path}: {e.strerror or e}") from None


def _go_mode(st: os.stat_result) -> int:
    """Go's os.FileMode bits, as dockerd puts them in the path stat header."""
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        mode |= 1 << 31
    elif stat.S_ISLNK(st.st_mode):
        mode |= 1 << 27
    return mode


def _stat_header(name: str, st: os.stat_result, link: str = "") -> str:
    from pyctr.core.inspection import rfc3339

    data = {"name": name, "size": st.st_size, "mode": _go_mode(st), "mtime": rfc3339(st.st_mtime),
            "linkTarget": link}
    return base64.b64encode(json.dumps(data).encode()).decode()


@route("HEAD", "/containers/{id}/archive")
def head(req: Request, id: str) -> None:  # noqa: A002
    engine = req.engine
    c = lookup(engine, id)
    path = req.arg("path") or ""
    if not path:
        raise ApiError(400, "path is required")
    with located(engine, c, path) as (root, inner), _inside(root, inner) as (_fdpath, st):
        req.empty(200, {"X-Docker-Container-Path-Stat": _stat_header(os.path.basename(path.rstrip("/")) or "/", st)})


@route("GET", "/containers/{id}/archive")
def get(req: Request, id: str) -> None:  # noqa: A002
    engine = req.engine
    c = lookup(engine, id)
    path = req.arg("path") or ""
    if not path:
        raise ApiError(400, "path is required")
    name = os.path.basename(path.rstrip("/")) or "."
    if path.endswith("/.") or path == ".":
        name = "."
    with located(engine, c, path) as (root, inner), _inside(root, inner) as (fdpath, st):
        header = _stat_header(name if name != "." else os.path.basename(path.rstrip("/.")) or "/", st)
        req._headers(200, "application/x-tar", None)
        req.send_header("X-Docker-Container-Path-Stat", header)
        req.send_header("Transfer-Encoding", "chunked")
        req.end_headers()
        req.responded = True
        from pyctr.api.http import Stream

        out = Stream(req)
        with tarfile.open(fileobj=_ChunkWriter(out), mode="w|", format=tarfile.PAX_FORMAT) as tf:
            if stat.S_ISDIR(st.st_mode):
                fd = os.open(fdpath, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    _add_tree(tf, fd, "" if name == "." else name)
                finally:
                    os.close(fd)
            else:
                fd = os.open(fdpath, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    _add_file(tf, fd, name, os.fstat(fd))
                finally:
                    os.close(fd)
        out.close()


class _ChunkWriter:
    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, data: bytes) -> int:
        self.stream.write(bytes(data))
        return len(data)


def _info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.mtime = int(st.st_mtime)
    return ti


def _add_file(tf: tarfile.TarFile, fd: int, name: str, st: os.stat_result) -> None:
    ti = _info(name, st)
    ti.size = st.st_size
    with os.fdopen(os.dup(fd), "rb") as f:
        tf.addfile(ti, f)


def _add_tree(tf: tarfile.TarFile, dfd: int, prefix: str) -> None:
    """A directory (open as ``dfd``) and what is below it, never following a symlink."""
    st = os.fstat(dfd)
    if prefix:
        ti = _info(prefix, st)
        ti.type = tarfile.DIRTYPE
        tf.addfile(ti)
    for entry in sorted(os.listdir(dfd)):
        name = f"{prefix}/{entry}" if prefix else entry
        try:
            est = os.stat(entry, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            continue  # gone meanwhile
        if stat.S_ISLNK(est.st_mode):
            ti = _info(name, est)
            ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(entry, dir_fd=dfd)
            tf.addfile(ti)
        elif stat.S_ISDIR(est.st_mode):
            try:
                child = os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            except OSError:
                continue  # swapped for something else meanwhile: not followed
            try:
                _add_tree(tf, child, name)
            finally:
                os.close(child)
        elif stat.S_ISREG(est.st_mode):
            try:
                fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dfd)
            except OSError:
                continue
            try:
                _add_file(tf, fd, name, os.fstat(fd))
            finally:
                os.close(fd)
        # devices, fifos and sockets of a running container are not copied out


@route("PUT", "/containers/{id}/archive")
def put(req: Request, id: str) -> None:  # noqa: A002
    from pyctr.core.errors import ImageError
    from pyctr.layers import extract_layer

    engine = req.engine
    c = lookup(engine, id)
    path = req.arg("path") or ""
    if not path:
        raise ApiError(400, "path is required")
    if c.spec.read_only:
        raise ApiError(403, "container rootfs is marked read-only")
    with located(engine, c, path) as (root, inner), _inside(root, inner) as (fdpath, st):
        if not stat.S_ISDIR(st.st_mode):
            raise ApiError(400, "extraction point is not a directory")
        try:
            extract_layer(req.body_reader(), fdpath, whiteouts="delete", max_size=MAX_UPLOAD)
        except ImageError as e:
            raise ApiError(400, f"cannot unpack the archive: {e}") from None
    req.empty(200)


@route("GET", "/containers/{id}/export")
def export(req: Request, id: str) -> None:  # noqa: A002
    engine = req.engine
    c = lookup(engine, id)
    with rootfs(engine, c) as root:
        req._headers(200, "application/x-tar", None)
        req.send_header("Transfer-Encoding", "chunked")
        req.end_headers()
        req.responded = True
        from pyctr.api.http import Stream

        out = Stream(req)
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            with tarfile.open(fileobj=_ChunkWriter(out), mode="w|", format=tarfile.PAX_FORMAT) as tf:
                _add_tree(tf, fd, "")
        finally:
            os.close(fd)
        out.close()
