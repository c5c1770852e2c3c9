"""More of ``/images``: save (``get``), load, push, import (``create?fromSrc``), prune, search;
``/auth`` (``docker login``'s check) and ``/system/df``."""

from __future__ import annotations

import os
import tempfile

from pyctr.api.errors import ApiError
from pyctr.api.routes import route

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.api.http import Request


class _ChunkWriter:
    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, data: bytes) -> int:
        self.stream.write(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def _save(req: Request, names: list[str]) -> None:
    from pyctr.api.objects import resolve
    from pyctr.images.archive import save

    engine = req.engine
    for name in names:
        resolve(engine, name)  # 404 before anything is sent
    stream = req.stream("application/x-tar")
    save(engine, names, _ChunkWriter(stream))  # type: ignore[arg-type]
    stream.close()


@route("GET", "/images/get")
def get_many(req: Request) -> None:
    names = req.query.get("names") or []
    if not names:
        raise ApiError(400, "names is required")
    _save(req, names)


@route("GET", "/images/{name*}/get")
def get_one(req: Request, name: str) -> None:
    _save(req, [name])


@route("POST", "/images/load")
def load(req: Request) -> None:
    from pyctr.core import events
    from pyctr.core.errors import ImageError
    from pyctr.images.archive import load as load_archive

    engine = req.engine
    with tempfile.TemporaryFile(dir=engine.config.root) as tmp:
        reader = req.body_reader()
        while chunk := reader.read(1 << 20):
            tmp.write(chunk)
        tmp.seek(0)
        stream = req.stream()
        try:
            lines = load_archive(engine, tmp)  # type: ignore[arg-type]
        except ImageError as e:  # as dockerd: a JSON error in the stream (docker-py raises ImageLoadError)
            stream.json({"errorDetail": {"message": str(e)}, "error": str(e)})
            stream.close()
            return
    for line in lines:
        text = line if line.startswith("Loaded image") else f"Loaded image: {line}"
        stream.json({"stream": text + "\n"})
        name = text.split(": ", 1)[1]
        events.record(engine, "image", "load", name, {"name": name})
    stream.close()


@route("POST", "/images/{name*}/push")
def push(req: Request, name: str) -> None:
    from pyctr.api.launcher import JobFailed
    from pyctr.api.objects import pull_reference, resolve

    ref = pull_reference(name, req.arg("tag"))
    resolve(req.engine, ref)
    job = req.server.launcher.submit("push", {"ref": ref, "auth": req.headers.get("X-Registry-Auth") or ""})
    stream = req.stream()
    try:
        while True:
            try:
                message, _ = job.receive()
            except JobFailed as e:
                stream.json({"errorDetail": {"message": str(e)}, "error": str(e)})
                break
            if message is None or "done" in message:
                break
            stream.json(message)
    finally:
        job.close()
    stream.close()


def import_image(req: Request) -> None:
    """``POST /images/create?fromSrc=-`` (the body is the tar) or a URL (not fetched here)."""
    from pyctr.core import events
    from pyctr.images.reference import parse
    from pyctr.images.store import image_store

    src = req.arg("fromSrc") or ""
    if src != "-":
        raise ApiError(400, "importing from a URL is not supported: send the archive as the body (fromSrc=-)")
    repo = req.arg("repo") or ""
    tag = req.arg("tag") or ""
    target = f"{repo}:{tag}" if repo and tag else repo or None
    if target:
        try:
            parse(target)
        except Exception as e:  # noqa: BLE001
            raise ApiError(400, str(e)) from None
    changes = req.query.get("changes") or []
    engine = req.engine
    with tempfile.NamedTemporaryFile(dir=engine.config.root, prefix="api-import-") as tmp:
        reader = req.body_reader()
        while chunk := reader.read(1 << 20):
            tmp.write(chunk)
        tmp.flush()
        image = image_store(engine).import_rootfs(tmp.name, target, changes, req.arg("message") or "")
    events.record(engine, "image", "import", image.id, {"name": target or image.id})
    stream = req.stream()
    stream.json({"status": image.id})
    stream.close()


@route("POST", "/images/prune")
def prune(req: Request) -> None:
    from pyctr.api import filters as flt
    from pyctr.images.operations import prune as prune_images

    wanted = req.filters()
    flt.check(wanted, ("dangling", "until", "label"))
    all_images = any(not flt.truthy(v) for v in wanted.get("dangling", []))
    lines, reclaimed = prune_images(req.engine, all_images)
    deleted = []
    for line in lines:
        key, _, value = line.partition(": ")
        deleted.append({"Untagged" if key == "untagged" else "Deleted": value})
    req.json({"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed})


@route("GET", "/images/search")
def search(req: Request) -> None:
    raise ApiError(501, "image search is not supported by pyctr: registries have no common search API")


@route("POST", "/auth")
def auth(req: Request) -> None:
    """``docker login``: the credentials are checked against the registry; the client keeps them."""
    from pyctr.images import registries

    body = req.body_json(required=True)
    server = body.get("serveraddress") or "docker.io"
    user, password = body.get("username") or "", body.get("password") or ""
    if not all(isinstance(v, str) for v in (server, user, password)):
        raise ApiError(400, "username, password and serveraddress are strings")
    for prefix in ("https://", "http://"):
        server = server.removeprefix(prefix)
    server = server.split("/", 1)[0]
    if server in ("index.docker.io", "registry-1.docker.io"):
        server = "docker.io"
    client = registries.client(req.engine, server, credentials=(user, password))
    try:
        client.ping()
    except Exception as e:  # noqa: BLE001
        raise ApiError(401, f"login attempt to {server} failed: {e}") from None
    finally:
        client.close()
    req.json({"Status": "Login Succeeded", "IdentityToken": ""})


@route("GET", "/system/df")
def system_df(req: Request) -> None:
    from pyctr.api.objects import summary
    from pyctr.api.volumes import shape
    from pyctr.core import volumes
    from pyctr.core.container import list_all
    from pyctr.core.inspection import container_summary
    from pyctr.images.operations import containers_using
    from pyctr.images.store import image_store

    engine = req.engine
    images = []
    layers = 0
    for image in image_store(engine).list():
        row = summary(engine, image)
        row["Containers"] = len(containers_using(engine, image.id))
        images.append(row)
        layers += image.size
    containers = []
    for c in list_all(engine.db, engine.config.root):
        row = container_summary(engine, c)
        row["SizeRw"], row["SizeRootFs"] = 0, 0
        containers.append(row)
    vols = []
    for vol in volumes.list_all(engine):
        row = shape(engine, vol)
        row["UsageData"] = {"Size": _tree_size(row["Mountpoint"]), "RefCount": len(volumes.users(engine, vol.name))}
        vols.append(row)
    req.json({"LayersSize": layers, "Images": images, "Containers": containers, "Volumes": vols,
              "BuildCache": []})


def _tree_size(path: str) -> int:
    total = 0
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


@route("POST", "/commit")
def commit(req: Request) -> None:
    """``docker commit``: the build package's commit (what ``pyctr commit`` does)."""
    from pyctr.api.objects import lookup
    from pyctr.build.containerfs import commit_container
    from pyctr.core import events
    from pyctr.core.errors import UsageError

    engine = req.engine
    ref = req.arg("container")
    if not ref:
        raise ApiError(400, "container is required")
    c = lookup(engine, ref)
    repo, tag = req.arg("repo") or "", req.arg("tag") or ""
    target = (f"{repo}:{tag}" if tag else repo) if repo else None
    if req.has_body():
        req.body_json()  # (a config to merge: not taken yet; changes are)
    try:
        image_id = commit_container(engine, c, target, req.query.get("changes") or [], req.arg("comment") or "",
                                    req.arg("author") or "", req.flag("pause", True))
    except UsageError as e:
        raise ApiError(400, str(e)) from None
    events.record(engine, "container", "commit", c.id, events.container_attributes(c))
    req.json({"Id": image_id}, status=201)
