"""A detached start under conmon, and the end of it (see :mod:`pyctr.runtime.conmon`).

:func:`start_detached` is what ``run -d``/``start``/a restart call for a
container of the ``conmon`` driver. It has :func:`pyctr.core.lifecycle.start`
do the usual work (cgroups, rootfs, volumes, network, hooks, records), whose
runtime driver calls :func:`spawn` here:

1. write the bundle's config.json (:mod:`pyctr.runtime.bundle`: the container
   as ``pyctr run`` would make it; the cgroups pyctr made are handed over);
2. start conmon, which daemonizes, runs ``pyctr-runtime create`` (with the
   container's pipes or, with ``-t``, a console socket) and reports the init's
   pid, or the runtime's error, on the sync pipe (``_OCI_SYNCPIPE``);
3. while the init waits on its exec fifo: the host's part (``create_runtime``:
   the record, the cgroups, the network, ``pyctr_create_runtime``), and for
   ``run -it`` the attach socket is connected, so no output is missed;
4. start it: open the exec fifo (:mod:`pyctr.runtime.execfifo`), as
   ``pyctr-runtime start`` would, without another interpreter.

A failure kills conmon first (SIGKILL: its exit command must not run for a
start that never happened), then the init, and is raised for the host to
clean up. When the container exits, conmon writes the exit code and runs
``pyctr internal-finish ID`` (:mod:`pyctr.runtime.conmon_exit`).

conmon is given a launcher for pyctr-runtime written under the runroot
(:func:`runtime_launcher`): the same interpreter run with ``-I -S`` and
this process's module path, which spares each create the site module's start.
"""

from __future__ import annotations

import json
import os
import sys

from pyctr.core.errors import RuntimeFailure
from pyctr.runtime.conmon_files import conmon_binary, userdata

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pyctr.core.container import Container
    from pyctr.core.drivers import DriverContext, Launch
    from pyctr.core.engine import Engine

#: how long conmon may take to report the init's pid (a create that hangs is killed)
CREATE_TIMEOUT = 120.0


class Detach:
    """A detached start under conmon: what it needs and, once made, what it found."""

    def __init__(self, root: str, runroot: str, *, attach: bool = False, init_hooks: bool = True) -> None:
        self.root = root
        self.runroot = runroot
        self.attach = attach  #: connect to conmon's attach socket before the container starts (run -it)
        self.init_hooks = init_hooks  #: whether a hook plugin runs in the init (pyctr_setup_child, ...)
        self.monitor = 0  #: conmon's pid
        self.link: Any = None  #: the attach connection (pyctr.runtime.attaching.ConmonLink), with ``attach``


# ---------------------------------------------------------------------------
# the host's side
# ---------------------------------------------------------------------------


def start_detached(engine: Engine, container: Container, attach: bool = False) -> Detach:
    """Start ``container`` under conmon; once its command runs, record conmon as its monitor."""
    from pyctr.core import lifecycle
    from pyctr.core.plugins import plugins
    from pyctr.core.state import transaction

    cfg = engine.config
    init_hooks = plugins.implements("pyctr_setup_child") or plugins.implements("pyctr_start_container")
    detach = Detach(str(cfg.root), str(cfg.runroot), attach=attach, init_hooks=init_hooks)
    try:
        lifecycle.start(engine, container, detach=detach)
    except BaseException:
        if detach.link is not None:
            detach.link.close()
        raise
    container.runtime["monitor"] = detach.monitor
    container.runtime["conmon"] = 1
    with transaction(engine.db):
        container.save(engine.db)
    if container.spec.healthcheck:
        from pyctr.runtime.probe import watch_beside

        watch_beside(engine, container)  # the schedule runs beside conmon, ending with the init
    return detach


# ---------------------------------------------------------------------------
# the runtime driver's side (ConmonRuntimeDriver.spawn)
# ---------------------------------------------------------------------------


def spawn(ctx: DriverContext, launch: Launch, create_runtime: Callable[[int, Callable[[], None]], None]) -> int:
    """Have conmon create the init through pyctr-runtime, do the host's part while it waits,
    start it; its host pid once the user's command runs."""
    from pyctr.runtime import bundle

    detach: Detach = launch.detach
    spec = launch.spec
    cid = launch.container_id
    home = userdata(launch.container_dir)
    _fresh_userdata(home)
    uid, gid, groups = bundle.user_of(spec, launch.rootfs)
    config = bundle.oci_config(spec, launch.rootfs, launch.container_dir, uid=uid, gid=gid, groups=groups,
                               flags=launch.flags, joins=launch.joins,
                               cgroup=json.dumps(launch.cgroup) if launch.cgroup is not None else None,
                               init_hooks=detach.init_hooks)
    with open(os.path.join(home, "config.json"), "w") as f:
        json.dump(config, f)
    conmon = conmon_binary()
    if conmon is None:
        raise RuntimeFailure("conmon is not installed (Debian package conmon)")
    argv = _conmon_argv(conmon, launch, home, detach, runtime_launcher(str(ctx.runroot)))
    pid = 0
    try:
        pid = _create(argv, home)
        detach.monitor = _read_int(os.path.join(home, "conmon.pid"))
        create_runtime(pid, _ready)
        if detach.attach:
            from pyctr.runtime.conmon_link import ConmonLink

            detach.link = ConmonLink.connect(home)
        _release(home, cid, pid)
    except BaseException:
        _abandon(home, cid, detach.monitor or _read_int(os.path.join(home, "conmon.pid")), pid)
        raise
    return pid


def _ready() -> None:
    """(The init's namespaces exist once pyctr-runtime's create has returned.)"""


def _fresh_userdata(home: str) -> None:
    """conmon's directory without what an earlier start left (its exit code above all)."""
    from pyctr.core.trees import remove_tree

    os.makedirs(home, mode=0o700, exist_ok=True)
    for name in ("exit", "oom", "pidfile", "conmon.pid", "attach", "ctl", "winsz", "config.json"):
        try:
            os.unlink(os.path.join(home, name))
        except FileNotFoundError:
            pass
    remove_tree(os.path.join(home, "oci"))  # a stopped container's state: a create of the same id is refused


def _conmon_argv(conmon: str, launch: Launch, home: str, detach: Detach, runtime: str) -> list[str]:
    spec = launch.spec
    cid = launch.container_id
    finish = ["-m", "pyctr", "--root", detach.root, "--runroot", detach.runroot, "internal-finish", cid]
    argv = [conmon, "--api-version", "1", "--cid", cid, "--cuuid", cid, "--name", spec.name or cid,
            "--runtime", runtime, "--runtime-arg", "--root", "--runtime-arg", os.path.join(home, "oci"),
            "--bundle", home, "--container-pidfile", os.path.join(home, "pidfile"),
            "--conmon-pidfile", os.path.join(home, "conmon.pid"), "--persist-dir", home,
            "--socket-dir-path", home, "--full-attach", "--no-sync-log",
            "--exit-command", sys.executable]
    for arg in finish:
        argv += ["--exit-command-arg", arg]
    if spec.log_driver == "json-file":
        argv += ["--log-path", "k8s-file:" + os.path.join(launch.container_dir, f"{cid}-json.log")]
        size = _log_size(spec.log_options)
        if size > 0:
            argv += ["--log-size-max", str(size)]
    else:
        argv += ["--log-path", "none:"]
    if spec.tty:
        argv.append("--terminal")
    if spec.interactive:
        argv += ["--stdin", "--leave-stdin-open"]  # stdin stays open across attaches, as Docker's -di
    return argv


def _log_size(options: dict[str, str]) -> int:
    if "max-size" not in options:
        return -1
    from pyctr.core import logconfig

    return logconfig.rotation(options)[0]


def _create(argv: list[str], home: str) -> int:
    """Start conmon; the init's pid it reports once pyctr-runtime's create is done."""
    import select

    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    os.set_inheritable(sync_w, True)  # conmon's, by the number in _OCI_SYNCPIPE
    env = dict(os.environ, _OCI_SYNCPIPE=str(sync_w))
    try:
        # conmon's first process forks the one that stays (which does setsid) and exits. It runs in
        # its directory, as podman runs it: it writes an OOM event to ./oom besides its persist dir.
        # (env -C: posix_spawn cannot change directory, and a chdir here would move every thread.)
        argv = ["/usr/bin/env", "-C", home, *argv]
        first = os.posix_spawn(argv[0], argv, env, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, err_w, 2)])
    except OSError as e:
        for fd in (sync_r, sync_w, err_r, err_w):
            os.close(fd)
        raise RuntimeFailure(f"conmon: {e.strerror}") from None
    os.close(sync_w)
    os.close(err_w)
    try:
        status = os.waitpid(first, 0)[1]
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeFailure(_conmon_error(err_r) or f"conmon exited {os.waitstatus_to_exitcode(status)}")
        chunks = b""
        while b"\n" not in chunks:
            ready, _, _ = select.select([sync_r], [], [], CREATE_TIMEOUT)
            if not ready:
                raise RuntimeFailure(f"conmon did not report the container's start within {CREATE_TIMEOUT:.0f} s")
            chunk = os.read(sync_r, 4096)
            if not chunk:
                raise RuntimeFailure(_conmon_error(err_r) or "conmon exited before the container was created")
            chunks += chunk
    finally:
        os.close(sync_r)
    try:
        report = json.loads(chunks.split(b"\n", 1)[0])
        pid = int(report["data"])
    except (ValueError, KeyError, TypeError):
        os.close(err_r)
        raise RuntimeFailure(f"conmon's report is not understood: {chunks[:200]!r}") from None
    os.close(err_r)
    if pid <= 0:
        raise _create_error(str(report.get("message") or "the container could not be created"))
    return pid


def _conmon_error(err_r: int) -> str:
    """What conmon said on stderr before it let go of it (its option errors, a bad runtime path)."""
    os.set_blocking(err_r, False)
    try:
        data = os.read(err_r, 65536)
    except OSError:
        data = b""
    finally:
        os.close(err_r)
    lines = [ln.strip() for ln in data.decode(errors="replace").splitlines() if ln.strip()]
    return "conmon: " + lines[-1].replace("[conmon:e]: ", "") if lines else ""


def _create_error(message: str) -> Exception:
    """pyctr-runtime's create error as ``run``'s: the exit code Docker gives for it (as podman
    reads the runtime's words: 127 not found, 126 not executable, else 125)."""
    from pyctr.runtime.launch import ExecError

    text = message.strip().splitlines()[-1] if message.strip() else message
    if text.startswith("pyctr-runtime: "):
        text = text[len("pyctr-runtime: "):]
    lowered = text.lower()
    if "executable file not found" in lowered or "no such file or directory" in lowered:
        code = 127
    elif "permission denied" in lowered or "operation not permitted" in lowered:
        code = 126
    else:
        code = 125
    return ExecError(code, text)


def _release(home: str, cid: str, pid: int) -> None:
    """``start``: let the init blocked on its exec fifo go on to execve."""
    from pyctr.core.lifecycle import is_alive
    from pyctr.runtime import execfifo
    from pyctr.runtime.launch import ExecError

    try:
        execfifo.release(os.path.join(home, "oci", cid, "exec.fifo"), lambda: is_alive(pid))
    except execfifo.StartFailure as e:
        raise ExecError(125, str(e)) from None


def _abandon(home: str, cid: str, monitor: int, pid: int) -> None:
    """Undo a start that failed after conmon began: conmon killed first (its exit command must
    not run for this start), then the init; pyctr-runtime's state goes."""
    import signal

    from pyctr.core.trees import remove_tree

    for victim in (monitor, pid):
        if victim > 0:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if pid > 0:
        import time

        from pyctr.core.lifecycle import is_alive

        deadline = time.monotonic() + 10
        while is_alive(pid) and time.monotonic() < deadline:  # (gone, or a zombie: not our child)
            time.sleep(0.005)
    remove_tree(os.path.join(home, "oci"))


def _read_int(path: str) -> int:
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


# ---------------------------------------------------------------------------
# pyctr-runtime for conmon
# ---------------------------------------------------------------------------


def runtime_launcher(runroot: str) -> str:
    """An executable that runs pyctr-runtime with this interpreter, ``-I -S`` and this process's
    module path (conmon takes one executable path; the site module's work is ~10 ms a create)."""
    import pyctr

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(pyctr.__file__)))
    cwd = os.getcwd()
    path = [p for p in sys.path if p and (p != cwd or p == package_root)]
    if package_root not in path:
        path.insert(0, package_root)
    text = (f"#!{sys.executable} -IS\n"
            "# pyctr's conmon runtime driver: pyctr-runtime, without the site module's start-up\n"
            f"import sys\nsys.path[:] = {path!r}\n"
            "from pyctr.oci.cli import main\nsys.exit(main())\n")
    directory = os.path.join(runroot, "conmon")
    target = os.path.join(directory, "pyctr-runtime")
    try:
        with open(target) as f:
            if f.read() == text:
                return target
    except OSError:
        pass
    os.makedirs(directory, mode=0o700, exist_ok=True)
    tmp = f"{target}.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)
    return target
