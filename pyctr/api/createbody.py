"""``POST /containers/create``'s body (Config + HostConfig + NetworkingConfig) as the run options
that pyctr.runtime.runoptions builds a ContainerSpec from, the same as ``pyctr run``'s flags.

Types are checked as Go's decoder would (a string where a list belongs is a 400,
not a traceback); unknown fields are ignored, as dockerd does.
"""

from __future__ import annotations

from pyctr.api.errors import ApiError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

#: HostConfig.LogConfig.Type values a container may name; the rest are refused
LOG_DRIVERS = {"json-file": "json-file", "local": "json-file", "none": "none"}


def _get(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    value = obj.get(key)
    if value is None:
        return default
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ApiError(400, f"invalid value for {key}: want {_GO_NAMES.get(names, names)}, got {type(value).__name__}")
    return value


_GO_NAMES = {"str": "a string", "int": "an integer", "bool": "a boolean", "list": "a list", "dict": "an object",
             "list or str": "a list or a string", "int or float": "a number"}


def _words(obj: dict[str, Any], key: str) -> list[str] | None:
    """A StrSlice: a list of strings, or one string (Go's strslice accepts both)."""
    value = _get(obj, key, (list, str))
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"invalid value for {key}: want a list of strings")
    return list(value)


def _strings(obj: dict[str, Any], key: str) -> list[str]:
    value = _get(obj, key, list, [])
    if not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"invalid value for {key}: want a list of strings")
    return list(value)


def _string_map(obj: dict[str, Any], key: str) -> dict[str, str]:
    value = _get(obj, key, dict, {})
    if not all(isinstance(v, str) for v in value.values()):
        raise ApiError(400, f"invalid value for {key}: want an object of strings")
    return dict(value)


def _positive(obj: dict[str, Any], key: str) -> int | None:
    value = _get(obj, key, int)
    return value if value else None


def translate(body: dict[str, Any], name: str | None) -> tuple[str, list[str], dict[str, Any]]:
    """(image reference, command, run options) from a create request."""
    config = body
    host = _get(body, "HostConfig", dict, {})
    networking = _get(body, "NetworkingConfig", dict, {})
    image = _get(config, "Image", str, "")
    if not image:
        raise ApiError(400, "config.Image is required")
    o: dict[str, Any] = {"name": name}
    command = _words(config, "Cmd") or []
    entrypoint = _words(config, "Entrypoint")
    o["entrypoint"] = entrypoint
    o["env"] = tuple(_strings(config, "Env"))
    o["env_raw"] = True  # the API's Env is taken as given (a bare NAME stays a bare NAME, as dockerd keeps it)
    o["label"] = _string_map(config, "Labels")
    o["workdir"] = _get(config, "WorkingDir", str, "")
    o["user"] = _get(config, "User", str, "")
    o["hostname"] = _get(config, "Hostname", str, "")
    o["domainname"] = _get(config, "Domainname", str, "")
    o["tty"] = _get(config, "Tty", bool, False)
    o["interactive"] = _get(config, "OpenStdin", bool, False)
    o["stop_signal"] = _get(config, "StopSignal", str) or None
    o["stop_timeout"] = _get(config, "StopTimeout", int)
    o["expose"] = tuple(_get(config, "ExposedPorts", dict, {}))
    anonymous = list(_get(config, "Volumes", dict, {}))
    binds = _strings(host, "Binds")
    mounts = _get(host, "Mounts", list, [])
    # a Volumes entry that a bind or mount also targets is that mount's (docker-py sends both)
    taken = {b.split(":")[1] if ":" in b else b for b in binds}
    taken |= {m.get("Target") for m in mounts if isinstance(m, dict)}
    taken |= set(_string_map(host, "Tmpfs"))
    o["volume"] = tuple(binds) + tuple(v for v in anonymous if v not in taken)
    o["mount"] = tuple(_mount_text(m) for m in mounts)
    o["tmpfs"] = tuple(f"{path}:{opts}" if opts else path for path, opts in _string_map(host, "Tmpfs").items())
    o["volumes_from"] = tuple(_strings(host, "VolumesFrom"))
    o["volume_driver"] = _get(host, "VolumeDriver", str, "")
    o["publish"] = tuple(_port_bindings(_get(host, "PortBindings", dict, {})))
    o["publish_all"] = _get(host, "PublishAllPorts", bool, False)
    mode = _get(host, "NetworkMode", str, "")
    endpoints = _get(networking, "EndpointsConfig", dict, {})
    if len(endpoints) > 1:  # API 1.41: one network at create; connect the others after
        raise ApiError(400, "Container cannot be connected to network endpoints: " + ", ".join(endpoints))
    if mode in ("", "default"):
        mode = next(iter(endpoints), "") if len(endpoints) == 1 else ""
    o["network"] = None if mode in ("", "default", "bridge") else mode
    endpoint = endpoints.get(mode) or (next(iter(endpoints.values())) if len(endpoints) == 1 else None) or {}
    if not isinstance(endpoint, dict):
        raise ApiError(400, "invalid value for NetworkingConfig.EndpointsConfig: want objects")
    o["network_alias"] = tuple(_strings(endpoint, "Aliases"))
    ipam = _get(endpoint, "IPAMConfig", dict, {})
    o["ip"] = _get(ipam, "IPv4Address", str) or None
    restart = _get(host, "RestartPolicy", dict, {})
    policy = _get(restart, "Name", str, "") or "no"
    retries = _get(restart, "MaximumRetryCount", int, 0)
    o["restart"] = f"{policy}:{retries}" if policy == "on-failure" and retries else policy
    o["auto_remove"] = _get(host, "AutoRemove", bool, False)
    log = _get(host, "LogConfig", dict, {})
    log_type = _get(log, "Type", str, "")
    if log_type and log_type not in LOG_DRIVERS:
        raise ApiError(400, f"logger: no log driver named '{log_type}' is registered")
    o["log_driver"] = LOG_DRIVERS[log_type] if log_type else None
    o["log_opt"] = tuple(f"{k}={v}" for k, v in _string_map(log, "Config").items())
    check = _get(config, "Healthcheck", dict)
    o["healthcheck"] = dict(check) if check else None
    o["privileged"] = _get(host, "Privileged", bool, False)
    o["cap_add"] = tuple(_strings(host, "CapAdd"))
    o["group_add"] = tuple(_strings(host, "GroupAdd"))
    o["cap_drop"] = tuple(_strings(host, "CapDrop"))
    o["read_only"] = _get(host, "ReadonlyRootfs", bool, False)
    o["security_opt"] = tuple(_strings(host, "SecurityOpt"))
    o.update(resource_options(host))
    o["cgroup_parent"] = _get(host, "CgroupParent", str, "")
    o["pid_mode"] = _get(host, "PidMode", str) or None
    o["ipc_mode"] = _get(host, "IpcMode", str) or None
    o["uts_mode"] = _get(host, "UTSMode", str) or None
    userns = _get(host, "UsernsMode", str) or None
    o["userns"] = userns
    o["use_init"] = _get(host, "Init", bool, False)
    o["dns"] = tuple(_strings(host, "Dns"))
    o["dns_search"] = tuple(_strings(host, "DnsSearch"))
    o["dns_option"] = tuple(_strings(host, "DnsOptions"))
    o["add_host"] = tuple(_strings(host, "ExtraHosts"))
    return image, command, o


def resource_options(host: dict[str, Any]) -> dict[str, Any]:
    """HostConfig's resources (also ``POST /containers/{id}/update``'s body) as run options."""
    o: dict[str, Any] = {}
    for key, option in (("Memory", "memory"), ("MemoryReservation", "memory_reservation"),
                        ("KernelMemory", "kernel_memory")):
        value = _positive(host, key)
        o[option] = str(value) if value else None
    swap = _get(host, "MemorySwap", int)
    o["memory_swap"] = str(swap) if swap else None
    nano = _positive(host, "NanoCpus")
    o["cpus"] = str(nano / 1e9) if nano else None
    for key, option in (("CpuShares", "cpu_shares"), ("CpuQuota", "cpu_quota"), ("CpuPeriod", "cpu_period"),
                        ("BlkioWeight", "blkio_weight")):
        o[option] = _positive(host, key)
    pids = _get(host, "PidsLimit", int)
    o["pids_limit"] = pids if pids else None
    o["cpuset_cpus"] = _get(host, "CpusetCpus", str) or None
    o["cpuset_mems"] = _get(host, "CpusetMems", str) or None
    o["oom_kill_disable"] = _get(host, "OomKillDisable", bool, False)
    return o


def _port_bindings(bindings: dict[str, Any]) -> list[str]:
    """``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`` as ``-p`` values (no HostPort: a random one)."""
    out = []
    for port, hosts in bindings.items():
        if hosts is None:
            hosts = [{}]
        if not isinstance(hosts, list):
            raise ApiError(400, "invalid value for PortBindings: want lists of bindings")
        for h in hosts or [{}]:
            if not isinstance(h, dict):
                raise ApiError(400, "invalid value for PortBindings: want objects")
            ip = _get(h, "HostIp", str, "")
            hport = _get(h, "HostPort", str, "")
            out.append(f"{ip}:{hport}:{port}" if ip else f"{hport}:{port}" if hport else port)
    return out


def _mount_text(m: Any) -> str:
    """One HostConfig.Mounts entry as a ``--mount`` value (the CLI's CSV), so both go through one parser."""
    if not isinstance(m, dict):
        raise ApiError(400, "invalid value for Mounts: want objects")
    fields = [f"type={_get(m, 'Type', str, 'volume')}"]
    if m.get("Source"):
        fields.append(f"source={_get(m, 'Source', str)}")
    target = _get(m, "Target", str, "")
    if not target:
        raise ApiError(400, "invalid mount config: Target is required")
    fields.append(f"target={target}")
    if _get(m, "ReadOnly", bool, False):
        fields.append("readonly")
    bind = _get(m, "BindOptions", dict, {})
    if bind.get("Propagation"):
        fields.append(f"bind-propagation={_get(bind, 'Propagation', str)}")
    vol = _get(m, "VolumeOptions", dict, {})
    if _get(vol, "NoCopy", bool, False):
        fields.append("volume-nocopy")
    for k, v in _string_map(vol, "Labels").items():
        fields.append(f"volume-label={k}={v}")
    driver = _get(vol, "DriverConfig", dict, {})
    if driver.get("Name"):
        fields.append(f"volume-driver={_get(driver, 'Name', str)}")
    for k, v in _string_map(driver, "Options").items():
        fields.append(f"volume-opt={k}={v}")
    tmpfs = _get(m, "TmpfsOptions", dict, {})
    if tmpfs.get("SizeBytes"):
        fields.append(f"tmpfs-size={_get(tmpfs, 'SizeBytes', int)}")
    if tmpfs.get("Mode"):
        fields.append(f"tmpfs-mode={_get(tmpfs, 'Mode', int):o}")
    return ",".join(f'"{f}"' if "," in f else f for f in fields)
