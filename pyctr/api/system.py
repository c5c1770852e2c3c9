"""``/_ping``, ``/version``, ``/info``, ``/system/df``, ``/events``, ``/auth``."""

from __future__ import annotations

import os
import platform

from pyctr import __version__
from pyctr.api.errors import ApiError
from pyctr.api.http import API_VERSION, MIN_API_VERSION
from pyctr.api.routes import route

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.api.http import Request


@route("GET", "/_ping")
@route("HEAD", "/_ping")
def ping(req: Request) -> None:
    req.text(b"OK", "text/plain; charset=utf-8", headers={
        "Builder-Version": "1", "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"})


def version_info() -> dict:
    details = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
               "Arch": _arch(), "KernelVersion": platform.release(), "Experimental": "false",
               "GitCommit": "", "GoVersion": f"python{platform.python_version()}", "BuildTime": ""}
    return {
        "Platform": {"Name": "pyctr"},
        "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
        "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "", "GoVersion": f"python{platform.python_version()}", "Os": "linux", "Arch": _arch(),
        "KernelVersion": platform.release(), "BuildTime": "",
    }


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


@route("GET", "/version")
def version(req: Request) -> None:
    req.json(version_info())


@route("GET", "/info")
def info(req: Request) -> None:
    from pyctr.runtime.sysinfo import collect_info

    data = collect_info(req.engine)
    data["ID"] = _daemon_id(req)
    data["Name"] = platform.node()
    data["Architecture"] = platform.machine()
    data["Debug"] = False
    data["LoggingDriver"] = "json-file"
    data["ExperimentalBuild"] = False
    data["IndexServerAddress"] = "https://index.docker.io/v1/"
    data["RegistryConfig"] = {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}, "Mirrors": []}
    data["Swarm"] = {"LocalNodeState": "inactive", "ControlAvailable": False, "NodeID": "", "NodeAddr": "",
                     "Error": "", "RemoteManagers": None}
    data["Runtimes"] = {name: {"path": name} for name in data["Plugins"].get("Runtime", [])}
    data["Labels"] = []
    data["Plugins"] = {"Volume": data["Plugins"].get("Volume", []), "Network": data["Plugins"].get("Network", []),
                       "Authorization": None, "Log": ["json-file", "none"]}
    data["DriverStatus"] = [[str(a), str(b)] for a, b in data["DriverStatus"]]
    data["SecurityOptions"] = ["name=seccomp,profile=default"]
    data["Warnings"] = None
    req.json(data)


def _daemon_id(req: Request) -> str:
    """A stable id for this storage root (docker info's ID), kept in the settings table."""
    db = req.engine.db
    row = db.execute("SELECT value FROM settings WHERE key = 'service_id'").fetchone()
    if row:
        return row[0]
    ident = os.urandom(16).hex().upper()
    db.execute("INSERT OR IGNORE INTO settings(key, value) VALUES ('service_id', ?)", (ident,))
    return db.execute("SELECT value FROM settings WHERE key = 'service_id'").fetchone()[0]


@route("GET", "/plugins")
def plugins_list(req: Request) -> None:
    req.json([])


@route("GET", "/plugins/{name*}")
def plugins_any(req: Request, name: str) -> None:
    raise ApiError(404, f"plugin {name.rsplit('/', 1)[0]!r} not found")


for _path in ("/swarm", "/swarm/{rest*}", "/nodes", "/nodes/{rest*}", "/services", "/services/{rest*}",
              "/tasks", "/tasks/{rest*}", "/secrets", "/secrets/{rest*}", "/configs", "/configs/{rest*}"):
    for _method in ("GET", "POST", "DELETE"):
        @route(_method, _path)
        def _swarm(req: Request, rest: str = "") -> None:
            raise ApiError(503, "This node is not a swarm manager. Use \"docker swarm init\" or "
                                "\"docker swarm join\" to connect this node to swarm and try again.")
