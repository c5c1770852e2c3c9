"""``pyctr exec``: run a command in a running container."""

from __future__ import annotations

import os
import sys

import click

from pyctr.cli.common import engine
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
    from pyctr.core import events
    from pyctr.core.container import lookup
    from pyctr.runtime.execution import spawn

    eng = engine()
    c = lookup(eng.db, eng.config.root, container)
    stdio = None
    if not tty and not detach:
        stdin = 0 if interactive else os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        stdio = (stdin, 1, 2)
    # the journal, as the API's exec has it (dockerd's exec_create, exec_start, exec_die)
    exec_id, label = os.urandom(32).hex(), " ".join(command)
    events.record(eng, "container", f"exec_create: {label}", c.id, events.container_attributes(c, execID=exec_id))
    pid, master = spawn(eng, c, list(command), env=env, user=user, workdir=workdir, privileged=privileged,
                        tty=tty, stdio=stdio)
    events.record(eng, "container", f"exec_start: {label}", c.id, events.container_attributes(c, execID=exec_id))
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
    code = 128 - code if code < 0 else code
    events.record(eng, "container", "exec_die", c.id, events.container_attributes(c, execID=exec_id, exitCode=code))
    sys.exit(code)
