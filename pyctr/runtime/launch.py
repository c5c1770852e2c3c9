"""Starting a container's init: the parent's half and the child's entry.

Without a user namespace (:func:`_one_stage`)::

    parent: the seccomp filter (from its cache, or compiled)
      │ unshare(CLONE_NEWPID) for its next child only, fork, set it back
      │ ──fork──> init (PID 1): unshare/join the other namespaces, "ready" ──┐
      ├─ the record, the init's cgroups (it knows the pid from the fork)     │ the kernel mounts
      ├─ reads "ready"; network, pyctr_create_runtime                        │
      ├─ writes "go" ──────────────────────────────────────────────────────> │ the rest of the mounts,
      └─ reads the error pipe: EOF = execve succeeded                        │ pivot_root, privileges, execve

With one (:func:`_two_stages`; a user namespace cannot be made by a threaded
process, and the PID namespace must belong to it)::

    parent: the seccomp filter
      │ ──fork──> stage 1: join/unshare namespaces ──fork──> init (PID 1)
      ├─ places stage 1 in  exits at once; init is re-parented          │
      │  the cgroups        to us (we are a child subreaper)            │
      ├─ reads init's host pid                                          │
      ├─ network, the init's cgroups, pyctr_create_runtime (uid maps)   │
      ├─ writes "go" ─────────────────────────────────────────────────> │ the mounts, pivot_root,
      └─ reads the error pipe: EOF = execve succeeded                   │ privileges, execve

The parent reads the compiled seccomp filter (or compiles it, on a cache
miss) and makes its system call's arguments before it forks (also for
``exec``): in a forked process every page written is a copy-on-write fault
(~5 us each on the development VM), which made the same work 2-4 times
slower in the child. The child inherits them and only loads the filter.

The first cgroup v1 migration in a while waits for an RCU grace period
(10-20 ms here: the kernel's cgroup_threadgroup_rwsem). The cgroupfs driver
starts that wait early (``warm_up``), and the init is placed from a thread
while the network is wired, so that the wait overlaps the rest.

Pipes, never sleeps. The error pipe is close-on-exec in the init, so a
successful execve closes it; a failure writes ``code:message`` first.
"""

from __future__ import annotations

import _signal as signal  # the C module: signal.py's enums cost ~1 ms of import per start
import os
import sys
from collections.abc import Callable

from pyctr.core import rootless
from pyctr.core.background import Background
from pyctr.core.drivers import Launch
from pyctr.core.errors import RuntimeFailure

# The child runs inside the container's root, where pyctr's and Python's files
# are not visible: every module it uses is imported here, before the fork.
from pyctr.kernel import linux
from pyctr.runtime import child, seccomp, security, steps
from pyctr.runtime.child import ExecFailure

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.core.spec import ContainerSpec
    from pyctr.runtime.plan import Plan, ProcessPlan


class ExecError(RuntimeFailure):
    """The user's command could not start; ``exit_code`` is 125, 126 or 127."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = code


def spawn(launch: Launch, create_runtime: Callable[[int, Callable[[], None]], None],
          place_early: Callable[[int], None] | None = None) -> int:
    """Start the container's init and return its host pid once execve succeeded.

    ``create_runtime(pid, ready)`` runs while the init waits (record, cgroups,
    network, hooks); ``ready()`` returns once the init's namespaces exist, and
    must be called before anything that needs them. If anything fails, the
    init is killed and reaped and the error raised. Without a user namespace
    the init is forked from here (:func:`_one_stage`); with one, a first stage
    makes the namespaces and forks it, and ``place_early(pid)`` puts that
    stage in the container's cgroups from a thread right after its fork.
    """
    seccomp_filter = _prepare_seccomp(launch.spec, launch.seccomp_cache,
                                      launch.plan.process if launch.plan is not None else None)
    if launch.console is not None:
        import termios  # noqa: F401  (make_console needs it after pivot_root, where imports fail)
    # Rootless, pyctr cannot set its thread's PID namespace back once it made a new
    # one (that needs CAP_SYS_ADMIN over the host's): a first stage makes it instead.
    if not launch.flags & linux.CLONE_NEWUSER and not rootless.active():
        return _one_stage(launch, create_runtime, seccomp_filter)
    return _two_stages(lambda sync_w, go_r, err_w: _stage1(launch, seccomp_filter, sync_w, go_r, err_w),
                       lambda pid: create_runtime(pid, _already_ready), place_early)


def _already_ready() -> None:
    """(Two stages: the init's pid comes after stage 1 made the namespaces.)"""


def _one_stage(launch: Launch, while_waiting: Callable[[int, Callable[[], None]], None],
               seccomp_filter: seccomp.Prepared) -> int:
    """Fork the init from here, straight into the container's PID namespace (see
    :func:`_fork_in_pid_namespace`); it makes or joins the other namespaces
    itself and says "ready". Meanwhile ``while_waiting(pid, ready)``; then "go",
    and its pid once it has exec'd. One fork fewer than :func:`_two_stages`,
    and the parent knows the pid at once (3.6-6 ms earlier), so it works while
    the init makes its namespaces."""
    linux.set_subreaper()
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)  # the init -> parent: its namespaces exist
    go_r, go_w = os.pipe2(os.O_CLOEXEC)  # parent -> the init: continue
    err_r, err_w = os.pipe2(os.O_CLOEXEC)  # the init -> parent: why it failed
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = _fork_in_pid_namespace(launch)
    except BaseException:
        for fd in (sync_r, sync_w, go_r, go_w, err_r, err_w):
            os.close(fd)
        raise
    if pid == 0:
        os.close(sync_r)
        os.close(go_w)
        os.close(err_r)
        launch.report = err_w
        _child_guard(err_w, lambda: _init_alone(launch, seccomp_filter, sync_w, go_r))
    os.close(sync_w)
    os.close(go_r)
    os.close(err_w)
    said: list[bytes] = []

    def ready() -> None:
        if not said:
            said.append(_read_all(sync_r))
        if said[0] != b"ready":
            raise _error_from(_read_all(err_r))

    try:
        while_waiting(pid, ready)
        ready()
        go, go_w, launched, pid = go_w, -1, pid, 0  # (from here _go reaps it, whatever happens)
        return _go(launched, go, err_r)
    except BaseException:
        if pid:
            _kill_and_reap(pid)
        raise
    finally:
        _close_quietly(sync_r, err_r, go_w)


def _fork_in_pid_namespace(launch: Launch) -> int:
    """``os.fork()`` with this thread's pid_for_children set to the container's PID
    namespace, a new one or the one it joins, and set back in the parent.

    A threaded process may do this (a user namespace may not be made so, which
    is why that case keeps a first stage): unshare and setns of a PID namespace
    change only the calling thread's namespace for its children.
    """
    join = launch.joins.get("pid")
    if not join and not launch.flags & linux.CLONE_NEWPID:
        return os.fork()
    own = os.open("/proc/thread-self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if join:
            fd = os.open(join, os.O_RDONLY | os.O_CLOEXEC)
            try:
                linux.setns(fd, linux.CLONE_NEWPID)
            finally:
                os.close(fd)
        else:
            linux.unshare(linux.CLONE_NEWPID)
        pid = os.fork()
    except BaseException:
        _set_pid_namespace_back(own)
        raise
    if pid == 0:
        os.close(own)
        return 0
    _set_pid_namespace_back(own)
    return pid


def _set_pid_namespace_back(own: int) -> None:
    try:
        linux.setns(own, linux.CLONE_NEWPID)
    finally:
        os.close(own)


def _init_alone(launch: Launch, seccomp_filter: seccomp.Prepared, sync_w: int, go_r: int) -> None:
    """The init forked by pyctr itself: join and make the namespaces a first stage
    would have (not the PID namespace: it is in it already), say so, go on."""
    for kind, path in launch.joins.items():
        if kind == "pid":
            continue
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            linux.setns(fd, linux.NAMESPACE_FLAGS[kind])
        finally:
            os.close(fd)
    linux.unshare(launch.flags & ~(linux.CLONE_NEWPID | linux.CLONE_NEWCGROUP))
    os.write(sync_w, b"ready")
    os.close(sync_w)
    _init(launch, seccomp_filter, go_r)


def _go(pid: int, go_w: int, err_r: int) -> int:
    """Release the waiting process ``pid``; its pid once it has exec'd. Otherwise it is
    reaped (killed first if the failure is ours) and its error raised."""
    try:
        failure = _release(go_w, err_r)
    except BaseException:
        _kill_and_reap(pid)
        raise
    if failure:
        os.waitpid(pid, 0)
        raise _error_from(failure)
    return pid


def _close_quietly(*fds: int) -> None:
    """Close what is still open (-1: handed on already)."""
    for fd in fds:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


def _release(go_w: int, err_r: int) -> bytes:
    """Tell the waiting process to go (closing ``go_w``); what it reports on the
    error pipe before its execve, or b"" once it has exec'd."""
    try:
        os.write(go_w, b"G")
    except BrokenPipeError:
        pass  # the process failed before "go" (its first mounts): its error is on the error pipe
    os.close(go_w)
    return _read_report(err_r)


def _read_report(fd: int) -> bytes:
    """What the process says on the error pipe: b"" once it has exec'd (EOF), or once a
    plan's init waits for ``start`` (it writes CREATED and keeps the pipe until execve)."""
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk or (not chunks and chunk.startswith(CREATED)):
            return b"".join(chunks)
        chunks.append(chunk)


def _two_stages(stage1_body: Callable[[int, int, int], None], while_waiting: Callable[[int], None],
                place_early: Callable[[int], None] | None = None) -> int:
    """Fork stage 1 (which forks the real process and exits), run ``while_waiting(pid)``
    while that process waits, release it, and return its pid once it has exec'd."""
    linux.set_subreaper()
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)  # stage 1 -> parent: the process's pid
    go_r, go_w = os.pipe2(os.O_CLOEXEC)  # parent -> the process: continue
    err_r, err_w = os.pipe2(os.O_CLOEXEC)  # the process -> parent: why it failed
    sys.stdout.flush()
    sys.stderr.flush()
    stage1 = os.fork()
    if stage1 == 0:
        os.close(sync_r)
        os.close(go_w)
        os.close(err_r)
        _child_guard(err_w, lambda: stage1_body(sync_w, go_r, err_w))
    os.close(sync_w)
    os.close(go_r)
    os.close(err_w)
    pid = 0
    placing = None
    try:
        if place_early is not None:
            placing = Background(_best_effort, place_early, stage1)
        message = _read_all(sync_r)
        os.waitpid(stage1, 0)
        if not message.startswith(b"pid "):
            raise _error_from(_read_all(err_r)) if not message else RuntimeFailure(message.decode())
        pid = int(message.split()[1])
        while_waiting(pid)
        if placing is not None:
            placing.join()
            placing = None
        go, go_w, launched, pid = go_w, -1, pid, 0  # (from here _go reaps it, whatever happens)
        return _go(launched, go, err_r)
    except BaseException:
        if pid:
            _kill_and_reap(pid)
        raise
    finally:
        if placing is not None:
            placing.join()  # never leave it writing to a cgroup that cleanup is about to remove
        _close_quietly(sync_r, err_r, go_w)


def _best_effort(place: Callable[[int], None], pid: int) -> None:
    """Stage 1's placement may fail (it may already have exited): the init is placed exactly afterwards."""
    try:
        place(pid)
    except Exception:  # noqa: BLE001, S110
        pass


def _error_from(raw: bytes) -> ExecError:
    code, _, message = raw.decode(errors="replace").partition(":")
    return ExecError(int(code) if code.isdigit() else 125, message.strip() or "container init failed")


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _child_guard(err_w: int, body: Callable[[], None]) -> None:
    """Run a forked stage; report any failure on the error pipe; never return."""
    code = 125
    try:
        body()
    except BaseException as e:  # noqa: BLE001  (everything must reach the parent as one line)
        if isinstance(e, ExecFailure):
            code = e.code
        try:
            os.write(err_w, f"{code}:{_describe(e)}".encode())
        except BaseException:  # noqa: BLE001, S110  (never return into the parent's code)
            pass
    finally:
        os._exit(code)


def _describe(e: BaseException) -> str:
    """A failure of the container's start as the one line the user sees."""
    if isinstance(e, ExecFailure):
        return str(e)
    if isinstance(e, OSError):
        message = str(e) if e.strerror is None else f"{e.strerror}" if not e.args[1:] else str(e.args[1])
        message = f"{message}: {e.filename}" if e.filename else message
    else:
        message = str(e) or type(e).__name__
    if os.environ.get("PYCTR_DEBUG"):
        try:  # (after pivot_root only if imported already)
            import traceback

            message += "\n" + traceback.format_exc()
        except ImportError:
            pass
    return message


def _stage1(launch: Launch, seccomp_filter: seccomp.Prepared, sync_w: int, go_r: int, err_w: int) -> None:
    """Join or create namespaces, then fork the init so it lands in the new PID namespace."""
    for kind, path in launch.joins.items():
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            linux.setns(fd, linux.NAMESPACE_FLAGS[kind])
        finally:
            os.close(fd)
    # The cgroup namespace is made by the init once it is in its cgroup, so
    # that cgroup becomes the namespace's root.
    linux.unshare(launch.flags & ~linux.CLONE_NEWCGROUP)
    init = os.fork()
    if init == 0:
        os.close(sync_w)
        launch.report = err_w
        _child_guard(err_w, lambda: _init(launch, seccomp_filter, go_r))
    os.write(sync_w, f"pid {init}".encode())
    os._exit(0)


#: what a plan's init writes on the error pipe when it waits for ``start`` (a failure
#: starts with its exit code's digits)
CREATED = b"\0"


def _init(launch: Launch, seccomp_filter: seccomp.Prepared, go_r: int) -> None:
    """PID 1 of the container: wait for the parent, then become the user's command."""
    if launch.plan is not None and not launch.plan.hook_plugins:
        _init_planned(launch, launch.plan, seccomp_filter, go_r, None)
        return
    from pyctr.core.plugins import plugins

    if launch.plan is not None:
        _init_planned(launch, launch.plan, seccomp_filter, go_r, plugins if launch.plan.hook_plugins else None)
        return
    rootfs = launch.rootfs
    own = {kind for kind, flag in linux.NAMESPACE_FLAGS.items() if launch.flags & flag}
    in_userns = "user" in own
    if not in_userns:
        # Nothing here depends on what the parent does meanwhile (cgroups,
        # network); in a user namespace the mounts need the id maps first.
        _kernel_mounts(rootfs, own, in_userns)
    if os.read(go_r, 1) != b"G":
        os._exit(125)  # the parent gave up or died: start nothing
    os.close(go_r)
    if launch.flags & linux.CLONE_NEWCGROUP:
        linux.unshare(linux.CLONE_NEWCGROUP)
    spec = launch.spec
    if launch.setsid:
        os.setsid()  # the init leads its own session: it can take a controlling tty
    if launch.stdio is not None:
        for target, fd in enumerate(launch.stdio):
            if fd != target:
                os.dup2(fd, target)
    if launch.ctty:
        import fcntl
        import termios

        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    if in_userns:
        # The maps are written now: become the namespace's root so files we
        # create (device nodes, mount points) have an owner that exists in it.
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        _kernel_mounts(rootfs, own, in_userns)
    if "cgroup" in own:
        child.mount_cgroup2(rootfs)  # (after the unshare above: the namespace's root is the container's cgroup)
    # After "go": the network driver may have rewritten these files
    child.bind_etc_files(rootfs, launch.container_dir)
    child.mount_user_mounts(rootfs, spec)
    plugins.setup_child(spec, rootfs)
    child.pivot_into(rootfs)
    if not spec.privileged:
        child.mask_paths()
        child.make_readonly_paths()
    if spec.read_only:
        child.remount_root_readonly()
    if "uts" in own and spec.hostname:
        child.set_hostname(spec.hostname)
    if "network" in own:
        child.bring_up_loopback()
    plugins.start_container(spec)
    become_process(spec, spec.argv, list(spec.env), spec.user, spec.workdir, launch.console, seccomp_filter)


def _init_planned(launch: Launch, plan: Plan, seccomp_filter: seccomp.Prepared, go_r: int, plugins: object) -> None:
    """PID 1 of an OCI bundle's container: the same sequence as :func:`_init`, each step
    as the bundle's config.json says it (:mod:`pyctr.runtime.steps`)."""
    own = {kind for kind, flag in linux.NAMESPACE_FLAGS.items() if launch.flags & flag}
    in_userns = "user" in own or "user" in launch.joins
    if os.read(go_r, 1) != b"G":
        os._exit(125)
    os.close(go_r)
    cgroups = steps.own_cgroups() if any(m.kind == "cgroup" for m in plan.mounts) else {}
    if launch.flags & linux.CLONE_NEWCGROUP:
        linux.unshare(linux.CLONE_NEWCGROUP)
    if launch.setsid:
        os.setsid()
    if in_userns:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    rootfs = launch.rootfs
    spec = launch.spec
    with steps.step("preparing the root filesystem"):
        steps.prepare_root(rootfs, plan.root_propagation)
    steps.mount_all(rootfs, plan, cgroups, in_userns)
    steps.make_devices(rootfs, plan, in_userns)
    if plan.create_container_hooks or plan.start_container_hooks:
        state = steps.read_state(plan.hook_state_file)
        for hook in plan.create_container_hooks:
            steps.run_hook(hook, state, "createContainer")
    if plan.hook_plugins:
        plugins.setup_child(spec, rootfs)  # type: ignore[attr-defined]
    steps.new_session_keyring(plan.session_keyring)
    with steps.step("entering the root filesystem"):
        if plan.no_pivot:
            steps.move_root(rootfs)
        else:
            child.pivot_into(rootfs)
    steps.finish_root(plan)
    if plan.hook_plugins:
        plugins.start_container(spec)  # type: ignore[attr-defined]
    become_planned(plan.process, launch.console, seccomp_filter, launch.report, plan.exec_fifo,
                   [(h, state) for h in plan.start_container_hooks] if plan.start_container_hooks else [],
                   2 + launch.preserve_fds)


def become_planned(process: ProcessPlan, console: int | None, seccomp_filter: seccomp.Prepared, report: int,
                   exec_fifo: int | None, start_hooks: list, last_fd: int = 2) -> None:
    """:func:`become_process` for a process given exactly (an OCI bundle's, or runc's ``exec``).

    With ``exec_fifo`` everything that can fail is done first (the program is looked
    up), CREATED is reported, and the process waits for ``start`` before the hooks
    of startContainer, the user switch, seccomp and execve; a failure after that
    goes to the container's stderr, as runc's does."""
    ident = process.identity
    if console is not None:
        child.make_console(console, ident.uid, ident.gid)
        steps.set_console_size(process.console_size)
    env = list(process.env)
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={security.lookup_user(str(ident.uid))[3]}")
    with steps.step(f"entering the working directory {process.cwd}"):
        child.change_workdir(process.cwd)
    program = steps.resolve(process.args, env)
    os.umask(0o022 if ident.umask is None else ident.umask)
    if exec_fifo is not None:
        os.write(report, CREATED)
        try:
            steps.wait_for_start(exec_fifo)
            for hook, state in start_hooks:
                steps.run_hook(hook, state, "startContainer")
        except BaseException as e:
            _tell_stderr(e)
            raise
    try:
        if process.no_new_privileges:
            linux.set_no_new_privs()
        else:
            seccomp_filter.load()
        steps.become(ident)
        child.mark_fds_cloexec(last_fd)
        if process.no_new_privileges:
            seccomp_filter.load()
        child.execute(process.args, env, program=program)
    except BaseException as e:
        if exec_fifo is not None:
            _tell_stderr(e)
        raise


def _tell_stderr(e: BaseException) -> None:
    """After ``create`` returned, nobody reads the error pipe: the container's stderr
    is where a failure of its start can be seen (runc writes there too)."""
    try:
        os.write(2, f"pyctr-runtime: {_describe(e)}\n".encode())
    except OSError:
        pass


def _kernel_mounts(rootfs: str, own: set[str], in_userns: bool) -> None:
    """The container's root and the kernel filesystems in it (proc, dev, sys)."""
    child.make_mounts_private()
    child.bind_rootfs(rootfs)
    child.mount_proc(rootfs)
    # (rootless, the init is in a user namespace even without one of its own: no mknod)
    child.mount_dev(rootfs, in_userns or rootless.active())
    child.mount_sys(rootfs, "network" in own)


def _prepare_seccomp(spec: ContainerSpec, cache_dir: str | None = None,
                     process: ProcessPlan | None = None) -> seccomp.Prepared:
    """The container's filter, ready to load (in the parent, before the fork: see the module's doc)."""
    if process is not None:  # the capabilities are given as a mask
        bits = process.identity.effective | process.identity.bounding
        caps = sorted(name for name, bit in security.CAPABILITIES.items() if bits >> bit & 1)
    else:
        caps = security.capability_set(spec.cap_add, spec.cap_drop, spec.privileged)
    prepared = seccomp.Prepared(spec.seccomp, spec.privileged, caps, cache_dir)
    if prepared.error is not None:
        raise ExecError(125, _describe(prepared.error))
    return prepared


def become_process(spec: ContainerSpec, argv: list[str], env: list[str], user: str, workdir: str,
                   console: int | None, seccomp_filter: seccomp.Prepared) -> None:
    """The common tail of a container's init and of ``exec``: terminal, user,
    capabilities, working directory, then execve. Runs inside the container's root."""
    uid, gid, groups, home = security.lookup_user(user)
    if spec.group_add:
        groups = security.added_groups(groups, spec.group_add, gid)
    if console is not None:
        # Made inside the container's own devpts, so ``tty`` and ``ps`` inside
        # name it (/dev/pts/0), as runc's console socket does.
        child.make_console(console, uid, gid)
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={home}")
    caps = security.capability_set(spec.cap_add, spec.cap_drop, spec.privileged)
    child.change_workdir(workdir)
    if spec.no_new_privileges:
        linux.set_no_new_privs()
    # runc's order: without no_new_privs the kernel lets only CAP_SYS_ADMIN
    # install a filter, so load it before the user and capability switch;
    # with no_new_privs load it as late as possible, so that the fewest of
    # pyctr's own syscalls have to pass the container's profile.
    if not spec.no_new_privileges:
        seccomp_filter.load()
    security.become(uid, gid, groups, security.mask_of(caps))
    child.mark_fds_cloexec()
    if spec.no_new_privileges:
        seccomp_filter.load()
    child.execute(argv, env)


# ---------------------------------------------------------------------------
# exec: a new process in a running container
# ---------------------------------------------------------------------------


class ExecLaunch:
    """What a process started by ``exec`` needs (see :class:`Launch`)."""

    def __init__(self, *, spec: ContainerSpec, argv: list[str], env: list[str], user: str, workdir: str,
                 joins: dict[str, str], stdio: tuple[int, int, int] | None = None, console: int | None = None,
                 seccomp_cache: str | None = None,
                 supervise: Callable[[Callable[[], None], int], None] | None = None,
                 process: ProcessPlan | None = None, preserve_fds: int = 0) -> None:
        self.spec = spec
        self.argv = argv
        self.env = env
        self.user = user
        self.workdir = workdir
        self.joins = joins  #: kind -> /proc/<init>/ns/<file>, in the order to join
        self.stdio = stdio
        self.console = console
        self.seccomp_cache = seccomp_cache  #: directory of compiled seccomp filters
        #: ``supervise(start, err_w)``: run in the process inside the container instead of becoming
        #: the command; it forks ``start`` (which becomes it) and stays, as a health probe's reaper
        #: does (pyctr.runtime.probe); everything it uses must be imported before the fork
        self.supervise = supervise
        #: the process given exactly (runc's ``exec --process``); None: from argv, user, ``spec``
        self.process = process
        self.preserve_fds = preserve_fds


def spawn_exec(launch: ExecLaunch, place: Callable[[int], None]) -> int:
    """Start a process inside the container's namespaces; return its host pid once it exec'd.

    ``place(pid)`` puts it in the container's cgroups while it waits.
    """
    # the same filter as the init's
    seccomp_filter = _prepare_seccomp(launch.spec, launch.seccomp_cache, launch.process)
    if launch.console is not None:
        import termios  # noqa: F401  (make_console needs it inside the container, where imports fail)
    return _two_stages(lambda sync_w, go_r, err_w: _exec_stage1(launch, seccomp_filter, sync_w, go_r, err_w),
                       place)


def _exec_stage1(launch: ExecLaunch, seccomp_filter: seccomp.Prepared, sync_w: int, go_r: int,
                 err_w: int) -> None:
    # Not dumpable before joining: a process in the container must not be able
    # to open /proc/<us>/exe or our memory (CVE-2019-5736).
    linux.set_dumpable(False)
    fds = {kind: os.open(path, os.O_RDONLY | os.O_CLOEXEC) for kind, path in launch.joins.items()}
    for kind, fd in fds.items():
        linux.setns(fd, linux.NAMESPACE_FLAGS[kind])
        os.close(fd)
    child = os.fork()  # lands in the container's PID namespace
    if child == 0:
        os.close(sync_w)
        _child_guard(err_w, lambda: _exec_child(launch, go_r, seccomp_filter, err_w))
    os.write(sync_w, f"pid {child}".encode())
    os._exit(0)


def _exec_child(launch: ExecLaunch, go_r: int, seccomp_filter: seccomp.Prepared, err_w: int = -1) -> None:
    if os.read(go_r, 1) != b"G":
        os._exit(125)
    os.close(go_r)
    os.setsid()
    if launch.stdio is not None:
        for target, fd in enumerate(launch.stdio):
            if fd != target:
                os.dup2(fd, target)

    def become() -> None:
        if launch.process is not None:
            become_planned(launch.process, launch.console, seccomp_filter, -1, None, [], 2 + launch.preserve_fds)
            return
        become_process(launch.spec, launch.argv, launch.env, launch.user, launch.workdir, launch.console,
                       seccomp_filter)

    if launch.supervise is not None:
        launch.supervise(lambda: _child_guard(err_w, become), err_w)
    become()
