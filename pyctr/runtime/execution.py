"""A command run in a running container (``exec``): what ``pyctr exec`` and the API's
``/exec`` share. The process joins the container's namespaces and cgroups, with its
environment, user and working directory (or the ones given)."""

from __future__ import annotations

import os

from pyctr.core.errors import Conflict

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.core.container import Container
    from pyctr.core.engine import Engine


def spawn(engine: Engine, c: Container, argv: list[str], *, env: list[str] | tuple[str, ...] = (),
          user: str | None = None, workdir: str | None = None, privileged: bool = False, tty: bool = False,
          stdio: tuple[int, int, int] | None = None) -> tuple[int, int | None]:
    """Start ``argv`` in ``c``; (its host pid, its terminal's master with ``tty``). ``env``: ``NAME=value``
    (or a bare NAME, passed through) over the container's own. The caller waits for the pid (our child)."""
    from pyctr.core.lifecycle import is_alive, seccomp_cache_dir
    from pyctr.core.plugins import plugins
    from pyctr.runtime.joins import namespaces_of
    from pyctr.runtime.launch import ExecLaunch, spawn_exec
    from pyctr.runtime.runoptions import parse_env

    if c.status != "running" or not is_alive(c.pid, c.runtime.get("starttime")):
        raise Conflict(f"container {c.name} is not running")
    if not argv:
        raise Conflict("no command given to exec")
    spec = c.spec.replace(privileged=c.spec.privileged or privileged)
    extra = parse_env(tuple(env), ())
    keys = {e.split("=", 1)[0] for e in extra}
    full_env = [e for e in spec.env if e.split("=", 1)[0] not in keys] + extra
    if tty and not any(e.startswith("TERM=") for e in full_env):
        full_env.append("TERM=xterm")

    def place(pid: int) -> None:
        plugins.load()  # (before the fork)
        handle = c.runtime.get("cgroup")
        if handle is not None and "cgroup" in c.drivers:
            engine.driver("cgroup", c.drivers["cgroup"]).add_process(handle, pid)

    launch = ExecLaunch(spec=spec, argv=list(argv), env=full_env, user=user if user else spec.user,
                        workdir=workdir or spec.workdir, joins=namespaces_of(c.pid),
                        seccomp_cache=seccomp_cache_dir(engine))
    if tty:
        from pyctr.runtime.tty import start_with_console

        def start(console: int) -> int:
            launch.console = console
            return spawn_exec(launch, place)

        return start_with_console(start)
    if stdio is None:
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            launch.stdio = (null, null, null)
            return spawn_exec(launch, place), None
        finally:
            os.close(null)
    launch.stdio = stdio
    return spawn_exec(launch, place), None
