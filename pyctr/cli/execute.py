"""``pyctr exec``: run a command in a running container."""

from __future__ import annotations

import os
import sys

import click

from pyctr.cli.common import engine
from pyctr.core.errors import Conflict
from pyctr.runtime.joins import JOIN_ORDER, namespaces_of  # noqa: F401  (their old home)


@click.command(name="exec", context_settings={"allow_interspersed_args": False})
@click.option("--detach", "-d", is_flag=True, help="Detached mode: run the command in the background.")
@click.option("--interactive", "-i", is_flag=True, help="Keep STDIN open.")
@click.option("--tty", "-t", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("--env", "-e", multiple=True, help="Set environment variables.")
@click.option("--user", "-u", default=None, help="Username or UID (format: <name|uid>[:<group|gid>]).")
@click.option("--workdir", "-w", default=None, help="Working directory inside the container.")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command.")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def execute(detach: bool, interactive: bool, tty: bool, env: tuple[str, ...], user: str | None,
            workdir: str | None, privileged: bool, container: str, command: tuple[str, ...]) -> None:
    """Execute a command in a running container."""
    from pyctr.core.container import lookup
    from pyctr.core.lifecycle import is_alive, seccomp_cache_dir
    from pyctr.core.plugins import plugins
    from pyctr.runtime.launch import ExecLaunch, spawn_exec
    from pyctr.runtime.runoptions import parse_env as _parse_env

    eng = engine()
    c = lookup(eng.db, eng.config.root, container)
    if c.status != "running" or not is_alive(c.pid, c.runtime.get("starttime")):
        raise Conflict(f"container {c.name} is not running")
    spec = c.spec.replace(privileged=c.spec.privileged or privileged)
    extra = _parse_env(env, ())
    keys = {e.split("=", 1)[0] for e in extra}
    full_env = [e for e in spec.env if e.split("=", 1)[0] not in keys] + extra
    if tty and not any(e.startswith("TERM=") for e in full_env):
        full_env.append("TERM=xterm")

    def place(pid: int) -> None:
        plugins.load()  # (before the fork)
        handle = c.runtime.get("cgroup")
        if handle is not None and "cgroup" in c.drivers:
            eng.driver("cgroup", c.drivers["cgroup"]).add_process(handle, pid)

    launch = ExecLaunch(spec=spec, argv=list(command), env=full_env, user=user if user is not None else spec.user,
                        workdir=workdir or spec.workdir, joins=namespaces_of(c.pid),
                        seccomp_cache=seccomp_cache_dir(eng))
    master = None
    if tty:
        from pyctr.runtime.tty import start_with_console

        def start(console: int) -> int:
            launch.console = console
            return spawn_exec(launch, place)

        pid, master = start_with_console(start)
    else:
        stdin = 0 if interactive and not detach else os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        launch.stdio = (stdin, 1, 2) if not detach else (stdin, stdin, stdin)
        pid = spawn_exec(launch, place)
    if detach:
        return
    from pyctr.runtime.driver import waitpid_status

    if master is not None:
        from pyctr.runtime.tty import RawMode, proxy

        with RawMode(0, enabled=interactive):
            status = proxy(master, pid, forward_stdin=interactive)
        os.close(master)
    else:
        status = waitpid_status(pid)
    code = os.waitstatus_to_exitcode(status)
    sys.exit(128 - code if code < 0 else code)
