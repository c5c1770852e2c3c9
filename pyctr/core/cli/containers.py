"""Container commands: ``run``, ``ps``, ``rm``."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from pyctr.core.cli.common import ago, engine, human_duration, render, table


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


def container_options(f: Any) -> Any:
    """The options ``run`` and ``create`` share."""
    options = [
        click.option("--name", help="Assign a name to the container."),
        click.option("--rm", "auto_remove", is_flag=True, help="Remove the container when it exits."),
        click.option("--interactive", "-i", is_flag=True, help="Keep STDIN open."),
        click.option("--tty", "-t", is_flag=True, help="Allocate a pseudo-TTY."),
        click.option("--env", "-e", multiple=True, help="Set an environment variable."),
        click.option("--env-file", multiple=True, help="Read environment variables from a file."),
        click.option("--workdir", "-w", default="", help="Working directory inside the container."),
        click.option("--user", "-u", default="", help="Username or UID (format: <name|uid>[:<group|gid>])."),
        click.option("--entrypoint", default=None, help="Overwrite the image's ENTRYPOINT."),
        click.option("--hostname", "-h", default="", help="Container host name."),
        click.option("--label", "-l", multiple=True, help="Set metadata on a container."),
        click.option("--network", "--net", "network", default=None, help="Network driver or mode (bridge, none, host, container:NAME)."),
        click.option("--privileged", is_flag=True, help="Give extended privileges to this container."),
        click.option("--cap-add", multiple=True, help="Add Linux capabilities."),
        click.option("--cap-drop", multiple=True, help="Drop Linux capabilities."),
        click.option("--read-only", is_flag=True, help="Mount the container's root filesystem as read only."),
        click.option("--security-opt", multiple=True, help="Security options (no-new-privileges, seccomp=...)."),
        click.option("--restart", default="no", help="Restart policy: no, on-failure[:max-retries], always, unless-stopped."),
        click.option("--stop-signal", default=None, help="Signal to stop the container."),
        click.option("--stop-timeout", type=int, default=None, help="Seconds to wait for a stop before killing."),
        click.option("--log-driver", type=click.Choice(["json-file", "none"]), default="json-file", help="Logging driver."),
        click.option("--pid", "pid_mode", default=None, help="PID namespace: host or container:NAME."),
        click.option("--ipc", "ipc_mode", default=None, help="IPC namespace: host, private or container:NAME."),
        click.option("--uts", "uts_mode", default=None, help="UTS namespace: host."),
        click.option("--userns", default=None, help="User namespace: host, or private (remap root to 100000)."),
        click.option("--uidmap", multiple=True, help="UID map CONTAINER:HOST:SIZE for a user namespace."),
        click.option("--gidmap", multiple=True, help="GID map CONTAINER:HOST:SIZE for a user namespace."),
        click.option("--init", "use_init", is_flag=True, help="Run a small init (tini) as PID 1 that reaps zombies."),
        click.option("--memory", "-m", default=None, help="Memory limit (e.g. 10m, 1g)."),
        click.option("--memory-swap", default=None, help="Memory plus swap limit; -1 for unlimited swap."),
        click.option("--memory-reservation", default=None, help="Memory soft limit."),
        click.option("--kernel-memory", default=None, help="Kernel memory limit (cgroup v1 kernels that still have it)."),
        click.option("--cpus", default=None, help="Number of CPUs (e.g. 0.5)."),
        click.option("--cpu-shares", "-c", type=int, default=None, help="CPU shares (relative weight)."),
        click.option("--cpu-quota", type=int, default=None, help="Limit CPU CFS quota (us)."),
        click.option("--cpu-period", type=int, default=None, help="Limit CPU CFS period (us)."),
        click.option("--cpuset-cpus", default=None, help="CPUs in which to allow execution (0-3, 0,1)."),
        click.option("--cpuset-mems", default=None, help="Memory nodes in which to allow execution."),
        click.option("--pids-limit", type=int, default=None, help="Tune container pids limit (-1 for unlimited)."),
        click.option("--blkio-weight", type=int, default=None, help="Block IO weight (10-1000)."),
        click.option("--oom-kill-disable", is_flag=True, help="Disable OOM Killer."),
        click.option("--cgroup-parent", default="", help="Parent cgroup for the container."),
        click.option("--publish", "-p", multiple=True, help="Publish a port: [ip:][hostport:]containerport[/proto]."),
        click.option("--publish-all", "-P", is_flag=True, help="Publish all exposed ports to random host ports."),
        click.option("--expose", multiple=True, help="Expose a port or a range of ports."),
        click.option("--network-alias", multiple=True, help="Add a network-scoped alias for the container."),
        click.option("--ip", default=None, help="IPv4 address on the container's network."),
        click.option("--dns", multiple=True, help="Set custom DNS servers."),
        click.option("--dns-search", multiple=True, help="Set custom DNS search domains."),
        click.option("--dns-option", multiple=True, help="Set DNS options."),
        click.option("--add-host", multiple=True, help="Add a custom host-to-IP mapping (host:ip)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def build_spec(image_ref: str, command: tuple[str, ...], o: dict[str, Any]):  # noqa: ANN201
    """A ContainerSpec from the command line and the image, before plugins change it."""
    from pyctr.core.errors import UsageError
    from pyctr.core.lifecycle import spec_from_image
    from pyctr.core.spec import ContainerSpec

    eng = engine()
    image = eng.images.resolve(image_ref)
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
        from pyctr.core.cli.control import parse_signal

        parse_signal(o["stop_signal"])
        spec.stop_signal = o["stop_signal"]
    if o["stop_timeout"] is not None:
        spec.stop_timeout = o["stop_timeout"]
    spec.log_driver = o["log_driver"]
    spec.resources = resources_from(o)
    spec.cgroup_parent = o["cgroup_parent"]
    _namespace_modes(spec, o)
    spec.init = o["use_init"]
    for opt in o["security_opt"]:
        key, _, value = opt.partition("=")
        if key in ("no-new-privileges", "no_new_privileges") and value in ("", "true"):
            spec.no_new_privileges = True
        elif key == "seccomp" and value:
            from pyctr.core.runtime.seccomp import option_value

            spec.seccomp = option_value(value)  # a file is read and checked now, before anything exists
        else:
            raise UsageError(f"invalid --security-opt: {opt!r}")
    from pyctr.core.runtime.security import capability_set

    capability_set(spec.cap_add, spec.cap_drop, spec.privileged)  # validates names before anything is made
    network = _network_settings(spec, o, o["network"] or eng.config.network, image)
    spec_from_image(spec, image, list(command), o["entrypoint"])
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


def resources_from(o: dict[str, Any]) -> dict[str, Any]:
    """cgroup limits from the flags, in the driver's keys, units parsed as Docker does."""
    from pyctr.core.units import parse_bytes, parse_cpus

    res: dict[str, Any] = {}
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


@click.command(context_settings={"allow_interspersed_args": False})
@container_options
@click.option("--detach", "-d", is_flag=True, help="Run the container in the background and print its ID.")
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(image: str, command: tuple[str, ...], detach: bool, **options: Any) -> None:
    """Create and run a new container from an image."""
    from pyctr.core import lifecycle
    from pyctr.core.errors import UsageError

    eng = engine()
    spec, img, network = build_spec(image, command, options)
    if detach and spec.auto_remove and spec.restart_policy != "no":
        raise UsageError("conflicting options: --restart and --rm")
    container = lifecycle.create(eng, spec, img, network)
    if detach:
        from pyctr.core.detach import start_detached

        try:
            start_detached(eng, container)
        except BaseException:
            if spec.auto_remove:
                lifecycle.remove(eng, container, force=True)
            raise
        click.echo(container.id)
        return
    code = run_foreground(eng, container)
    sys.exit(code)


@click.command(context_settings={"allow_interspersed_args": False})
@container_options
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def create(image: str, command: tuple[str, ...], **options: Any) -> None:
    """Create a new container without starting it."""
    from pyctr.core import lifecycle

    eng = engine()
    spec, img, network = build_spec(image, command, options)
    container = lifecycle.create(eng, spec, img, network)
    click.echo(container.id)


def run_foreground(eng: Any, container: Any) -> int:
    """Start ``container`` attached to this terminal and wait for it, as ``docker run`` without -d."""
    import os

    from pyctr.core import lifecycle

    spec = container.spec
    master = None
    try:
        if spec.tty:
            from pyctr.core.runtime.tty import start_with_console

            pid, master = start_with_console(lambda console: lifecycle.start(eng, container, console=console))
        else:
            stdin = 0 if spec.interactive else os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            try:
                pid = lifecycle.start(eng, container, stdio=(stdin, 1, 2))
            finally:
                if stdin != 0:
                    os.close(stdin)
        code = lifecycle.wait_foreground(eng, container, pid, master=master, interactive=spec.interactive)
    except BaseException:
        if spec.auto_remove:
            lifecycle.remove(eng, container, force=True)
        raise
    finally:
        if master is not None:
            os.close(master)
    if spec.auto_remove:
        lifecycle.remove(eng, container, force=True)
    return code


def _status_text(c: Any) -> str:
    from pyctr.core.lifecycle import _alive

    if c.status in ("running", "paused"):
        if not _alive(c.pid, c.runtime.get("starttime")):
            return "Exited (unknown) - pyctr was killed; rm -f or system prune cleans up"
        return f"Up {human_duration(time.time() - c.started)}" + (" (Paused)" if c.status == "paused" else "")
    if c.status == "exited":
        return f"Exited ({c.exit_code}) {ago(c.finished)}"
    return c.status.capitalize()


@click.command()
@click.option("--all", "-a", "show_all", is_flag=True, help="Show all containers (default shows just running).")
@click.option("--quiet", "-q", is_flag=True, help="Only display container IDs.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("--format", "fmt", help="Go template, or 'json'.")
@click.option("--filter", "-f", "filters", multiple=True, help="Filter output (name=, id=, status=, label=).")
@click.option("--last", "-n", type=int, default=-1, help="Show n last created containers.")
@click.option("--latest", "-l", is_flag=True, help="Show the latest created container.")
def ps(show_all: bool, quiet: bool, no_trunc: bool, fmt: str | None, filters: tuple[str, ...],
       last: int, latest: bool) -> None:
    """List containers."""
    from pyctr.core.container import list_all

    eng = engine()
    containers = list_all(eng.db, eng.config.root)
    if latest:
        last = 1
    if last >= 0:
        containers, show_all = containers[:last], True
    rows = []
    for c in containers:
        status = _status_text(c)
        running = status.startswith("Up")
        if not show_all and not running:
            continue
        state = ("paused" if c.status == "paused" else "running") if running else ("exited" if c.status in ("running", "paused") else c.status)
        command = " ".join(c.spec.argv)
        if not no_trunc and len(command) > 20:
            command = command[:19] + "…"
        row = {"ID": c.id if no_trunc else c.short_id, "Image": c.spec.image, "Command": f'"{command}"',
               "CreatedAt": c.created, "RunningFor": ago(c.created), "Status": status, "State": state,
               "Ports": "", "Names": c.name, "Labels": c.spec.labels, "Networks": c.drivers.get("network", "")}
        if _ps_match(row, c, filters):
            rows.append(row)
    if quiet:
        for r in rows:
            click.echo(r["ID"])
        return
    if fmt == "json":
        for r in rows:
            click.echo(json.dumps(r))
        return
    if fmt:
        for r in rows:
            click.echo(render(fmt, r))
        return
    table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"],
          [[r["ID"], r["Image"], r["Command"], r["RunningFor"], r["Status"], r["Ports"], r["Names"]] for r in rows])


def _ps_match(row: dict, c: Any, filters: tuple[str, ...]) -> bool:
    from pyctr.core.errors import UsageError

    for f in filters:
        key, _, value = f.partition("=")
        if key == "name" and value not in c.name:
            return False
        if key == "id" and not c.id.startswith(value):
            return False
        if key == "status" and row["State"] != value:
            return False
        if key == "label":
            k, _, v = value.partition("=")
            if k not in c.spec.labels or (v and c.spec.labels[k] != v):
                return False
        if key == "ancestor" and value not in (c.spec.image, c.image_id):
            return False
        if key not in ("name", "id", "status", "label", "ancestor"):
            raise UsageError(f"invalid filter {key!r}")
    return True


@click.command()
@click.option("--force", "-f", is_flag=True, help="Force the removal of a running container (uses SIGKILL).")
@click.option("--volumes", "-v", is_flag=True, help="Remove anonymous volumes associated with the container.")
@click.argument("containers", nargs=-1, required=True)
def rm(force: bool, volumes: bool, containers: tuple[str, ...]) -> None:
    """Remove one or more containers."""
    from pyctr.core import lifecycle
    from pyctr.core.container import lookup
    from pyctr.core.errors import PyctrError

    eng = engine()
    failed = 0
    for ref in containers:
        try:
            container = lookup(eng.db, eng.config.root, ref)
            lifecycle.remove(eng, container, force=force)
            click.echo(ref)
        except PyctrError as e:
            click.echo(f"Error: {e}", err=True)
            failed = 1
    if failed:
        sys.exit(1)
