"""``/images/...``: pull (``create``), list, inspect, history, tag, remove, prune; ``/distribution``."""

from __future__ import annotations

from pyctr.api.errors import ApiError
from pyctr.api.objects import pull_reference, resolve, summary  # noqa: F401  (summary: other modules)
from pyctr.api.routes import route
from pyctr.images.store import image_store

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.api.http import Request


@route("GET", "/images/json")
def list_images(req: Request) -> None:
    import fnmatch

    from pyctr.api import filters as flt

    engine = req.engine
    wanted = req.filters()
    if req.arg("filter"):  # API < 1.25: one reference pattern
        wanted.setdefault("reference", []).append(req.arg("filter") or "")
    flt.check(wanted, ("reference", "label", "dangling", "before", "since"))
    before = since = None
    for key in ("before", "since"):
        for ref in wanted.get(key, []):
            other = resolve(engine, ref)
            if key == "before":
                before = other.created
            else:
                since = other.created
    rows = []
    for image in image_store(engine).list():
        row = summary(engine, image)
        if before is not None and image.created >= before or since is not None and image.created <= since:
            continue
        tags = [t for t in row["RepoTags"] if t != "<none>:<none>"]

        def reference(pattern: str, tags: list[str] = tags) -> bool:
            for tag in tags:
                name = tag.rsplit(":", 1)[0] if ":" in tag.rsplit("/", 1)[-1] else tag
                if fnmatch.fnmatchcase(tag, pattern) or fnmatch.fnmatchcase(name, pattern):
                    return True
            return False

        tests = {"reference": reference, "dangling": lambda v, tags=tags: flt.truthy(v) == (not tags)}
        if flt.matches(wanted, tests, row["Labels"]):
            rows.append(row)
    req.json(rows)


@route("GET", "/images/{name*}/json")
def inspect(req: Request, name: str) -> None:
    from pyctr.images.inspection import image_json

    engine = req.engine
    req.json(image_json(engine, resolve(engine, name)))


@route("GET", "/images/{name*}/history")
def history(req: Request, name: str) -> None:
    from pyctr.images.operations import history as rows_of

    engine = req.engine
    image = resolve(engine, name)
    out = []
    for r in rows_of(engine, image):
        out.append({"Id": r["ID"], "Created": int(r["Created"]), "CreatedBy": r.get("CreatedBy", ""),
                    "Tags": r.get("Tags") or None, "Size": int(r.get("Size", 0)), "Comment": r.get("Comment", "")})
    req.json(out)


@route("POST", "/images/create")
def create(req: Request) -> None:
    """``docker pull`` (``fromImage``) with Docker's JSON progress messages."""
    from pyctr.api.launcher import JobFailed

    from_image = req.arg("fromImage")
    if req.arg("fromSrc") is not None:
        from pyctr.api.images_more import import_image

        import_image(req)
        return
    if not from_image:
        raise ApiError(400, "fromImage is required")
    ref = pull_reference(from_image, req.arg("tag"))
    from pyctr.core.errors import UsageError
    from pyctr.images.reference import parse

    try:
        parsed = parse(ref)
    except UsageError as e:
        raise ApiError(400, str(e)) from None
    if not parsed.tag and not parsed.digest:
        ref = f"{ref}:latest"
    job = req.server.launcher.submit("pull", {"ref": ref, "auth": req.headers.get("X-Registry-Auth") or ""})
    stream = None
    try:
        while True:
            try:
                message, _ = job.receive()
            except JobFailed as e:
                text = str(e)
                if stream is None:  # nothing sent yet: a plain error (404 lets the CLI say "not found")
                    lowered = text.lower()
                    if e.status == 404 or any(w in lowered for w in ("not found", "unknown", "denied", "404")):
                        from pyctr.images.reference import parse

                        repo = parse(ref).familiar_name
                        raise ApiError(404, f"pull access denied for {repo}, repository does not exist or may "
                                            f"require 'docker login': {text}") from None
                    raise ApiError(e.status, text) from None
                stream.json({"errorDetail": {"message": text}, "error": text})
                break
            if message is None:
                if stream is None:
                    raise ApiError(500, "the pull ended without a word")
                break
            if stream is None:
                stream = req.stream()
            if "done" in message:
                break
            stream.json(message)
            if stream.gone():
                break
    finally:
        job.close()
    if stream is not None:
        stream.close()


@route("POST", "/images/{name*}/tag")
def tag(req: Request, name: str) -> None:
    from pyctr.core.errors import UsageError
    from pyctr.images.operations import tag as make_tag
    from pyctr.images.reference import parse

    engine = req.engine
    image = resolve(engine, name)
    repo = req.arg("repo")
    if not repo:
        raise ApiError(400, "repo is required")
    target = pull_reference(repo, req.arg("tag") or "latest")
    try:
        ref = parse(target)
    except UsageError as e:
        raise ApiError(400, str(e)) from None
    if ref.digest:
        raise ApiError(400, "refusing to create a tag with a digest reference")
    make_tag(engine, image, str(ref))  # (records the tag event)
    req.empty(201)


@route("DELETE", "/images/{name*}")
def remove(req: Request, name: str) -> None:
    from pyctr.core.errors import Conflict
    from pyctr.images.operations import remove as rmi

    engine = req.engine
    resolve(engine, name)  # (a 404 first)
    try:
        lines = rmi(engine, name, force=req.flag("force"))
    except Conflict as e:
        raise ApiError(409, str(e)) from None
    out = []
    for line in lines:  # (the untag and delete events are recorded by images.operations, for the CLI too)
        key, _, value = line.partition(": ")
        out.append({key: value})
    req.json(out)
