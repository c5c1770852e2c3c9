"""``create`` (and ``run``): the container's init, waiting on the exec fifo for ``start``.

The order, as runc's: check the whole config.json; make the state directory
(the id is taken atomically), the exec fifo and the cgroup with its limits;
start the init through :func:`pyctr.runtime.launch.spawn` (the launch ``pyctr
run`` uses); while it waits in its new namespaces, write the id maps, place it
in its cgroup, record it and run the prestart and createRuntime hooks; let it
mount, pivot and prepare everything but execve; it reports "created" and
blocks opening the fifo. Then the pid file, and this process exits: the init
is re-parented to the caller (containerd's shim and conmon are subreapers).
A failure at any step undoes the earlier ones: no cgroup, no directory, no
process is left.
"""

from __future__ import annotations

import os
import stat

from pyctr.oci import cgroups, config
from pyctr.oci.common import Globals, OciError
from pyctr.oci.state import Container, now_rfc3339, start_time
from pyctr.runtime.bundle import CGROUP_ANNOTATION, INIT_HOOKS_ANNOTATION

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


def main(command: str, glob: Globals, opts: dict[str, Any], cid: str) -> int:
    from pyctr.oci.state import check_id

    check_id(cid)
    bundle_dir = os.path.abspath(opts.get("bundle") or ".")
    bundle = config.Bundle(bundle_dir, config.load(bundle_dir))
    process = bundle.process()
    plan = bundle.plan(process)
    plan.no_pivot = bool(opts.get("no-pivot"))
    # pyctr's own bundles (its conmon runtime driver) say whether a hook plugin has anything to do in the init
    plan.hook_plugins = bundle.annotations.get(INIT_HOOKS_ANNOTATION) != "none" and load_hook_plugins()
    if not opts.get("no-new-keyring"):
        plan.session_keyring = "_ses." + cid
    res = cgroups.with_default_devices(cgroups.resources(bundle.linux.get("resources")), plan.devices)
    console_path = opts.get("console-socket") or ""
    detach = command == "create" or bool(opts.get("detach"))
    if process.terminal and not console_path and detach:
        raise OciError("cannot allocate tty if pyctr-runtime will detach without setting console socket")
    if console_path and not process.terminal:
        raise OciError("cannot use console socket if pyctr-runtime will not detach or allocate tty")
    if process.terminal and not console_path:
        raise OciError("process.terminal: pyctr-runtime run without --detach needs --console-socket for a tty")
    console = connect_console(console_path) if console_path else None
    c = Container.make(glob.root, cid)
    try:
        pid = _create(glob, c, bundle, plan, res, console, int(opts.get("preserve-fds") or 0))
    finally:
        if console is not None:
            console.close()
    if opts.get("pid-file"):
        write_pid_file(opts["pid-file"], pid)
    c.unlock()
    if command == "create":
        return 0
    from pyctr.oci import commands

    commands.start(glob, cid)
    if detach:
        return 0
    status = wait_child(pid)
    if not opts.get("keep"):
        commands.delete(glob, cid, True)
    return status


def load_hook_plugins() -> bool:
    """Whether third-party hook plugins are installed (and not switched off); if so they are
    loaded here, before the fork, so the init does not load them itself (pluggy only if one needs it)."""
    if os.environ.get("PYCTR_DISABLE_PLUGIN_AUTOLOAD", "").lower() in ("1", "true", "yes", "on"):
        return False
    from pyctr.core import entrypoints
    from pyctr.core.plugins import ENTRY_POINT_GROUP, plugins

    if not entrypoints.group(ENTRY_POINT_GROUP):
        return False
    plugins.load()
    return True


def connect_console(path: str) -> Any:
    import socket

    try:
        st = os.stat(path)
    except OSError as e:
        raise OciError(f"--console-socket: {path}: {e.strerror}") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise OciError(f"--console-socket: {path} is not a socket")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise OciError(f"--console-socket: connect {path}: {e.strerror}") from None
    return sock


def _create(glob: Globals, c: Container, bundle: config.Bundle, plan: Any, res: dict[str, Any], console: Any,
            preserve_fds: int) -> int:
    from pyctr.core.spec import ContainerSpec
    from pyctr.runtime import launch

    c.mark()
    drv = handle = None
    fifo = -1
    try:
        os.mkfifo(c.fifo, 0o622)
        if bundle.uid_map:  # the container's root opens it for writing
            os.chown(c.fifo, _host_id(bundle.uid_map), _host_id(bundle.gid_map))
        fifo = os.open(c.fifo, os.O_PATH | os.O_CLOEXEC)
        plan.exec_fifo = fifo
        plan.hook_state_file = os.path.join(c.dir, "hook-state.json")
        c.data = {"id": c.id, "pid": 0, "start_time": None, "bundle": bundle.dir, "rootfs": bundle.rootfs,
                  "created": now_rfc3339(), "annotations": bundle.annotations, "ociVersion": bundle.version,
                  "config": bundle.data, "own_namespaces": sorted(bundle.own), "hooks_done": []}
        c.save()
        adopted = bundle.annotations.get(CGROUP_ANNOTATION)
        if adopted:
            # the caller (pyctr) made the cgroups and owns their limits, counters and removal: placed in only
            drv, handle = cgroups.driver(glob), _adopted_cgroup(adopted)
            c.data["cgroup_adopted"] = True
        else:
            drv, handle = cgroups.create(glob, c.id, bundle.cgroups_path, res)
        drv.warm_up()  # the first v1 migration's RCU wait starts now, overlapping the fork and mounts
        c.data["cgroup"] = handle
        c.data["cgroup_driver"] = drv.name
        c.save()
        spec = ContainerSpec(name=c.id, hostname=bundle.hostname or "", argv=list(plan.process.args),
                             env=list(plan.process.env), workdir=plan.process.cwd, read_only=bundle.readonly_root,
                             seccomp=bundle.seccomp, no_new_privileges=plan.process.no_new_privileges,
                             annotations={"oci": {"bundle": bundle.dir}})
        spec.namespaces = {k: ("private" if k in bundle.own else "host" if k in bundle.shared
                               else "path:" + bundle.joins[k]) for k in config.JOIN_ORDER}
        run = launch.Launch(spec=spec, rootfs=bundle.rootfs, container_dir=c.dir, flags=bundle.flags,
                            joins=bundle.joins, stdio=None, setsid=True,
                            console=console.fileno() if console is not None else None,
                            seccomp_cache=os.path.join(glob.root, ".cache", "seccomp"), plan=plan,
                            preserve_fds=preserve_fds)

        def while_waiting(pid: int, ready: Any) -> None:
            ready()
            if bundle.uid_map:
                _write(f"/proc/{pid}/uid_map", bundle.uid_map)
                _write(f"/proc/{pid}/gid_map", bundle.gid_map)
            drv.add_process(handle, pid)
            prepare_process(pid, plan.process)
            c.data["pid"] = pid
            c.data["start_time"] = start_time(pid)
            c.save()
            state = c.hook_state("created")
            with open(plan.hook_state_file, "wb") as f:
                f.write(state)
            if bundle.hooks.get("prestart") or bundle.hooks.get("createRuntime"):
                from pyctr.oci import hooks  # (subprocess: only when there are hooks to run)

                for kind in ("prestart", "createRuntime"):
                    for hook in bundle.hooks.get(kind, []):
                        hooks.run(hook, state, kind)

        try:
            pid = launch.spawn(run, while_waiting, place_early=lambda p: drv.add_process(handle, p))
        except launch.ExecError as e:
            raise OciError(str(e)) from None
        os.close(fifo)
        fifo = -1
        return pid
    except BaseException:
        if fifo >= 0:
            os.close(fifo)
        if drv is not None and handle is not None and not c.data.get("cgroup_adopted"):
            try:
                drv.destroy(handle)
            except Exception:  # noqa: BLE001, S110  (the original error is the one to report)
                pass
        c.remove()
        raise


def _adopted_cgroup(text: str) -> dict[str, Any]:
    import json

    try:
        handle = json.loads(text)
    except ValueError:
        handle = None
    if not isinstance(handle, dict) or not isinstance(handle.get("paths"), dict):
        raise OciError(f"annotations.{CGROUP_ANNOTATION}: not a cgroup handle")
    return handle


def prepare_process(pid: int, process: Any) -> None:
    """What the parent sets on a process before it goes on: oom_score_adj and rlimits
    (set from here, with all of this process's privileges, as runc does)."""
    if process.oom_score_adj is not None:
        try:
            with open(f"/proc/{pid}/oom_score_adj", "w") as f:
                f.write(str(process.oom_score_adj))
        except OSError as e:  # lowering it needs CAP_SYS_RESOURCE
            raise OciError(f"process.oomScoreAdj: setting {process.oom_score_adj}: {e.strerror}") from None
    if process.rlimits:
        import resource

        names = {v: k for k, v in config.RLIMITS.items()}
        for kind, soft, hard in process.rlimits:
            try:
                resource.prlimit(pid, kind, (soft, hard))
            except (OSError, ValueError) as e:  # raising a hard limit needs CAP_SYS_RESOURCE
                why = e.strerror if isinstance(e, OSError) else str(e)
                raise OciError(f"process.rlimits: {names.get(kind, kind)} {soft}:{hard}: {why}") from None


def _host_id(mapping: list[tuple[int, int, int]]) -> int:
    for inside, outside, size in mapping:
        if inside <= 0 < inside + size:
            return outside - inside
    return 0


def _write(path: str, entries: list[tuple[int, int, int]]) -> None:
    with open(path, "w") as f:
        f.write("".join(f"{a} {b} {n}\n" for a, b, n in entries))


def write_pid_file(path: str, pid: int) -> None:
    """Bare digits, written beside and renamed into place (containerd's Atoi takes no newline)."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path))
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.replace(tmp, path)


def wait_child(pid: int) -> int:
    """The exit status of our own child ``pid``, signals forwarded to it meanwhile."""
    import signal

    def forward(signum: int, _frame: Any) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, forward)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 255
