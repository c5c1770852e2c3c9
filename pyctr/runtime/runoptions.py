"""A ContainerSpec from Docker's run options: what ``pyctr run``/``create`` and the
service's ``POST /containers/create`` share.

``options`` are keyed as the command line's parameters (pyctr.cli.options:
``auto_remove``, ``volume``, ``publish``, ``memory`` ...); a front end that
has fewer (the API translates Docker's JSON into these) starts from
:data:`DEFAULTS`. The image is resolved (or pulled) by the front end first:
resolving may print progress, which is the front end's business.
"""

from __future__ import annotations

import os

from pyctr.core import rootless
from pyctr.core.errors import UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

#: every option's value when it is not given (as the command line's parser leaves it)
DEFAULTS: dict[str, Any] = {
    "name": None, "auto_remove": False, "interactive": False, "tty": False, "env": (), "env_file": (),
    "workdir": "", "user": "", "entrypoint": None, "hostname": "", "domainname": "", "label": (),
    "network": None, "privileged": False, "cap_add": (), "cap_drop": (), "group_add": (), "read_only": False,
    "security_opt": (), "volume": (), "mount": (), "tmpfs": (), "volume_driver": "", "volumes_from": (),
    "restart": "no", "stop_signal": None, "stop_timeout": None, "log_driver": None, "log_opt": (),
    "health_cmd": None, "health_interval": None, "health_timeout": None, "health_retries": None,
    "health_start_period": None, "health_start_interval": None, "no_healthcheck": False, "healthcheck": None,
    "pid_mode": None, "ipc_mode": None, "uts_mode": None, "userns": None, "uidmap": (), "gidmap": (),
    "use_init": False, "memory": None, "memory_swap": None, "memory_reservation": None,
    "kernel_memory": None, "cpus": None, "cpu_shares": None, "cpu_quota": None, "cpu_period": None,
    "cpuset_cpus": None, "cpuset_mems": None, "pids_limit": None, "blkio_weight": None,
    "oom_kill_disable": False, "cgroup_parent": "", "publish": (), "publish_all": False, "expose": (),
    "network_alias": (), "ip": None, "dns": (), "dns_search": (), "dns_option": (), "add_host": (),
    "pull_policy": "missing",
}

def parse_env(values: tuple[str, ...] | list[str], files: tuple[str, ...] | list[str] = ()) -> list[str]:
    """``-e``/``--env-file``: ``NAME=value``; a bare ``NAME`` passes the caller's value through."""
    env: list[str] = []
    for path in files:
        try:
            with open(path) as f:
                lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
        except OSError as e:
            raise UsageError(f"cannot read env file {path}: {e.strerror}") from None
        values = tuple(lines) + tuple(values)
    for item in values:
        if "=" in item:
            env.append(item)
        elif item in os.environ:
            env.append(f"{item}={os.environ[item]}")
    return env


def build_spec(engine: Any, image: Any, image_ref: str, command: list[str] | tuple[str, ...],
               options: dict[str, Any]) -> tuple[Any, str | None]:
    """(ContainerSpec, network driver name or None) for ``image`` (resolved already), before plugins change it.

    ``options["entrypoint"]``: None (the image's), a string (``--entrypoint``, "" clears it) or a
    list (the API's, [] clears it). Every error is a UsageError raised before anything exists.
    """
    from pyctr.core.lifecycle import spec_from_image
    from pyctr.core.spec import ContainerSpec

    o = {**DEFAULTS, **options}
    spec = ContainerSpec(image=image_ref, name=o["name"] or "", hostname=o["hostname"] or "",
                         domainname=o["domainname"] or "",
                         env=list(o["env"]) if o.get("env_raw") else parse_env(o["env"], o["env_file"]), workdir=o["workdir"] or "/", user=o["user"] or "",
                         tty=bool(o["tty"]), interactive=bool(o["interactive"]),
                         labels={k: v for k, _, v in (item.partition("=") for item in o["label"])},
                         privileged=bool(o["privileged"]), cap_add=list(o["cap_add"]), cap_drop=list(o["cap_drop"]),
                         group_add=[str(g) for g in o["group_add"]],
                         read_only=bool(o["read_only"]), auto_remove=bool(o["auto_remove"]))
    if isinstance(o["label"], dict):
        spec.labels = dict(o["label"])
    policy, _, count = o["restart"].partition(":")
    if policy not in ("no", "on-failure", "always", "unless-stopped") or (count and (policy != "on-failure" or not count.isdigit())):
        raise UsageError(f"invalid restart policy {o['restart']!r}: no, on-failure[:N], always or unless-stopped")
    spec.restart_policy = o["restart"]
    if o["stop_signal"]:
        from pyctr.core.lifecycle import parse_signal

        parse_signal(o["stop_signal"])
        spec.stop_signal = o["stop_signal"]
    if o["stop_timeout"] is not None:
        spec.stop_timeout = o["stop_timeout"]
    from pyctr.core import health, logconfig

    spec.log_driver, spec.log_options = logconfig.from_options(o["log_driver"], o["log_opt"], engine.config)
    image_check = (image.config.get("config") or {}).get("Healthcheck")
    if o["healthcheck"] is not None:  # the API's Config.Healthcheck: set fields override the image's
        given = o["healthcheck"]
        spec.healthcheck = dict(given) if given.get("Test") == ["NONE"] else \
            {**(image_check or {}), **{k: v for k, v in given.items() if v}} or None
    else:
        spec.healthcheck = health.from_options(o, image_check)
    spec.resources = resources_from(o)
    spec.cgroup_parent = o["cgroup_parent"] or ""
    namespace_modes(spec, o)
    spec.init = bool(o["use_init"])
    for opt in o["security_opt"]:
        key, _, value = opt.partition("=" if "=" in opt else ":")
        if key in ("no-new-privileges", "no_new_privileges") and value in ("", "true"):
            spec.no_new_privileges = True
        elif key == "seccomp" and value:
            from pyctr.runtime.seccomp import option_value

            spec.seccomp = option_value(value)  # a file is read and checked now, before anything exists
        elif key in ("label", "apparmor"):
            continue  # no SELinux or AppArmor here; Docker ignores them where they do not exist either
        else:
            raise UsageError(f"invalid --security-opt: {opt!r}")
    from pyctr.runtime.security import capability_set

    capability_set(spec.cap_add, spec.cap_drop, spec.privileged)  # validates names before anything is made
    network = network_settings(spec, o, o["network"] or engine.config.network, image)
    entrypoint = o["entrypoint"]
    if isinstance(entrypoint, list | tuple):
        # the API's list: [] and [""] clear the image's; spec_from_image takes one word, so
        # it gets the first and the rest go before the command, then the fields are set right
        words = [w for w in entrypoint if w] if list(entrypoint) in ([], [""]) else list(entrypoint)
        spec_from_image(spec, image, words[1:] + list(command), words[0] if words else "")
        spec.entrypoint, spec.cmd = words, list(command)
    else:
        spec_from_image(spec, image, list(command), entrypoint)
    if (spec.mounts or o["volume"] or o["mount"] or o["tmpfs"] or o["volumes_from"]
            or (image.config.get("config") or {}).get("Volumes")):
        from pyctr.core import mountspec  # (its import only when there is a mount to make)

        spec.mounts = mountspec.build(engine, volumes=o["volume"], mounts=o["mount"], tmpfs=o["tmpfs"],
                                      volumes_from=o["volumes_from"], volume_driver=o["volume_driver"],
                                      image_config=image.config, existing=spec.mounts)
    return spec, network


def network_settings(spec: Any, o: dict[str, Any], network: str | None, image: Any) -> str | None:
    """Fill spec.network from the options; return the network driver's name (None: the default)."""
    from pyctr.core.selection import names

    net = spec.network
    net["mode"] = network or ""
    if network and network.startswith("container:"):
        net["container"] = network[10:]
        driver: str | None = "container"
    elif network and network not in names("network"):
        net["network"] = network  # a user network of the bridge driver
        driver = "bridge"
    else:
        driver = network or None
    for item in o["add_host"]:
        if ":" not in item:
            raise UsageError(f"invalid --add-host {item!r}: want host:ip")
    exposed = list((image.config.get("config") or {}).get("ExposedPorts") or {}) + [
        e if "/" in e else f"{e}/tcp" for e in o["expose"]]
    values = {"ports": list(o["publish"]), "publish_all": o["publish_all"], "expose": list(dict.fromkeys(exposed)),
              "aliases": list(o["network_alias"]), "ip": o["ip"], "dns": list(o["dns"]),
              "dns_search": list(o["dns_search"]), "dns_options": list(o["dns_option"]),
              "add_hosts": list(o["add_host"])}
    net.update({k: v for k, v in values.items() if v})
    if (net.get("ports") or net.get("publish_all")) and driver in ("none", "host", "container"):
        raise UsageError(f"published ports need a network of its own; --network={network} has none")
    return driver


def resources_from(o: dict[str, Any]) -> dict[str, Any]:
    """cgroup limits from the options, in the driver's keys, units parsed as Docker does."""
    res: dict[str, Any] = {}
    if any(o.get(key) is not None for key in ("memory", "memory_reservation", "kernel_memory", "memory_swap", "cpus")):
        from pyctr.core.units import parse_bytes, parse_cpus

        for key in ("memory", "memory_reservation", "kernel_memory"):
            if o.get(key) is not None:
                res[key] = parse_bytes(o[key], what=f"--{key.replace('_', '-')}")
        if o.get("memory_swap") is not None:
            res["memory_swap"] = parse_bytes(o["memory_swap"], what="--memory-swap", allow_unlimited=True)
        if o.get("cpus") is not None:
            res["nano_cpus"] = parse_cpus(o["cpus"])
    for key in ("cpu_shares", "cpu_quota", "cpu_period", "pids_limit", "blkio_weight", "cpuset_cpus", "cpuset_mems"):
        if o.get(key) is not None:
            res[key] = o[key]
    if o.get("oom_kill_disable"):
        res["oom_kill_disable"] = True
    return res


def namespace_modes(spec: Any, o: dict[str, Any]) -> None:
    for kind, value, allowed in (("pid", o["pid_mode"], ("host",)), ("ipc", o["ipc_mode"], ("host", "private", "shareable")),
                                 ("uts", o["uts_mode"], ("host",))):
        if not value:
            continue
        if value.startswith("container:") and kind != "uts" and len(value) > 10:
            spec.namespaces[kind] = value
        elif value in allowed:
            spec.namespaces[kind] = "private" if value in ("private", "shareable") else value
        else:
            raise UsageError(f"invalid --{kind} value {value!r}")

    def parse_map(items: tuple[str, ...], flag: str) -> list[tuple[int, int, int]]:
        out = []
        for item in items:
            parts = item.split(":")
            if len(parts) != 3 or not all(p.isdigit() for p in parts) or int(parts[2]) == 0:
                raise UsageError(f"invalid {flag} {item!r}: want CONTAINER:HOST:SIZE")
            out.append((int(parts[0]), int(parts[1]), int(parts[2])))
        return out

    spec.uid_map = parse_map(o["uidmap"], "--uidmap")
    spec.gid_map = parse_map(o["gidmap"], "--gidmap") or list(spec.uid_map)
    if o["userns"] not in (None, "", "host", "private", "keep-id"):
        raise UsageError(f"invalid --userns value {o['userns']!r}: host, private or keep-id")
    if o["userns"] == "keep-id":
        _keep_id(spec)
    elif o["userns"] == "private" and not spec.uid_map and rootless.active():
        raise UsageError("--userns=private needs root: a rootless container is in your user namespace already "
                         "(--userns=keep-id keeps your own uid inside)")
    if o["userns"] == "private" and not spec.uid_map:
        spec.uid_map = spec.gid_map = [(0, 100000, 65536)]
    if spec.uid_map:
        spec.namespaces["user"] = "private"


def _keep_id(spec: Any) -> None:
    """``--userns=keep-id`` (podman's): a rootless user's own uid and gid are the same inside,
    the container's root one of the user's subordinate ids.

    The container gets a user namespace of its own inside the user's (whose ids
    0..N are the user, then the /etc/subuid range): the user's id there (0)
    becomes the user's real uid U inside; 0..U-1 inside are 1..U of the
    user's namespace; above U the ids are the same. (The image's files keep
    the ids of the user's namespace, so a file of root's in the image shows as
    owned by U inside: podman copies and chowns the image instead.)
    """
    if not rootless.active():
        raise UsageError("--userns=keep-id is for rootless users: it keeps your own uid inside the container")
    if rootless.single_mapping():
        raise UsageError("--userns=keep-id needs a /etc/subuid and /etc/subgid range for your account "
                         "(usermod --add-subuids/--add-subgids, then pyctr system migrate)")
    maps = []
    for own, kind in ((rootless.uid() or 0, "uid"), (rootless.gid(), "gid")):
        with open(f"/proc/self/{kind}_map") as f:
            size = sum(int(line.split()[2]) for line in f if line.strip())
        if own + 1 >= size:
            raise UsageError(f"--userns=keep-id: your {kind} {own} is beyond the {size} ids of your namespace "
                             f"(its /etc/sub{kind} range is too small)")
        maps.append([(0, 1, own), (own, 0, 1), (own + 1, own + 1, size - own - 1)])
    spec.uid_map, spec.gid_map = maps
    if not spec.user:
        spec.user = f"{rootless.uid()}:{rootless.gid()}"
