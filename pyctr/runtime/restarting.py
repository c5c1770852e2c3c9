"""Restart policies carried out without a daemon: the back-off wait, the restart, the boot pass.

When a detached container's init exits, its monitor hands over to ``pyctr
internal-finish``, which records the exit and calls :func:`after_exit`. If
the policy says so, the container becomes ``restarting`` with the next
back-off delay (pyctr.core.restarts) in its record, and that process turns
into a small sleeper (``python -S -I``, a few MB) that waits out the delay and
then execs ``pyctr internal-restart ID``, which starts the container again
under a new monitor, unless a ``stop`` (or ``rm``) came first: ``stop`` of a
restarting container records the stop, kills the sleeper and marks it exited
(pyctr.core.restarts.cancel).

After a reboot, or when the API service starts, :func:`start_at_boot`
starts the containers whose policy says so (as dockerd does when it starts):
contrib/pyctr-restart.service runs ``pyctr system autostart`` at boot.
"""

from __future__ import annotations

import os
import sys

from pyctr.core import restarts

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyctr.core.container import Container
    from pyctr.core.engine import Engine

    #: what starts a container under a monitor: pyctr.runtime.detach.start_detached, passed in by the
    #: callers (detach imports this module: no import back)
    Starter = Callable[[Engine, Container], object]

#: back-off waits shorter than this are waited out by the process that handled the exit
IN_PROCESS = 1.0
#: the sleeper: standard library only, no site packages; argv: DELAY COMMAND...
_SLEEPER = "import os, sys, time; time.sleep(float(sys.argv[1])); os.execv(sys.argv[2], sys.argv[2:])"


def after_exit(engine: Engine, container: Container, start: Starter) -> bool:
    """Apply the restart policy to a container whose init exited on its own (its exit recorded).

    Returns False when it stays stopped. Otherwise a short delay is waited out here and
    the container started again (True); a longer one turns this process into the sleeper
    that restarts it (this call does not return).
    """
    from pyctr.core.state import transaction

    manually = bool(container.runtime.get("stopped_by_user"))
    count = container.runtime.get("restart_count", 0)
    if not restarts.should_restart(container.spec.restart_policy, container.exit_code, manually, count):
        return False
    ran_for = max(0.0, container.finished - container.started)
    delay = restarts.next_delay(container.runtime.get("restart_delay", 0.0), ran_for)
    container.runtime["restart_delay"] = delay
    container.runtime["restart_count"] = count + 1
    container.runtime["monitor"] = os.getpid()  # the sleeper: what `stop` kills to end the loop
    container.status = "restarting"
    with transaction(engine.db):
        container.save(engine.db)
    if delay < IN_PROCESS:
        # a short wait costs less here than another interpreter's start (~0.15 s, as much as the wait)
        import time

        from pyctr.core.container import lookup
        from pyctr.core.errors import NotFound

        time.sleep(delay)
        try:
            restart_now(engine, lookup(engine.db, engine.config.root, container.id), start)
        except NotFound:
            pass  # removed meanwhile
        return True
    engine.db.close()
    cfg = engine.config
    command = [sys.executable, "-m", "pyctr", "--root", str(cfg.root), "--runroot", str(cfg.runroot),
               "internal-restart", container.id]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-S", "-I", "-c", _SLEEPER, repr(delay), *command])
    return True  # (not reached)


def restart_now(engine: Engine, container: Container, start: Starter) -> None:
    """The sleeper's end: start the container again, unless it was stopped or removed meanwhile."""
    from pyctr.core.errors import PyctrError

    if container.status != "restarting" or container.runtime.get("stopped_by_user"):
        return
    try:
        start(engine, container)
    except PyctrError as e:
        # a start that fails counts as an exit: the policy (and its back-off) decides again
        from pyctr.core.container import lookup

        failed = lookup(engine.db, engine.config.root, container.id)
        failed.error = str(e)
        failed.exit_code = getattr(e, "exit_code", 125)
        if failed.status not in ("running", "paused"):
            failed.status = "exited"
            failed.save(engine.db)
            after_exit(engine, failed, start)


def start_at_boot(engine: Engine, start: Starter) -> list[str]:
    """Start what a restarted dockerd would: records left "running" by a reboot are finished first
    (pyctr.core.lifecycle.reconcile), then every container whose policy says so is started."""
    from pyctr.core import lifecycle
    from pyctr.core.container import list_all
    from pyctr.core.errors import PyctrError

    lines = lifecycle.reconcile(engine)
    for c in list_all(engine.db, engine.config.root):
        if c.status == "restarting" and _alive_sleeper(c):
            continue  # its sleeper is still there (a service restart, not a reboot)
        if c.status not in ("exited", "restarting") or not c.started:
            continue
        manually = bool(c.runtime.get("stopped_by_user"))
        if not restarts.should_start_at_boot(c.spec.restart_policy, c.exit_code, manually,
                                             c.runtime.get("restart_count", 0)):
            continue
        c.runtime.pop("stopped_by_user", None)
        try:
            start(engine, c)
            lines.append(f"started {c.name} (restart policy {c.spec.restart_policy})")
        except PyctrError as e:
            lines.append(f"could not start {c.name}: {e}")
    return lines


def _alive_sleeper(c: Container) -> bool:
    pid = c.runtime.get("monitor", 0)
    return bool(pid) and restarts.is_sleeper(pid, c.id)
