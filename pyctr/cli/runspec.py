"""``pyctr run``/``create``: a ContainerSpec from the options, and running it.

No click here: pyctr.cli.fastpath calls :func:`run_container` directly,
and the click commands in pyctr.cli.containers call the same functions.
``options`` are the parameters named as in pyctr.cli.options.
"""

from __future__ import annotations

import sys
from typing import Any

from pyctr.cli.settings import echo, engine
from pyctr.images.store import image_store


def run_container(image: str, command: tuple[str, ...], detach: bool, options: dict[str, Any]) -> int:
    """Create and run a container; the exit code of ``pyctr run``."""
    from pyctr.core import lifecycle
    from pyctr.core.errors import UsageError

    keys = options.pop("detach_keys", None)
    if keys:
        from pyctr.runtime.attaching import parse_detach_keys

        keys = parse_detach_keys(keys)  # (bad keys: one line, before anything exists)
    eng = engine()
    spec, img, network = build_spec(image, command, options)
    if detach and spec.auto_remove and spec.restart_policy != "no":
        raise UsageError("conflicting options: --restart and --rm")
    container = lifecycle.create(eng, spec, img, network, starting=not detach and not _at_terminal(spec))
    if detach:
        from pyctr.runtime.detach import start_detached

        try:
            start_detached(eng, container)
        except BaseException:
            if spec.auto_remove:
                lifecycle.remove(eng, container, force=True, volumes=True)
            raise
        echo(container.id)
        return 0
    return run_foreground(eng, container, keys)


def create_container(image: str, command: tuple[str, ...], options: dict[str, Any]) -> str:
    """Create a container without starting it; its id."""
    from pyctr.core import lifecycle

    eng = engine()
    spec, img, network = build_spec(image, command, options)
    return lifecycle.create(eng, spec, img, network).id


def _parse_env(values: tuple[str, ...], files: tuple[str, ...]) -> list[str]:
    import os

    from pyctr.core.errors import UsageError

    env: list[str] = []
    for path in files:
        try:
            with open(path) as f:
                lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
        except OSError as e:
            raise UsageError(f"cannot read env file {path}: {e.strerror}") from None
        values = tuple(lines) + values
    for item in values:
        if "=" in item:
            env.append(item)
        elif item in os.environ:  # -e NAME passes the caller's value through, as Docker does
            env.append(f"{item}={os.environ[item]}")
    return env


def _parse_labels(values: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, _, v in (item.partition("=") for item in values)}


def build_spec(image_ref: str, command: tuple[str, ...], o: dict[str, Any]):  # noqa: ANN201
    """A ContainerSpec from the command line and the image, before plugins change it."""
    from pyctr.core.errors import UsageError
    from pyctr.core.lifecycle import spec_from_image
    from pyctr.core.spec import ContainerSpec

    eng = engine()
    image = _image_for_run(eng, image_ref, o["pull_policy"])
    spec = ContainerSpec(image=image_ref, name=o["name"] or "", hostname=o["hostname"],
                         env=_parse_env(o["env"], o["env_file"]), workdir=o["workdir"] or "/", user=o["user"],
                         tty=o["tty"], interactive=o["interactive"], labels=_parse_labels(o["label"]),
                         privileged=o["privileged"], cap_add=list(o["cap_add"]), cap_drop=list(o["cap_drop"]),
                         read_only=o["read_only"], auto_remove=o["auto_remove"])
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

    spec.log_driver, spec.log_options = logconfig.from_options(o["log_driver"], o["log_opt"], eng.config)
    spec.healthcheck = health.from_options(o, (image.config.get("config") or {}).get("Healthcheck"))
    spec.resources = resources_from(o)
    spec.cgroup_parent = o["cgroup_parent"]
    _namespace_modes(spec, o)
    spec.init = o["use_init"]
    for opt in o["security_opt"]:
        key, _, value = opt.partition("=")
        if key in ("no-new-privileges", "no_new_privileges") and value in ("", "true"):
            spec.no_new_privileges = True
        elif key == "seccomp" and value:
            from pyctr.runtime.seccomp import option_value

            spec.seccomp = option_value(value)  # a file is read and checked now, before anything exists
        else:
            raise UsageError(f"invalid --security-opt: {opt!r}")
    from pyctr.runtime.security import capability_set

    capability_set(spec.cap_add, spec.cap_drop, spec.privileged)  # validates names before anything is made
    network = _network_settings(spec, o, o["network"] or eng.config.network, image)
    spec_from_image(spec, image, list(command), o["entrypoint"])
    if (spec.mounts or o["volume"] or o["mount"] or o["tmpfs"] or o["volumes_from"]
            or (image.config.get("config") or {}).get("Volumes")):
        from pyctr.core import mountspec  # (its import only when there is a mount to make)

        spec.mounts = mountspec.build(eng, volumes=o["volume"], mounts=o["mount"], tmpfs=o["tmpfs"],
                                      volumes_from=o["volumes_from"], volume_driver=o["volume_driver"],
                                      image_config=image.config, existing=spec.mounts)
    return spec, image, network


def _network_settings(spec: Any, o: dict[str, Any], network: str | None, image: Any) -> str | None:
    """Fill spec.network from the flags; return the network driver's name (None: the default)."""
    from pyctr.core.errors import UsageError
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
    values = {"ports": list(o["publish"]), "publish_all": o["publish_all"], "expose": exposed,
              "aliases": list(o["network_alias"]), "ip": o["ip"], "dns": list(o["dns"]),
              "dns_search": list(o["dns_search"]), "dns_options": list(o["dns_option"]),
              "add_hosts": list(o["add_host"])}
    net.update({k: v for k, v in values.items() if v})
    if (net.get("ports") or net.get("publish_all")) and driver in ("none", "host", "container"):
        raise UsageError(f"published ports need a network of its own; --network={network} has none")
    return driver


def _image_for_run(eng: Any, ref: str, policy: str) -> Any:
    """Docker's --pull: a missing image is pulled (progress on stderr), as `docker run` does."""
    from pyctr.core.errors import NotFound

    if policy != "always":
        try:
            return image_store(eng).resolve(ref)
        except NotFound:
            if policy == "never":
                raise
    from pyctr.images import progress
    from pyctr.images.pull import pull

    if policy == "missing":
        echo(f"Unable to find image '{ref}' locally", err=True)
    result = pull(eng, ref, progress=progress.for_output(False, sys.stderr))
    return image_store(eng).resolve(result.reference)


def resources_from(o: dict[str, Any]) -> dict[str, Any]:
    """cgroup limits from the flags, in the driver's keys, units parsed as Docker does."""
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


def _namespace_modes(spec: Any, o: dict[str, Any]) -> None:
    from pyctr.core.errors import UsageError

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
    if o["userns"] not in (None, "", "host", "private"):
        raise UsageError(f"invalid --userns value {o['userns']!r}: host or private")
    if o["userns"] == "private" and not spec.uid_map:
        spec.uid_map = spec.gid_map = [(0, 100000, 65536)]
    if spec.uid_map:
        spec.namespaces["user"] = "private"


def run_foreground(eng: Any, container: Any, detach_keys: bytes | None = None) -> int:
    """Start ``container`` attached to this terminal and wait for it, as ``docker run`` without -d."""
    import os

    from pyctr.core import lifecycle

    spec = container.spec
    if _at_terminal(spec):
        return _run_at_terminal(eng, container, detach_keys)
    master = None
    try:
        if spec.tty:
            from pyctr.runtime.tty import start_with_console

            pid, master = start_with_console(lambda console: lifecycle.start(eng, container, console=console))
        else:
            stdin = 0 if spec.interactive else os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            try:
                pid = lifecycle.start(eng, container, stdio=(stdin, 1, 2))
            finally:
                if stdin != 0:
                    os.close(stdin)
        prober = 0
        if spec.healthcheck:
            from pyctr.runtime.probe import watch_beside

            prober = watch_beside(eng, container)  # the health checks' schedule, beside this process
        code = lifecycle.wait_foreground(eng, container, pid, master=master, interactive=spec.interactive,
                                         removing=spec.auto_remove)
        if prober:
            os.waitpid(prober, 0)  # (it ends with the init)
    except BaseException:
        if spec.auto_remove:
            lifecycle.remove(eng, container, force=True, volumes=True)
        raise
    finally:
        if master is not None:
            os.close(master)
    if spec.auto_remove:
        lifecycle.remove(eng, container, force=True, volumes=True)
    return code


def _at_terminal(spec: Any) -> bool:
    """``run -it`` at a terminal: started by a monitor, not by this process (:func:`_run_at_terminal`)."""
    import os

    return bool(spec.tty and spec.interactive and os.isatty(0))


def _run_at_terminal(eng: Any, container: Any, detach_keys: bytes | None) -> int:
    """``run -it`` at a terminal: the container runs under its monitor, as with -d,
    and this terminal is attached to it, so that the detach keys (Ctrl-P Ctrl-Q)
    leave it running, as Docker's do; otherwise the container's exit code, once
    its monitor has recorded the exit (and, with --rm, removed it)."""
    import socket

    from pyctr.core import lifecycle
    from pyctr.runtime.attaching import DETACH_KEYS, relay
    from pyctr.runtime.detach import start_detached

    ours, theirs = socket.socketpair()  # attached before it starts: not a byte of output missed
    try:
        try:
            start_detached(eng, container, client=theirs)
        except BaseException:
            if container.spec.auto_remove:
                lifecycle.remove(eng, container, force=True, volumes=True)
            raise
        finally:
            theirs.close()
        ended = relay(container, detach_keys or DETACH_KEYS, sock=ours)
    finally:
        ours.close()
    if ended.detached:
        return 0
    from pyctr.core.lifecycle import wait_stopped

    done = wait_stopped(eng, container.id, timeout=60, removed=container.spec.auto_remove)
    if ended.exit_code is not None:
        return ended.exit_code
    return done.exit_code if done is not None else 125

