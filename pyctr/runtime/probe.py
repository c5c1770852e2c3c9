"""One health probe: the check's command run inside the container, as ``exec`` runs one.

The command joins the container's namespaces and cgroups (it counts against
its limits), as its user, in its working directory, with its environment and
seccomp filter. Between the join and the command stands a small reaper, the
process ``exec`` would have made (it is the container's: its PID namespace,
its cgroup, not dumpable): a child subreaper that forks the command in a
process group of its own, waits for it at most the check's timeout, and then
kills what is left of it, the command's group and every process orphaned
below it (which come to the reaper, not to the container's init), and reaps
them all before it exits. So a probe never leaves a process behind, whether
it timed out or left a background job running. On a timeout the reaper ends
by SIGKILL to itself, which is how the probe learns of it.

Output (stdout and stderr together) is kept up to Docker's 4096 bytes, with
``...`` when there was more. A command that cannot be started is a result
with exit code -1 and the reason as output, as Docker records it: it makes the
container unhealthy, it is not an error of ``pyctr run``.
"""

from __future__ import annotations

import _signal as signal  # (the C module: imported before the fork, like everything the reaper uses)
import os
import select
import time

from pyctr.core import health
from pyctr.kernel import linux

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.core.container import Container
    from pyctr.core.engine import Engine

#: what the probe's host side waits beyond the timeout for the reaper to clean up
GRACE = 5.0


def supervise(timeout: float):  # noqa: ANN201
    """The reaper's body for :class:`pyctr.runtime.launch.ExecLaunch` ``supervise``."""

    def run(start: Any, err_w: int) -> None:
        linux.set_subreaper()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        command = os.fork()
        if command == 0:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            os.setpgid(0, 0)
            start()  # becomes the command (or reports why not on err_w, and exits)
            os._exit(127)
        # the reaper keeps nothing open: the host's pipes see their end when the command's do
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 65536)
        deadline = time.monotonic() + timeout
        status = None
        while status is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            signal.sigtimedwait({signal.SIGCHLD}, left)
            status = _reap(command)
        _kill_all(command)
        if status is None:
            os.kill(os.getpid(), signal.SIGKILL)  # timed out: the host side knows by this
        code = os.waitstatus_to_exitcode(status)
        os._exit(128 - code if code < 0 else code)

    return run


def _reap(command: int) -> int | None:
    """Reap what has exited; the command's wait status once it has."""
    status = None
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == command:
            status = st


def _kill_all(command: int) -> None:
    """Kill the command's group and every child of ours (orphans come to us, a subreaper),
    until none is left; reap them all."""
    try:
        os.killpg(command, signal.SIGKILL)
    except OSError:
        pass
    while True:
        try:
            children = open(f"/proc/self/task/{os.getpid()}/children").read().split()
        except OSError:
            children = []
        for pid in children:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            return


def run(engine: Engine, container: Container) -> dict[str, Any]:
    """Run the container's check once; its result (Docker's HealthcheckResult, plus ``_start``)."""
    from pyctr.runtime.joins import namespaces_of
    from pyctr.runtime.launch import ExecError, ExecLaunch, spawn_exec

    check = container.spec.healthcheck or {}
    _, timeout, _, _, _ = health.timings(check)
    start = time.time()
    spec = container.spec
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)

    def place(pid: int) -> None:
        handle = container.runtime.get("cgroup")
        if handle is not None and "cgroup" in container.drivers:
            engine.driver("cgroup", container.drivers["cgroup"]).add_process(handle, pid)

    launch = ExecLaunch(spec=spec, argv=health.command(check), env=list(spec.env), user=spec.user,
                        workdir=spec.workdir, joins=namespaces_of(container.pid), stdio=(null, out_w, out_w),
                        seccomp_cache=str(engine.config.root / "cache" / "seccomp"), supervise=supervise(timeout))
    try:
        try:
            pid = spawn_exec(launch, place)
        finally:
            os.close(out_w)
            os.close(null)
    except ExecError as e:
        os.close(out_r)
        return health.result(-1, str(e), start)
    output, status = _collect(out_r, pid, start + timeout + GRACE)
    text = output[:health.MAX_OUTPUT].decode("utf-8", "replace") + ("..." if len(output) > health.MAX_OUTPUT else "")
    if status is None or (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
                          and time.time() - start >= timeout):
        message = f"Health check exceeded timeout ({health.format_duration(int(timeout * health.SECOND))})"
        return health.result(-1, f"{message}: {text}" if text else message, start)
    code = os.waitstatus_to_exitcode(status)
    return health.result(128 - code if code < 0 else code, text, start)


def _collect(out_r: int, pid: int, deadline: float) -> tuple[bytes, int | None]:
    """The output (kept up to one byte past Docker's limit) until the pipe closes, and the reaper's
    wait status; at ``deadline`` the reaper is killed (it should have ended long before)."""
    chunks: list[bytes] = []
    kept = 0
    status = None
    try:
        while True:
            left = deadline - time.time()
            ready, _, _ = select.select([out_r], [], [], max(0.0, min(left, 0.5)))
            if ready:
                data = os.read(out_r, 65536)
                if not data:
                    break
                if kept <= health.MAX_OUTPUT:
                    chunks.append(data)
                    kept += len(data)
            elif left <= 0:
                break
    finally:
        os.close(out_r)
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
        if not done:
            if time.time() > deadline:
                os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        status = None
    return b"".join(chunks), status


def watch_beside(engine: Engine, container: Container) -> int:
    """Start the health schedule beside a watcher that is not pyctr's monitor (a foreground
    ``run``; conmon): ``prober.py`` on its own, ending with the container's init. Its pid, to
    reap once the container is gone; 0 when the container has no check."""
    import sys

    from pyctr.runtime.watching import health_schedule

    schedule = health_schedule(container)
    if schedule == "-":
        return 0
    health.reset(engine.db, container.id)
    cfg = engine.config
    command = [sys.executable, "-m", "pyctr", "--root", str(cfg.root), "--runroot", str(cfg.runroot),
               "healthcheck", "run", container.id]
    script = os.path.join(os.path.dirname(__file__), "prober.py")
    argv = [sys.executable, "-S", "-I", script, str(container.pid), str(container.runtime.get("starttime", 0)),
            schedule, "--", *command]
    pid = os.fork()
    if pid == 0:
        try:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, 65536)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    return pid

