"""Controlling existing containers: start, stop, kill, restart, wait, and the monitor's hand-over."""

from __future__ import annotations

import signal
import sys

import click

from pyctr.cli.common import each, engine
from pyctr.core import lifecycle
from pyctr.core.errors import Conflict, UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


def _each(refs: tuple[str, ...], action: Any) -> None:
    """Docker's multi-container commands: go on after a failure, exit 1 at the end."""
    from pyctr.core.container import lookup

    eng = engine()
    each(refs, lambda ref: action(eng, lookup(eng.db, eng.config.root, ref)))


@click.command()
@click.option("--attach", "-a", is_flag=True, help="Attach STDOUT/STDERR and forward signals.")
@click.option("--interactive", "-i", is_flag=True, help="Attach container's STDIN.")
@click.argument("containers", nargs=-1, required=True)
def start(attach: bool, interactive: bool, containers: tuple[str, ...]) -> None:
    """Start one or more stopped containers."""
    from pyctr.core.container import lookup

    if attach or interactive:
        if len(containers) != 1:
            raise UsageError("you cannot start and attach multiple containers at once")
        from pyctr.cli.runspec import run_foreground

        eng = engine()
        c = lookup(eng.db, eng.config.root, containers[0])
        if interactive:
            c.spec.interactive = True
        sys.exit(run_foreground(eng, c))

    def act(eng: Any, c: Any) -> None:
        from pyctr.runtime.detach import start_detached

        if c.status in ("running", "paused") and lifecycle.is_alive(c.pid, c.runtime.get("starttime")):
            return
        from pyctr.core import restarts

        restarts.manual_start(eng, c)
        start_detached(eng, c)

    _each(containers, act)


@click.command()
@click.option("--time", "-t", "timeout", type=int, default=None, help="Seconds to wait before killing it.")
@click.option("--signal", "-s", "sig", default=None, help="Signal to send (default: the container's stop signal).")
@click.argument("containers", nargs=-1, required=True)
def stop(timeout: int | None, sig: str | None, containers: tuple[str, ...]) -> None:
    """Stop one or more running containers."""

    def act(eng: Any, c: Any) -> None:
        lifecycle.stop(eng, c, timeout, sig)

    _each(containers, act)


@click.command()
@click.option("--signal", "-s", "sig", default="KILL", help="Signal to send to the container.")
@click.argument("containers", nargs=-1, required=True)
def kill(sig: str, containers: tuple[str, ...]) -> None:
    """Kill one or more running containers."""
    number = lifecycle.parse_signal(sig)

    def act(eng: Any, c: Any) -> None:
        lifecycle.kill(c, number, eng)
        if number == signal.SIGKILL:
            lifecycle.wait_stopped(eng, c.id, 10)

    _each(containers, act)


@click.command()
@click.option("--time", "-t", "timeout", type=int, default=None, help="Seconds to wait before killing it.")
@click.argument("containers", nargs=-1, required=True)
def restart(timeout: int | None, containers: tuple[str, ...]) -> None:
    """Restart one or more containers."""
    from pyctr.core.container import lookup
    from pyctr.runtime.detach import start_detached

    def act(eng: Any, c: Any) -> None:
        from pyctr.core import restarts

        lifecycle.stop(eng, c, timeout)
        again = lookup(eng.db, eng.config.root, c.id)
        restarts.manual_start(eng, again)
        start_detached(eng, again)

    _each(containers, act)


@click.command()
@click.argument("containers", nargs=-1, required=True)
def wait(containers: tuple[str, ...]) -> None:
    """Block until one or more containers stop, then print their exit codes."""
    from pyctr.core.container import lookup

    eng = engine()

    def one(ref: str) -> None:
        c = lookup(eng.db, eng.config.root, ref)
        done = lifecycle.wait_stopped(eng, c.id)
        click.echo(done.exit_code if done is not None else c.exit_code)

    each(containers, one, echo=False)


@click.command(name="internal-finish", hidden=True)
@click.argument("container_id")
@click.argument("exit_code", type=int, required=False)
def internal_finish(container_id: str, exit_code: int | None) -> None:
    """Called by a container's monitor once its init exited: record, clean up, --rm, restart.
    Without EXIT_CODE, conmon's exit command: the code is the one conmon wrote."""
    if exit_code is None:
        from pyctr.runtime.conmon_exit import finish as conmon_finish

        conmon_finish(engine(), container_id)
        return
    from pyctr.runtime.handover import finish

    finish(engine(), container_id, exit_code)  # (a restart to come: this process waits out the back-off)


@click.command()
@click.argument("container")
@click.argument("new_name")
def rename(container: str, new_name: str) -> None:
    """Rename a container."""
    from pyctr.core.container import lookup

    eng = engine()
    lifecycle.rename(eng, lookup(eng.db, eng.config.root, container), new_name)


@click.command()
@click.argument("container")
@click.argument("ps_options", nargs=-1)
def top(container: str, ps_options: tuple[str, ...]) -> None:
    """Display the running processes of a container (as the host's ps sees them)."""
    import subprocess

    from pyctr.core.container import lookup

    eng = engine()
    c = lookup(eng.db, eng.config.root, container)
    if c.status != "running" or not lifecycle.is_alive(c.pid, c.runtime.get("starttime")):
        raise Conflict(f"container {c.name} is not running")
    import os

    own_ns = os.readlink(f"/proc/{c.pid}/ns/pid")
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == own_ns:
                    pids.append(entry)
            except OSError:
                continue
    args = list(ps_options) or ["-f"]
    out = subprocess.run(["ps", *args, "-p", ",".join(sorted(pids, key=int))], capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise UsageError(f"ps failed: {out.stderr.strip()}")
    click.echo(out.stdout, nl=False)


@click.command(name="prune")
@click.option("--force", "-f", is_flag=True, help="Do not prompt for confirmation.")
def container_prune(force: bool) -> None:
    """Remove all stopped containers."""
    if not force and sys.stdin.isatty() and not click.confirm("WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"):
        return
    eng = engine()
    lifecycle.reconcile(eng)
    removed = lifecycle.remove_stopped(eng)
    if removed:
        click.echo("Deleted Containers:\n" + "\n".join(removed) + "\n")
    click.echo("Total reclaimed space: 0B")


class _ContainerGroup(click.Group):
    """``pyctr container ls|run|rm|...``: the top-level container commands under one roof."""

    NAMES = ("attach", "create", "exec", "inspect", "kill", "logs", "ls", "rename", "restart", "rm", "run",
             "start", "stop", "top", "wait")

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.NAMES) | {"prune"})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "prune":
            return container_prune
        if name not in self.NAMES:
            return None
        from pyctr.cli import cli

        return cli.get_command(ctx, "ps" if name == "ls" else name)


@click.group(name="container", cls=_ContainerGroup)
def container_group() -> None:
    """Manage containers."""
