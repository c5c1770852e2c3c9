"""``/containers/...``: create, start, wait, inspect, list, remove, stop, kill, restart, rename, logs, top."""

from __future__ import annotations

import time

from pyctr.api.errors import ApiError, NotModified
from pyctr.api.objects import is_running, lookup
from pyctr.api.routes import route
from pyctr.core.errors import NotFound
from pyctr.images.store import image_store

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.api.http import Request
    from pyctr.core.container import Container
    from pyctr.core.engine import Engine


# -- create -------------------------------------------------------------------------------


@route("POST", "/containers/create")
def create(req: Request) -> None:
    from pyctr.api.createbody import translate
    from pyctr.core import lifecycle
    from pyctr.runtime.runoptions import build_spec

    body = req.body_json(required=True)
    name = req.arg("name")
    image_ref, command, options = translate(body, name)
    engine = req.engine
    try:
        image = image_store(engine).resolve(image_ref)
    except NotFound:
        raise ApiError(404, f"No such image: {_familiar(image_ref)}") from None
    spec, network = build_spec(engine, image, image_ref, command, options)
    # what was asked for, as inspect shows it (pyctr.core.inspection fills its HostConfig and Config from it)
    spec.annotations["docker-api"] = {
        "HostConfig": body.get("HostConfig") or {}, "NetworkingConfig": body.get("NetworkingConfig") or {},
        "Config": {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}}
    try:
        container = lifecycle.create(engine, spec, image, network)
    except ApiError:
        raise
    except Exception as e:
        from pyctr.core.errors import Conflict

        if isinstance(e, Conflict) and "already in use" in str(e):
            existing = engine.db.execute("SELECT id FROM containers WHERE name = ?", (spec.name,)).fetchone()
            raise ApiError(409, f'Conflict. The container name "/{spec.name}" is already in use by container '
                                f'"{existing[0] if existing else ""}". You have to remove (or rename) that '
                                f'container to be able to reuse that name.') from None
        raise
    req.json({"Id": container.id, "Warnings": []}, status=201)


def _familiar(ref: str) -> str:
    from pyctr.images.reference import parse

    try:
        return parse(ref).familiar
    except Exception:  # noqa: BLE001  (an unparsable reference is shown as given)
        return ref


# -- start, wait ----------------------------------------------------------------------


@route("POST", "/containers/{id}/start")
def start(req: Request, id: str) -> None:  # noqa: A002
    from pyctr.api.launcher import JobFailed
    from pyctr.api.streams import take_pending

    engine = req.engine
    c = lookup(engine, id)
    if is_running(c):
        raise NotModified
    if req.has_body():
        req.body_json()  # (HostConfig at start: gone since API 1.24; read and ignored)
    clients = take_pending(c.id)
    try:
        job = req.server.launcher.submit("start", {"id": c.id}, [s.fileno() for s in clients])
    finally:
        for s in clients:
            s.close()
    try:
        job.receive()
    except JobFailed as e:
        if c.spec.auto_remove:
            _remove_quietly(engine, c.id)
        status = 400 if e.exit_code in (126, 127) else e.status if e.status != 404 else 500
        raise ApiError(status, str(e)) from None
    finally:
        job.close()
    req.empty(204)


def _remove_quietly(engine: Engine, container_id: str) -> None:
    from pyctr.core import lifecycle
    from pyctr.core.container import lookup as find
    from pyctr.core.errors import PyctrError

    try:
        c = find(engine.db, engine.config.root, container_id)
        lifecycle.remove(engine, c, force=True, volumes=True)
    except PyctrError:
        pass


@route("POST", "/containers/{id}/wait")
def wait(req: Request, id: str) -> None:  # noqa: A002
    condition = req.arg("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise ApiError(400, f"invalid condition: {condition!r}")
    engine = req.engine
    c = lookup(engine, id)
    stream = req.stream()  # 200 before blocking (the CLI registers the wait, then starts)
    code, error = _wait_for(req, engine, c, condition, stream)
    if code is None:
        stream.close()
        return
    stream.json({"StatusCode": code, "Error": {"Message": error} if error else None})
    stream.close()


def _wait_for(req: Request, engine: Engine, first: Container, condition: str, stream: Any) -> tuple[int | None, str]:
    """Poll the record until the condition holds; (exit code, error), (None, "") if the client left."""
    from pyctr.core.container import lookup as find
    from pyctr.core.lifecycle import is_alive

    baseline = first.finished
    seen = first
    delay = 0.005
    check_client = time.monotonic() + 0.5
    while True:
        try:
            c = find(engine.db, engine.config.root, first.id)
        except NotFound:
            if condition == "removed" or seen.status not in ("created",) or seen.finished != baseline:
                return _exit_code_of(engine, seen), ""
            return _exit_code_of(engine, seen), ""
        seen = c
        running = c.status in ("running", "paused")
        stopped = not running or (not is_alive(c.pid, c.runtime.get("starttime"))
                                  and not is_alive(c.runtime.get("monitor", 0)))
        if condition == "not-running" and stopped:
            return c.exit_code, c.error if c.status == "exited" and c.error else ""
        if condition == "next-exit" and stopped and c.finished != baseline:
            return c.exit_code, ""
        now = time.monotonic()
        if now >= check_client:
            if stream.gone():
                return None, ""
            check_client = now + 0.5
        time.sleep(delay)
        delay = min(delay * 1.5, 0.05)


def _exit_code_of(engine: Engine, last: Container) -> int:
    """The exit code of a container that is gone: its last record, or its last ``die`` event."""
    from pyctr.core import events

    code = last.exit_code
    for event in events.read(engine.config.runroot, since=last.created - 1):
        if event.get("Type") == "container" and event.get("Action") == "die" and event.get("id") == last.id:
            try:
                code = int(event["Actor"]["Attributes"].get("exitCode", code))
            except (KeyError, ValueError):
                pass
    return code


# -- inspect, list --------------------------------------------------------------------------


@route("GET", "/containers/{id}/json")
def inspect(req: Request, id: str) -> None:  # noqa: A002
    from pyctr.core.inspection import container_json

    engine = req.engine
    req.json(container_json(engine, lookup(engine, id)))


@route("GET", "/containers/json")
def list_containers(req: Request) -> None:
    from pyctr.api import filters as flt
    from pyctr.core.container import list_all
    from pyctr.core.inspection import container_summary

    engine = req.engine
    wanted = req.filters()
    flt.check(wanted, ("id", "name", "label", "status", "ancestor", "network", "volume", "exited", "before",
                       "since", "health", "is-task", "publish", "expose"))
    show_all = req.flag("all")
    limit = req.int_arg("limit", -1) or -1
    containers = list_all(engine.db, engine.config.root)
    if limit > 0:
        show_all = True
    before = since = None
    for key in ("before", "since"):
        for ref in wanted.get(key, []):
            other = lookup(engine, ref)
            if key == "before":
                before = other.created
            else:
                since = other.created
    rows = []
    for c in containers:
        row = container_summary(engine, c)
        if not show_all and row["State"] not in ("running", "paused") and not wanted.get("status"):
            continue
        if before is not None and c.created >= before or since is not None and c.created <= since:
            continue
        tests = {
            "id": lambda v, c=c: c.id.startswith(v),
            "name": lambda v, c=c: _name_matches(v, c.name),
            "status": lambda v, row=row: row["State"] == v,
            "ancestor": lambda v, c=c: _ancestor(engine, v, c),
            "exited": lambda v, c=c, row=row: row["State"] == "exited" and str(c.exit_code) == v,
            "network": lambda v, row=row: v in row["NetworkSettings"]["Networks"] or
            any(n.get("NetworkID") == v for n in row["NetworkSettings"]["Networks"].values()),
            "volume": lambda v, row=row: any(v in (m.get("Name"), m.get("Destination"), m.get("Source"))
                                             for m in row["Mounts"]),
            "health": lambda v: v == "none",
            "is-task": lambda v: not flt.truthy(v),
        }
        if flt.matches(wanted, tests, c.spec.labels):
            rows.append(row)
    if limit > 0:
        rows = rows[:limit]
    req.json(rows)


def _name_matches(pattern: str, name: str) -> bool:
    import re

    try:
        return re.search(pattern.lstrip("/"), name) is not None
    except re.error:
        return pattern.lstrip("/") in name


def _ancestor(engine: Engine, value: str, c: Container) -> bool:
    if value in (c.spec.image, c.image_id, c.image_id[7:19]):
        return True
    try:
        return image_store(engine).resolve(value).id == c.image_id
    except Exception:  # noqa: BLE001  (an unknown image: no match)
        return False


# -- remove, stop, kill, restart, rename ------------------------------------------------------


@route("DELETE", "/containers/{id}")
def remove(req: Request, id: str) -> None:  # noqa: A002
    from pyctr.core import lifecycle
    from pyctr.core.errors import Conflict

    engine = req.engine
    c = lookup(engine, id)
    force = req.flag("force")
    if c.status == "restarting" and not force:
        raise ApiError(409, f"You cannot remove a restarting container {c.id}. Stop the container before "
                            f"attempting removal or force remove")
    if is_running(c) and not force:
        raise ApiError(409, f"You cannot remove a running container {c.id}. Stop the container before "
                            f"attempting removal or force remove")
    try:
        lifecycle.remove(engine, c, force=force, volumes=req.flag("v"))
    except Conflict as e:
        raise ApiError(409, str(e)) from None
    req.empty(204)


@route("POST", "/containers/{id}/kill")
def kill(req: Request, id: str) -> None:  # noqa: A002
    from pyctr.core import lifecycle
    from pyctr.core.lifecycle import parse_signal

    engine = req.engine
    c = lookup(engine, id)
    sig = req.arg("signal") or "SIGKILL"
    try:
        number = parse_signal(sig)
    except Exception:  # noqa: BLE001
        raise ApiError(400, f"Invalid signal: {sig}") from None
    if not is_running(c):
        raise ApiError(409, f"Container {c.id} is not running")
    lifecycle.kill(c, number, engine)
    if number == 9:  # as dockerd: a SIGKILL returns once the container is stopped
        lifecycle.wait_stopped(engine, c.id, 10)
    req.empty(204)


def _stop(engine: Engine, c: Container, timeout: int | None, sig: str | None = None) -> None:
    from pyctr.core import lifecycle

    lifecycle.stop(engine, c, timeout, sig)


@route("POST", "/containers/{id}/stop")
def stop(req: Request, id: str) -> None:  # noqa: A002
    engine = req.engine
    c = lookup(engine, id)
    if not is_running(c):
        raise NotModified
    _stop(engine, c, req.int_arg("t"), req.arg("signal"))
    req.empty(204)


@route("POST", "/containers/{id}/restart")
def restart(req: Request, id: str) -> None:  # noqa: A002
    engine = req.engine
    c = lookup(engine, id)
    if is_running(c):
        _stop(engine, c, req.int_arg("t"), req.arg("signal"))
    start(req, id)
