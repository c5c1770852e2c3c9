"""Docker's JSON for a container (``inspect``, ``GET /containers/{id}/json``): one
shape for both front ends."""

from __future__ import annotations

import time

from pyctr.core.units import human_duration

TYPE_CHECKING = False  # (typing's import is ~3 ms of every command; annotations are strings here)
if TYPE_CHECKING:
    from typing import Any


def rfc3339(ts: float) -> str:
    if not ts:
        return "0001-01-01T00:00:00Z"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e9):09d}Z"


def container_json(eng: Any, c: Any) -> dict[str, Any]:
    from pyctr.core.processes import is_alive

    spec = c.spec
    running = c.status in ("running", "paused") and is_alive(c.pid, c.runtime.get("starttime"))
    status = c.status if running or c.status not in ("running", "paused") else "exited"
    try:
        graph = {"Name": c.drivers.get("storage", ""), "Data": eng.storage_for(c).metadata(c.id)}
    except Exception:  # noqa: BLE001  (inspect must work even when the driver cannot load)
        graph = {"Name": c.drivers.get("storage", ""), "Data": {}}
    net = c.runtime.get("network") or {}
    oom_events = c.runtime.get("oom_events", 0)
    if running and c.runtime.get("cgroup") is not None:
        try:
            oom_events += int(eng.cgroups_for(c).oom_events(c.runtime["cgroup"]).get("oom_kill", 0))
        except Exception:  # noqa: BLE001  (a vanished cgroup must not break inspect)
            pass
    state_health = None
    if c.spec.healthcheck and c.spec.healthcheck.get("Test", ["NONE"])[0] != "NONE":
        from pyctr.core import health

        state_health = health.get(eng.db, c.id)
    restarting = c.status == "restarting"
    out = {
        "Id": c.id,
        "Created": rfc3339(c.created),
        "Path": spec.argv[0] if spec.argv else "",
        "Args": spec.argv[1:],
        "State": {
            "Status": status, "Running": running or restarting,
            "Paused": c.status == "paused", "Restarting": restarting, "OOMKilled": c.oom_killed, "Dead": c.status == "dead",
            "Pid": c.pid if running else 0, "ExitCode": c.exit_code, "Error": c.error,
            "StartedAt": rfc3339(c.started), "FinishedAt": rfc3339(c.finished),
            "OOMEvents": oom_events,
            **({"Health": state_health} if state_health is not None else {}),
        },
        "Image": c.image_id,
        "ResolvConfPath": str(c.dir / "resolv.conf"),
        "HostnamePath": str(c.dir / "hostname"),
        "HostsPath": str(c.dir / "hosts"),
        "LogPath": str(c.dir / f"{c.id}-json.log"),
        "Name": "/" + c.name,
        "RestartCount": c.runtime.get("restart_count", 0),
        "Driver": c.drivers.get("storage", ""),
        "Platform": "linux",
        "HostConfig": {
            "NetworkMode": c.drivers.get("network", ""), "AutoRemove": spec.auto_remove,
            "Privileged": spec.privileged, "ReadonlyRootfs": spec.read_only,
            "CapAdd": spec.cap_add or None, "CapDrop": spec.cap_drop or None, "GroupAdd": spec.group_add or None,
            "SecurityOpt": (["no-new-privileges"] if spec.no_new_privileges else []) +
                           ([f"seccomp={spec.seccomp}"] if spec.seccomp != "default" else []) or None,
            "RestartPolicy": {"Name": spec.restart_policy.split(":")[0],
                              "MaximumRetryCount": int(spec.restart_policy.split(":")[1]) if ":" in spec.restart_policy else 0},
            "LogConfig": {"Type": spec.log_driver, "Config": dict(spec.log_options)},
            "CgroupParent": spec.cgroup_parent,
            "Memory": spec.resources.get("memory", 0), "MemorySwap": spec.resources.get("memory_swap", 0),
            "NanoCpus": spec.resources.get("nano_cpus", 0), "CpuShares": spec.resources.get("cpu_shares", 0),
            "PidsLimit": spec.resources.get("pids_limit"),
            "PidMode": spec.namespaces.get("pid", ""), "IpcMode": spec.namespaces.get("ipc", "private"),
            "UTSMode": spec.namespaces.get("uts", ""), "UsernsMode": spec.namespaces.get("user", ""),
            "Init": spec.init,
        },
        "GraphDriver": graph,
        "Mounts": [_mount_json(eng, m) for m in spec.mounts],
        "Config": {
            "Hostname": spec.hostname, "Domainname": spec.domainname, "User": spec.user,
            "AttachStdin": spec.interactive, "Tty": spec.tty, "OpenStdin": spec.interactive,
            "Env": spec.env, "Cmd": spec.cmd, "Image": spec.image, "WorkingDir": spec.workdir,
            "Entrypoint": spec.entrypoint or None, "Labels": spec.labels, "StopSignal": spec.stop_signal,
            "StopTimeout": spec.stop_timeout,
            **({"Healthcheck": spec.healthcheck} if spec.healthcheck else {}),
        },
        "NetworkSettings": {
            "IPAddress": net.get("ip_address", ""), "IPPrefixLen": net.get("prefix_len", 0),
            "Gateway": net.get("gateway", ""), "MacAddress": net.get("mac_address", ""),
            "Ports": port_map(spec, net.get("extra", {}).get("ports")),
            # a driver with several networks per container (network connect) lists them all
            "Networks": net.get("extra", {}).get("networks") if "networks" in net.get("extra", {}) else
            {net["network"]: {"IPAddress": net.get("ip_address", ""), "Gateway": net.get("gateway", ""),
                              "IPPrefixLen": net.get("prefix_len", 0), "MacAddress": net.get("mac_address", ""),
                              "Aliases": net.get("extra", {}).get("aliases")}} if net.get("network") else {},
        },
    }
    return _as_requested(out, spec)

#: HostConfig fields dockerd always shows, at its defaults
HOST_CONFIG_DEFAULTS: dict[str, Any] = {
    "Binds": None, "ContainerIDFile": "", "PortBindings": {}, "VolumeDriver": "", "VolumesFrom": None,
    "CapAdd": None, "CapDrop": None, "CgroupnsMode": "host", "Dns": [], "DnsOptions": [], "DnsSearch": [],
    "ExtraHosts": None, "GroupAdd": None, "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PublishAllPorts": False,
    "SecurityOpt": None, "Tmpfs": None, "ShmSize": 67108864, "Runtime": "runc", "ConsoleSize": [0, 0],
    "Isolation": "", "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": None,
    "BlkioDeviceWriteBps": None, "BlkioDeviceReadIOps": None, "BlkioDeviceWriteIOps": None, "CpuPeriod": 0,
    "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
    "Devices": [], "DeviceCgroupRules": None, "DeviceRequests": None, "KernelMemory": 0, "KernelMemoryTCP": 0,
    "MemoryReservation": 0, "MemorySwappiness": None, "OomKillDisable": False, "Ulimits": None, "CpuCount": 0,
    "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "MaskedPaths": None, "ReadonlyPaths": None,
    "Sysctls": None, "Mounts": None,
}
CONFIG_DEFAULTS: dict[str, Any] = {"AttachStdout": False, "AttachStderr": False, "StdinOnce": False,
                                   "ExposedPorts": None, "Volumes": None, "OnBuild": None}


def _as_requested(out: dict[str, Any], spec: Any) -> dict[str, Any]:
    """Docker shows a container's HostConfig and Config as they were asked for: what the API's
    create request said (kept in the spec's ``docker-api`` annotation) fills in what pyctr's own
    record does not say, over dockerd's defaults."""
    asked = (spec.annotations or {}).get("docker-api") or {}
    host = {**HOST_CONFIG_DEFAULTS, **(asked.get("HostConfig") or {}), **out["HostConfig"]}
    for key in ("NetworkMode", "CapAdd", "CapDrop", "SecurityOpt"):
        if (asked.get("HostConfig") or {}).get(key) is not None:
            host[key] = asked["HostConfig"][key]  # as given ("default", the caps' spelling)
    res = spec.resources or {}
    for key, field in (("CpuPeriod", "cpu_period"), ("CpuQuota", "cpu_quota"), ("CpusetCpus", "cpuset_cpus"),
                       ("CpusetMems", "cpuset_mems"), ("BlkioWeight", "blkio_weight"),
                       ("MemoryReservation", "memory_reservation"), ("KernelMemory", "kernel_memory"),
                       ("OomKillDisable", "oom_kill_disable")):
        if field in res:
            host[key] = res[field]
    out["HostConfig"] = host
    config = {**CONFIG_DEFAULTS, **(asked.get("Config") or {}), **out["Config"]}
    if not config.get("ExposedPorts"):
        exposed = (spec.network or {}).get("expose") or []
        config["ExposedPorts"] = {p if "/" in p else f"{p}/tcp": {} for p in exposed} or None
    out["Config"] = config
    networks = out["NetworkSettings"].get("Networks") or {}
    asked_nets = ((asked.get("NetworkingConfig") or {}).get("EndpointsConfig") or {})
    if not networks and not out["State"]["Running"]:
        # not wired yet (created, or stopped): the network it will join, as dockerd shows it from create
        net = spec.network or {}
        name = net.get("network") or ("bridge" if net.get("mode") in ("", None, "bridge", "default") else net.get("mode"))
        if name and not str(name).startswith("container:"):
            networks[name] = {"Aliases": net.get("aliases") or None}
        out["NetworkSettings"]["Networks"] = networks
    for name, entry in networks.items():
        want = asked_nets.get(name) or {}
        base = {"IPAMConfig": want.get("IPAMConfig"), "Links": want.get("Links"), "Aliases": None, "NetworkID": "",
                "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": want.get("DriverOpts")}
        networks[name] = {**base, **entry}
    return out


def port_map(spec: Any, published: Any) -> dict[str, Any]:
    """Docker's PortMap: ``{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "53/udp": None}``
    from the network driver's published ports (a list of mappings) and the exposed ones."""
    if isinstance(published, dict):
        return published
    ports: dict[str, Any] = {}
    for exposed in spec.network.get("expose") or []:
        ports.setdefault(exposed if "/" in exposed else f"{exposed}/tcp", None)
    for p in published or []:
        key = f"{p['container_port']}/{p.get('proto', 'tcp')}"
        if ports.get(key) is None:
            ports[key] = []
        ports[key].append({"HostIp": p.get("host_ip") or "0.0.0.0", "HostPort": str(p.get("host_port", ""))})
    return ports


def _mount_json(eng: Any, m: Any) -> dict[str, Any]:
    """One ``Mounts`` entry. A volume's Source is, as in Docker, where it is on
    the host (its driver's path, ``volume inspect``'s Mountpoint); Name is its name."""
    name, source, driver = "", m.source, m.driver
    if m.type == "volume":
        from pyctr.core import volumes

        name, source = m.source, ""
        vol = volumes.get(eng, m.source)
        if vol is not None:  # gone (volume rm after the container stopped): no host path to show
            driver, source = vol.driver, volumes.mountpoint(eng, vol)
    return {"Type": m.type, "Name": name, "Source": source, "Destination": m.target, "Driver": driver,
            "Mode": "ro" if m.readonly else "", "RW": not m.readonly,
            "Propagation": m.propagation or ("rprivate" if m.type == "bind" else "")}


def state_of(c: Any) -> tuple[str, str]:
    """(State, Status) as ``docker ps`` shows them: ("running", "Up 5 seconds"), ("exited", "Exited (0) 3 seconds ago")."""
    from pyctr.core.processes import is_alive

    if c.status in ("running", "paused"):
        if not is_alive(c.pid, c.runtime.get("starttime")):
            return "exited", "Exited (unknown) - pyctr was killed; rm -f or system prune cleans up"
        up = f"Up {human_duration(time.time() - c.started)}"
        return (("paused", up + " (Paused)") if c.status == "paused" else ("running", up))
    if c.status == "exited":
        return "exited", f"Exited ({c.exit_code}) {human_duration(time.time() - c.finished)} ago"
    return c.status, c.status.capitalize()


def port_list(ports: dict[str, Any]) -> list[dict[str, Any]]:
    """``NetworkSettings.Ports`` ({"80/tcp": [{"HostIp", "HostPort"}]}) as the list's ``Ports`` entries."""
    out: list[dict[str, Any]] = []
    for key, bindings in (ports or {}).items():
        port, _, proto = key.partition("/")
        if not bindings:
            out.append({"PrivatePort": int(port), "Type": proto or "tcp"})
            continue
        for b in bindings:
            out.append({"IP": b.get("HostIp") or "0.0.0.0", "PrivatePort": int(port),
                        "PublicPort": int(b.get("HostPort") or 0), "Type": proto or "tcp"})
    return out


def container_summary(eng: Any, c: Any) -> dict[str, Any]:
    """One entry of ``GET /containers/json`` (``docker ps``)."""
    state, status = state_of(c)
    full = container_json(eng, c)
    networks = full["NetworkSettings"]["Networks"] or {}
    return {
        "Id": c.id, "Names": ["/" + c.name], "Image": c.spec.image or c.image_id, "ImageID": c.image_id,
        "Command": " ".join(c.spec.argv), "Created": int(c.created),
        "Ports": port_list(full["NetworkSettings"]["Ports"]), "Labels": c.spec.labels or {},
        "State": state, "Status": status,
        "HostConfig": {"NetworkMode": full["HostConfig"]["NetworkMode"]},
        "NetworkSettings": {"Networks": networks},
        "Mounts": full["Mounts"],
    }
