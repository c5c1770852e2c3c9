"""``/networks``: the bridge driver's user networks, plus Docker's predefined bridge, host and none.

Labels and the creation time are the API's own additions to a network (the
bridge driver does not keep them): they live in the state database's settings
table under ``network:<id>``, and go with the network.
"""

from __future__ import annotations

import json
import time

from pyctr.api.errors import ApiError
from pyctr.api.objects import lookup
from pyctr.api.routes import route
from pyctr.core.errors import Conflict, NotFound

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.api.http import Request
    from pyctr.core.engine import Engine

PREDEFINED = ("bridge", "host", "none")
_ZERO_TIME = "0001-01-01T00:00:00Z"


def _bridge(engine: Engine) -> Any:
    return engine.driver("network", "bridge")


def _extra(engine: Engine, ident: str) -> dict[str, Any]:
    row = engine.db.execute("SELECT value FROM settings WHERE key = ?", (f"network:{ident}",)).fetchone()
    return json.loads(row[0]) if row else {}


def _shape(engine: Engine, info: dict[str, Any]) -> dict[str, Any]:
    """Docker's full network shape from the driver's."""
    from pyctr.core.inspection import rfc3339

    extra = _extra(engine, info["Id"])
    out = {"Name": info["Name"], "Id": info["Id"],
           "Created": rfc3339(extra["created"]) if extra.get("created") else _ZERO_TIME,
           "Scope": "local", "Driver": info.get("Driver", "bridge"), "EnableIPv6": False,
           "IPAM": {"Driver": "default", "Options": extra.get("ipam_options"),
                    "Config": extra.get("ipam_config") or info.get("IPAM", {}).get("Config") or []},
           "Internal": info.get("Internal", False), "Attachable": extra.get("attachable", False), "Ingress": False,
           "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
           "Containers": {cid: {"Name": ep.get("Name", ""), "EndpointID": cid[:64], "MacAddress": ep.get("MacAddress", ""),
                                "IPv4Address": ep.get("IPv4Address", ""), "IPv6Address": ""}
                          for cid, ep in (info.get("Containers") or {}).items()},
           # what the create asked for, as dockerd shows it (compose compares them and recreates on a difference);
           # a network pyctr's CLI made shows the driver's own
           "Options": extra["options"] if "options" in extra else (info.get("Options") or {}),
           "Labels": extra.get("labels") or {}}
    if info["Name"] == "bridge":
        out["Options"] = {**(info.get("Options") or {}), "com.docker.network.bridge.default_bridge": "true"}
    return out


def _special(name: str) -> dict[str, Any]:
    ident = "0" * 63 + ("1" if name == "host" else "2")  # fixed ids: the predefined networks have no record
    return {"Name": name, "Id": ident, "Created": _ZERO_TIME, "Scope": "local", "Driver": name, "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None, "Config": []}, "Internal": False, "Attachable": False,
            "Ingress": False, "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {}, "Options": {},
            "Labels": {}}


def all_networks(engine: Engine) -> list[dict[str, Any]]:
    driver = _bridge(engine)
    nets = [_shape(engine, n) for n in driver.list_networks()]
    if not any(n["Name"] == "bridge" for n in nets):
        try:
            nets.insert(0, _shape(engine, driver.inspect_network("bridge")))
        except Exception:  # noqa: BLE001, S110  (no default bridge here: listed without it)
            pass
    return nets + [_special("host"), _special("none")]


def find(engine: Engine, ref: str) -> dict[str, Any]:
    nets = all_networks(engine)
    for key in ("Id", "Name"):
        for n in nets:
            if n[key] == ref:
                return n
    matches = [n for n in nets if n["Id"].startswith(ref)] if ref else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ApiError(400, f"network {ref} is ambiguous ({len(matches)} matches found based on ID prefix)")
    raise ApiError(404, f"network {ref} not found")


@route("GET", "/networks")
def list_networks(req: Request) -> None:
    from pyctr.api import filters as flt

    wanted = req.filters()
    flt.check(wanted, ("name", "id", "label", "driver", "type", "scope", "dangling"))
    out = []
    for n in all_networks(req.engine):
        tests = {
            "name": lambda v, n=n: v in n["Name"],
            "id": lambda v, n=n: n["Id"].startswith(v),
            "driver": lambda v, n=n: n["Driver"] == v,
            "type": lambda v, n=n: (v == "builtin") == (n["Name"] in PREDEFINED),
            "scope": lambda v: v == "local",
            "dangling": lambda v, n=n: flt.truthy(v) == (not n["Containers"] and n["Name"] not in PREDEFINED),
        }
        if flt.matches(wanted, tests, n["Labels"]):
            out.append(n)
    req.json(out)


@route("GET", "/networks/{id}")
def inspect(req: Request, id: str) -> None:  # noqa: A002
    req.json(find(req.engine, id))


@route("POST", "/networks/create")
def create(req: Request) -> None:
    from pyctr.core import events
    from pyctr.core.state import transaction

    body = req.body_json(required=True)
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "network name is required")
    driver = body.get("Driver") or "bridge"
    if driver != "bridge":
        raise ApiError(400, f'plugin "{driver}" not found: only the bridge driver creates networks here')
    if name in PREDEFINED:
        raise ApiError(403, f"{name} is a pre-defined network and cannot be created")
    engine = req.engine
    if any(n["Name"] == name for n in all_networks(engine)):
        raise ApiError(409, f"network with name {name} already exists")  # names are unique here
    ipam = body.get("IPAM") or {}
    configs = ipam.get("Config") or [] if isinstance(ipam, dict) else []
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise ApiError(400, "invalid value for IPAM.Config")
    subnet = next((c.get("Subnet") for c in configs if c.get("Subnet")), None)
    gateway = next((c.get("Gateway") for c in configs if c.get("Gateway")), None)
    labels = body.get("Labels") or {}
    options = body.get("Options") or {}
    if not isinstance(labels, dict) or not isinstance(options, dict):
        raise ApiError(400, "invalid value for Labels or Options: want objects")
    try:
        info = _bridge(engine).create_network(name, subnet=subnet, gateway=gateway,
                                              internal=bool(body.get("Internal")))
    except Conflict as e:
        raise ApiError(409, str(e)) from None
    with transaction(engine.db):
        engine.db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)",
                          (f"network:{info['Id']}", json.dumps({"labels": labels, "options": options,
                                                                 "ipam_options": ipam.get("Options"),
                                                                 "ipam_config": configs or None,
                                                                 "created": time.time(),
                                                                 "attachable": bool(body.get("Attachable"))})))
    events.record(engine, "network", "create", info["Id"], {"name": name, "type": "bridge"})
    req.json({"Id": info["Id"], "Warning": ""}, status=201)


@route("DELETE", "/networks/{id}")
def remove(req: Request, id: str) -> None:  # noqa: A002
    from pyctr.core import events
    from pyctr.core.state import transaction

    engine = req.engine
    net = find(engine, id)
    if net["Name"] in PREDEFINED:
        raise ApiError(403, f"{net['Name']} is a pre-defined network and cannot be removed")
    if net["Containers"]:
        raise ApiError(409, f"error while removing network: network {net['Name']} id {net['Id']} has active endpoints")
    try:
        _bridge(engine).remove_network(net["Id"])
    except Conflict as e:
        raise ApiError(409, str(e)) from None
    with transaction(engine.db):
        engine.db.execute("DELETE FROM settings WHERE key = ?", (f"network:{net['Id']}",))
    events.record(engine, "network", "destroy", net["Id"], {"name": net["Name"], "type": "bridge"})
    req.empty(204)


@route("POST", "/networks/prune")
def prune(req: Request) -> None:
    from pyctr.api import filters as flt
    from pyctr.core import events

    engine = req.engine
    wanted = req.filters()
    flt.check(wanted, ("label", "until"))
    gone = []
    for n in all_networks(engine):
        if n["Name"] in PREDEFINED or n["Containers"] or not flt.labels_match(wanted.get("label", []), n["Labels"]):
            continue
        try:
            _bridge(engine).remove_network(n["Id"])
        except Exception:  # noqa: BLE001, S112  (in use meanwhile: kept, as Docker's prune does)
            continue
        events.record(engine, "network", "destroy", n["Id"], {"name": n["Name"], "type": "bridge"})
        gone.append(n["Name"])
    req.json({"NetworksDeleted": gone})


def _container_of(req: Request, body: dict[str, Any]) -> Any:
    ref = body.get("Container")
    if not isinstance(ref, str) or not ref:
        raise ApiError(400, "Container is required")
    return lookup(req.engine, ref)


@route("POST", "/networks/{id}/connect")
def connect(req: Request, id: str) -> None:  # noqa: A002
    from pyctr.core import networking

    engine = req.engine
    body = req.body_json(required=True)
    net = find(engine, id)
    c = _container_of(req, body)
    endpoint = body.get("EndpointConfig") or {}
    if not isinstance(endpoint, dict):
        raise ApiError(400, "invalid value for EndpointConfig")
    aliases = endpoint.get("Aliases") or []
    ipam = endpoint.get("IPAMConfig") or {}
    ip = ipam.get("IPv4Address") if isinstance(ipam, dict) else None
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise ApiError(400, "invalid value for EndpointConfig.Aliases")
    if net["Name"] in ("host", "none"):
        raise ApiError(403, f"container cannot be connected to the {net['Name']} network")
    from pyctr.api.objects import is_running

    try:
        networking.connect(engine, c, net["Name"], aliases, ip or None)
    except Conflict as e:
        if "already exists" not in str(e) or is_running(c):
            raise ApiError(403, str(e)) from None
        # a created container connected already: the repeat is done (compose connects before it starts)
    _remember_endpoint(engine, c.id, net["Name"], endpoint)
    req.empty(200)


def _remember_endpoint(engine: Engine, cid: str, network: str, endpoint: dict[str, Any] | None) -> None:
    """The endpoint settings a connect asked for (its IPAMConfig, Links, DriverOpts), kept with the create's
    in the spec's ``docker-api`` annotation: inspect shows them as dockerd does; None forgets them."""
    from pyctr.core.state import transaction

    with transaction(engine.db):
        row = engine.db.execute("SELECT spec FROM containers WHERE id = ?", (cid,)).fetchone()
        if row is None:
            return
        spec = json.loads(row[0])
        asked = spec.setdefault("annotations", {}).setdefault("docker-api", {})
        endpoints = asked.setdefault("NetworkingConfig", {}).setdefault("EndpointsConfig", {})
        if endpoint is None:
            if endpoints.pop(network, None) is None:
                return
        else:
            endpoints[network] = {k: v for k, v in endpoint.items() if k in ("IPAMConfig", "Links", "DriverOpts")}
        engine.db.execute("UPDATE containers SET spec = ? WHERE id = ?", (json.dumps(spec, sort_keys=True), cid))


@route("POST", "/networks/{id}/disconnect")
def disconnect(req: Request, id: str) -> None:  # noqa: A002
    from pyctr.core import networking

    engine = req.engine
    body = req.body_json(required=True)
    net = find(engine, id)
    c = _container_of(req, body)
    try:
        networking.disconnect(engine, c, net["Name"], bool(body.get("Force")))
    except Conflict as e:
        raise ApiError(403 if "is not connected" not in str(e) else 409, str(e)) from None
    except NotFound as e:
        raise ApiError(404, str(e)) from None
    _remember_endpoint(engine, c.id, net["Name"], None)
    req.empty(200)
