"""``pyctr version``, ``pyctr info``, ``pyctr plugins``."""

from __future__ import annotations

import json
import os
import sys

import click

from pyctr.cli.common import engine, render, table
from pyctr.cli.group import with_options
from pyctr.cli.options import VERSION_OPTIONS
from pyctr.core.drivers import KINDS


@click.command()
@with_options(VERSION_OPTIONS)
def version(fmt: str | None) -> None:
    """Show the pyctr version information."""
    from pyctr.cli import reads

    sys.exit(reads.version(fmt))


@click.command()
@click.option("--format", "-f", "fmt", help="Go template, or 'json'.")
def info(fmt: str | None) -> None:
    """Display system-wide information."""
    from pyctr.runtime.sysinfo import collect_info

    data = collect_info(engine())
    if fmt == "json":
        click.echo(json.dumps(data))
        return
    if fmt:
        click.echo(render(fmt, data))
        return
    lines = [
        "Server:",
        f" Containers: {data['Containers']}",
        f"  Running: {data['ContainersRunning']}",
        f"  Paused: {data['ContainersPaused']}",
        f"  Stopped: {data['ContainersStopped']}",
        f" Images: {data['Images']}",
        f" Server Version: {data['ServerVersion']}",
        f" Storage Driver: {data['Driver']}",
    ]
    lines += [f"  {k}: {v}" for k, v in data["DriverStatus"]]
    lines += [
        f" Cgroup Driver: {data['CgroupDriver']}",
        f" Cgroup Version: {data['CgroupVersion']} ({data['CgroupLayout']})",
        " Plugins:",
    ]
    lines += [f"  {kind}: {' '.join(names)}" for kind, names in data["Plugins"].items()]
    lines += [f"  Hooks: {' '.join(data['HookPlugins'])}"]
    lines += [f" {k}: {v}" for k, v in data["PluginStatus"]]
    lines += [f" Default Runtime: {data['DefaultRuntime']}"]
    lines += [
        f" Kernel Version: {data['KernelVersion']}",
        f" Operating System: {data['OperatingSystem']}",
        f" OSType: {data['OSType']}",
        f" Architecture: {data['Architecture']}",
        f" CPUs: {data['NCPU']}",
        f" Total Memory: {data['MemTotal'] / (1 << 30):.2f}GiB",
        f" Docker Root Dir: {data['DockerRootDir']}",
        f" Run Root: {data['RunRoot']}",
        f" Rootless: {str(data['Rootless']).lower()}",
    ]
    lines += [f"  {k}: {v}" for k, v in data.get("RootlessStatus", [])]
    click.echo("\n".join(lines))


@click.command(name="plugins")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table")
def plugins_cmd(fmt: str) -> None:
    """List hook plugins and drivers, and whether each driver works here."""
    from pyctr.core.plugins import plugins
    from pyctr.core.selection import distributions, probe
    from pyctr.core.selection import names as driver_names

    eng = engine()
    plugins.strict = False  # a hook plugin that fails to load is listed, with why, not fatal here
    rows = []
    for name, dist, error in plugins.failures_now():
        rows.append({"Name": name, "Kind": "hook", "Distribution": dist, "Version": "?",
                     "Supported": f"no: failed to load: {error}", "Hooks": []})
    for name, dist, ver in plugins.list():
        if ":" in name and name.split(":", 1)[0] in KINDS:
            continue  # a selected driver registered as a hook plugin; listed below
        rows.append({"Name": name, "Kind": "hook", "Distribution": dist, "Version": ver, "Supported": "yes",
                     "Hooks": plugins.hooks_of(name)})
    for kind in KINDS:
        for name in driver_names(kind):
            for dist, ver in distributions(kind, name):
                reason = probe(kind, name, eng.ctx)
                rows.append({"Name": name, "Kind": kind, "Distribution": dist, "Version": ver,
                             "Supported": "yes" if reason is None else f"no: {reason}"})
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    table(["NAME", "KIND", "DISTRIBUTION", "VERSION", "SUPPORTED"],
          [[r["Name"], r["Kind"], r["Distribution"], r["Version"], r["Supported"]] for r in rows])
    sys.stdout.flush()


@click.group(name="system")
def system_group() -> None:
    """Manage pyctr itself."""


@system_group.command(name="prune")
@click.option("--force", "-f", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--all", "-a", "prune_all", is_flag=True, help="Also remove unused images (not just dangling).")
def system_prune(force: bool, prune_all: bool) -> None:
    """Remove stopped containers and whatever crashed runs left behind."""
    from pyctr.core import lifecycle

    if not force and sys.stdin.isatty():
        if not click.confirm("WARNING! This will remove all stopped containers and what killed runs left behind.\n"
                             "Are you sure you want to continue?"):
            return
    eng = engine()
    # Dead "running" containers first (they are stopped ones then), the stopped ones next,
    # and only then what no record names: a start killed before it saved its cgroups' handle
    # leaves a record that does not name them, so they are orphans once that record is gone.
    lines = lifecycle.reconcile(eng)
    removed = lifecycle.remove_stopped(eng)
    lines += lifecycle.prune_orphans(eng)
    if removed:
        click.echo("Deleted Containers:\n" + "\n".join(removed) + "\n")
    for line in lines:
        click.echo(line)


@system_group.command(name="service")
@click.option("--time", "-t", "idle", type=float, default=5.0, show_default=True,
              help="Seconds without a request before the service exits (0: never).")
@click.argument("uri", required=False)
def service(idle: float, uri: str | None) -> None:
    """Serve the Docker Engine API (v1.41) on a unix socket, for the docker CLI, docker-py,
    compose and testcontainers (DOCKER_HOST=unix:///run/pyctr/pyctr.sock)."""
    import json

    eng = engine()
    if idle < 0:
        from pyctr.core.errors import UsageError

        raise UsageError("--time must be 0 (never) or more seconds")
    os.environ["PYCTR_SERVICE_CONFIG"] = json.dumps(eng.config.as_dict())
    argv = [sys.executable, "-m", "pyctr.api", "--time", str(idle)]
    if eng.config.log_level == "debug":
        argv.append("--verbose")
    sys.stdout.flush()
    sys.stderr.flush()
    # a process of its own interpreter (the same pid, for systemd's LISTEN_PID): front ends do not import each other
    os.execv(sys.executable, argv + ([uri] if uri else []))


def _add_storage_commands() -> None:
    # system df / check live in their own module; registered here so `system --help` lists them
    from pyctr.cli.diskusage import check, df

    system_group.add_command(df)
    system_group.add_command(check)
    from pyctr.cli.restarting import autostart

    system_group.add_command(autostart)


_add_storage_commands()


@system_group.command(name="migrate")
def system_migrate() -> None:
    """Rootless: end the user namespace's pause process, so the next command maps
    /etc/subuid and /etc/subgid anew (as podman's). Refused while containers run."""
    from pyctr.core import rootless
    from pyctr.core.errors import Conflict
    from pyctr.runtime import userns

    eng = engine()
    if not rootless.active():
        return  # root has no user namespace to renew
    running = eng.db.execute("SELECT count(*) FROM containers WHERE status IN ('running', 'paused')").fetchone()[0]
    if running:
        raise Conflict(f"{running} container(s) still run in the user namespace; stop them first")
    userns.stop_pause(rootless.uid() or 0)


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def unshare(command: tuple[str, ...]) -> None:
    """Run COMMAND (default: $SHELL) in the rootless user's namespace, as root there (podman unshare)."""
    from pyctr.core import rootless
    from pyctr.core.errors import UsageError

    eng = engine()  # (enters the namespace)
    if not rootless.active():
        raise UsageError("pyctr unshare is for rootless users: root has no namespace to enter")
    argv = list(command) or [os.environ.get("SHELL", "/bin/sh")]
    os.environ["PYCTR_ROOT"] = str(eng.config.root)
    os.environ["PYCTR_RUNROOT"] = str(eng.config.runroot)
    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        raise UsageError(f"cannot run {argv[0]}: {e.strerror}") from None
