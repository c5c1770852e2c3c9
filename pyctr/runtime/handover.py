"""A detached container's monitor in-process, and the hand-over when its init exits.

The service's launcher (pyctr.api.launcher) forks a worker that already has
pyctr loaded: it starts the container, stays on as its monitor
(pyctr.runtime.monitor's Monitor, run here rather than exec'ed) and records
the exit itself (:func:`finish`), without starting another interpreter.
``pyctr internal-finish`` does the same work for monitors that were exec'ed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from pyctr.runtime.detach import _log_arguments, _start_piped, health_schedule

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.core.engine import Engine


def run_monitored(engine: Engine, container_id: str, clients: list[int], report: Callable[[int], None]) -> int:
    """Start the container and be its monitor in this process, then finish it here: the
    service's launcher forks a process for this (pyctr.api.launcher), which has pyctr
    loaded already, so the exit is recorded without starting another interpreter.

    ``clients``: sockets attached from before the start (the API's attach).
    ``report(pid)`` is called once the user's command runs; a failure to start raises.
    Returns the exit code (unless a restart policy turns this process into the restart's sleeper).
    """
    from pyctr.runtime.monitor import Monitor

    started = _start_piped(engine, container_id)
    container = started.container
    prober = None
    schedule = health_schedule(container)
    if schedule != "-":
        from pyctr.runtime.prober import Prober

        cfg = engine.config
        prober = Prober([sys.executable, "-m", "pyctr", "--root", str(cfg.root), "--runroot", str(cfg.runroot),
                         "healthcheck", "run", container.id], schedule)
    rotation, attrs = _log_arguments(container)
    size, files, compress = rotation.split(",")
    engine.db.close()  # idle while the container runs; the finish opens a new one
    vars(engine).pop("db", None)
    report(started.pid)
    code = Monitor(started.pid, started.log_path, started.out_r, started.err_r, started.in_w,
                   started.listener.fileno(), clients, rotation=(int(size), int(files), compress == "1"),
                   attrs="" if attrs == "-" else attrs, prober=prober).run()
    finish(engine, container_id, code)
    return code


def finish(engine: Engine, container_id: str, exit_code: int) -> None:
    """The init exited under its monitor: record it, release what it held, then apply the
    restart policy (with a restart to come, this process becomes the back-off's sleeper and
    does not return) or ``--rm``."""
    from pyctr.core import lifecycle
    from pyctr.core.container import lookup
    from pyctr.core.errors import NotFound

    try:
        c = lookup(engine.db, engine.config.root, container_id)
    except NotFound:
        return  # removed meanwhile (rm -f)
    if c.status in ("running", "paused"):
        lifecycle.cleanup(engine, c, exit_code=exit_code)
        try:
            # (another process may have had the stop, and removed the container: rm -f)
            c = lookup(engine.db, engine.config.root, container_id)
        except NotFound:
            return
    from pyctr.runtime.detach import start_detached
    from pyctr.runtime.restarting import after_exit

    if after_exit(engine, c, start_detached):
        return  # started again after the back-off (a long one: this process became the sleeper, no return)
    if c.spec.auto_remove:
        lifecycle.remove(engine, c, force=True, volumes=True)
