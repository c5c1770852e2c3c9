"""``/volumes``: create (idempotent), list, inspect, remove, prune."""

from __future__ import annotations

import os

from pyctr.api.errors import ApiError
from pyctr.api.routes import route
from pyctr.core.errors import Conflict, NotFound

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.api.http import Request
    from pyctr.core.engine import Engine


def shape(engine: Engine, vol: Any) -> dict[str, Any]:
    from pyctr.core import volumes
    from pyctr.core.inspection import rfc3339

    return {"CreatedAt": rfc3339(int(vol.created)).replace(".000000000Z", "Z"), "Driver": vol.driver,
            "Labels": vol.labels or {}, "Mountpoint": volumes.mountpoint(engine, vol), "Name": vol.name,
            "Options": vol.options or {}, "Scope": "local"}


def _get(engine: Engine, name: str) -> Any:
    from pyctr.core import volumes

    try:
        return volumes.lookup(engine, name)
    except NotFound:
        raise ApiError(404, f"get {name}: no such volume") from None


@route("GET", "/volumes")
def list_volumes(req: Request) -> None:
    from pyctr.api import filters as flt
    from pyctr.core import volumes

    engine = req.engine
    wanted = req.filters()
    flt.check(wanted, ("name", "driver", "label", "dangling"))
    out = []
    for vol in volumes.list_all(engine):
        tests = {"name": lambda v, vol=vol: v in vol.name, "driver": lambda v, vol=vol: vol.driver == v,
                 "dangling": lambda v, vol=vol: flt.truthy(v) == (not volumes.users(engine, vol.name))}
        if flt.matches(wanted, tests, vol.labels or {}):
            out.append(shape(engine, vol))
    req.json({"Volumes": out, "Warnings": []})


@route("GET", "/volumes/{name}")
def inspect(req: Request, name: str) -> None:
    req.json(shape(req.engine, _get(req.engine, name)))


@route("POST", "/volumes/create")
def create(req: Request) -> None:
    from pyctr.core import volumes

    body = req.body_json()
    name = body.get("Name") or ""
    driver = body.get("Driver") or ""
    opts = body.get("DriverOpts") or {}
    labels = body.get("Labels") or {}
    if not isinstance(name, str) or not isinstance(driver, str) or not isinstance(opts, dict) \
            or not isinstance(labels, dict):
        raise ApiError(400, "invalid volume: Name and Driver are strings, DriverOpts and Labels objects")
    engine = req.engine
    vol, _ = volumes.create(engine, name or os.urandom(32).hex(), driver,
                               {str(k): str(v) for k, v in opts.items()},
                               {str(k): str(v) for k, v in labels.items()}, explicit_driver=bool(driver))
    req.json(shape(engine, vol), status=201)


@route("DELETE", "/volumes/{name}")
def remove(req: Request, name: str) -> None:
    from pyctr.core import volumes

    engine = req.engine
    _get(engine, name)  # (404 first, with Docker's words)
    try:
        volumes.remove(engine, name, force=req.flag("force"))
    except Conflict as e:
        raise ApiError(409, str(e)) from None
    req.empty(204)


@route("POST", "/volumes/prune")
def prune(req: Request) -> None:
    from pyctr.api import filters as flt
    from pyctr.core import volumes
    from pyctr.core.spec import ANONYMOUS_LABEL

    engine = req.engine
    wanted = req.filters()
    flt.check(wanted, ("label", "all"))
    prune_all = any(flt.truthy(v) for v in wanted.get("all", []))
    gone = []
    for vol in volumes.list_all(engine):
        if volumes.users(engine, vol.name) or not flt.labels_match(wanted.get("label", []), vol.labels or {}):
            continue
        if not prune_all and req.version >= (1, 42) and ANONYMOUS_LABEL not in (vol.labels or {}):
            continue  # API 1.42+: only anonymous volumes unless all=true
        try:
            volumes.remove(engine, vol.name)
        except Exception:  # noqa: BLE001, S112  (in use meanwhile: kept)
            continue
        gone.append(vol.name)
    req.json({"VolumesDeleted": gone, "SpaceReclaimed": 0})
