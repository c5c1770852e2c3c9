"""Container lifecycle: create, start, wait, stop, remove — the order of things.

This module knows *what* happens in which order; drivers and hook plugins
know *how*. Every side effect is preceded by a state record, so a killed
pyctr leaves something ``rm -f`` and ``system prune`` can finish.
"""

from __future__ import annotations

import _signal as signal  # the C module: signal.py's enums cost ~1 ms of import per start
import os
import time
from collections.abc import Callable

from pyctr.core.background import Background
from pyctr.core.container import Container
from pyctr.core.errors import Conflict, PyctrError, UsageError
from pyctr.core.plugins import plugins
from pyctr.core.processes import is_alive
from pyctr.core.processes import starttime as _starttime
from pyctr.core.state import transaction

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.core.engine import Engine
    from pyctr.core.spec import ContainerSpec
    from pyctr.images.store import Image

#: a static reaper for --init, as Docker bind-mounts its docker-init (tini)
INIT_BINARY = "/usr/bin/tini-static"

VALID_NAME = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"


def spec_from_image(spec: ContainerSpec, image: Image, cmd: list[str], entrypoint: str | None) -> None:
    """Fill the process part of ``spec`` from the image config, as Docker does."""
    cfg = image.config.get("config") or {}
    image_entry = cfg.get("Entrypoint") or []
    image_cmd = cfg.get("Cmd") or []
    if entrypoint is not None:
        spec.entrypoint = [entrypoint] if entrypoint else []
        spec.cmd = cmd  # an explicit entrypoint drops the image's Cmd
    else:
        spec.entrypoint = list(image_entry)
        spec.cmd = cmd or list(image_cmd)
    spec.argv = spec.entrypoint + spec.cmd
    if not spec.argv:
        raise UsageError("no command specified")
    if spec.init:
        if not os.path.exists(INIT_BINARY):
            raise UsageError(f"--init needs {INIT_BINARY} (Debian package tini)")
        from pyctr.core.spec import Mount

        spec.mounts.append(Mount(type="bind", source=INIT_BINARY, target="/sbin/pyctr-init", readonly=True))
        spec.argv = ["/sbin/pyctr-init", "--"] + spec.argv
    image_env = list(cfg.get("Env") or [])
    given = {e.split("=", 1)[0] for e in spec.env}
    spec.env = [e for e in image_env if e.split("=", 1)[0] not in given] + spec.env
    if not any(e.startswith("PATH=") for e in spec.env):
        from pyctr.core.spec import DEFAULT_PATH

        spec.env.insert(0, f"PATH={DEFAULT_PATH}")
    if spec.workdir in ("", "/") and cfg.get("WorkingDir"):
        spec.workdir = cfg["WorkingDir"]
    if not spec.user:
        spec.user = cfg.get("User") or ""
    spec.labels = {**(cfg.get("Labels") or {}), **spec.labels}
    if cfg.get("StopSignal") and spec.stop_signal == "SIGTERM":
        spec.stop_signal = cfg["StopSignal"]
    spec.image_id = image.id


def create(engine: Engine, spec: ContainerSpec, image: Image, network: str | None, *,
           starting: bool = False) -> Container:
    """Record the container, then make its writable layer and its files.

    ``starting``: this process starts it next (``run`` in the foreground), so its
    cgroups are made meanwhile, in a thread (:func:`_make_cgroups_ahead`).
    """
    name = spec.name
    if name:
        if name.startswith("/"):
            name = name[1:]
        if not name or not name[0].isalnum() or any(c not in VALID_NAME for c in name):
            raise UsageError(f"invalid container name {spec.name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    cgroups = engine.driver("cgroup", engine.config.cgroup_manager)
    if starting:
        cgroups.warm_up()  # its kernel wait (10-15 ms) runs while the rest is made: see _make_cgroups_ahead
    storage = engine.storage
    net = engine.driver("network", network)
    spec.resources = cgroups.validate(spec.resources)  # nonsense limits stop here, before anything exists
    plugins.modify_container_spec(spec)
    runtime = _runtime_for(engine, spec)
    cid = os.urandom(32).hex()  # not the secrets module: it loads OpenSSL, 10 ms per command
    spec.name = name
    if not spec.hostname:
        spec.hostname = cid[:12]
    container = Container(id=cid, name=name, image_id=image.id, spec=spec,
                          drivers={"storage": storage.name, "network": net.name, "cgroup": cgroups.name,
                                   "runtime": runtime.name},
                          root=engine.config.root)
    with transaction(engine.db):
        if name:
            container.insert(engine.db)
        else:
            _insert_with_a_generated_name(engine.db, container)
    try:
        if starting:
            _make_cgroups_ahead(engine, container, cgroups)
        storage.create_rw(cid, image.layers[-1] if image.layers else None)
        if spec.auto_remove:
            storage.mark_volatile(cid)  # thrown away at exit: no sync at unmount (5-17 ms here)
        if spec.uid_map:
            _hand_layer_to_mapped_root(storage.metadata(cid), spec)  # may refuse: cleaned up below
        _write_container_files(container)
        plugins.create_container(container)
    except BaseException:
        remove(engine, container, force=True)
        raise
    record_event(engine, container, "create")
    return container


def _insert_with_a_generated_name(db: Any, container: Container) -> None:
    """Insert the record under a random name, as Docker's ``generateNewName``: up to
    six names (from the second on with a digit), then the short id.

    The name is reserved by the insert itself (the UNIQUE column), inside the
    caller's write transaction: a name checked first and inserted later could be
    taken in between by another unnamed create, which would then fail with a
    name conflict the user never asked for. The loser of such a race just takes
    the next name.
    """
    from pyctr.core.names import random_name

    for attempt in range(7):
        container.name = container.spec.name = random_name(attempt) if attempt < 6 else container.id[:12]
        try:
            container.insert(db)
            return
        except Conflict:
            if attempt == 6:
                raise


def _runtime_for(engine: Engine, spec: ContainerSpec) -> Any:
    """The runtime driver of a new container: the configured one, which must accept it, else
    the first by priority that accepts it (RuntimeDriver.refuses: conmon cannot keep Docker's
    rotated or compressed logs, so such a container gets pyctr's own monitor)."""
    name = engine.config.runtime
    runtime = engine.driver("runtime", name)
    why = runtime.refuses(spec)
    if why is None:
        return runtime
    if name:
        raise UsageError(f"the {name} runtime driver cannot run this container: {why}")
    from pyctr.core.selection import auto_order

    for candidate in auto_order("runtime"):
        if candidate == runtime.name:
            continue
        try:
            other = engine.driver("runtime", candidate)
        except PyctrError:
            continue
        if other.refuses(spec) is None:
            return other
    raise UsageError(f"no runtime driver can run this container: {why}")


def _make_cgroups_ahead(engine: Engine, container: Container, cgroups: Any) -> None:
    """Make the container's cgroups in a thread while its layer and files are made.

    The mkdirs are 3-5 ms of kernel work that the start would otherwise wait
    for. They first wait out the grace period that ``create`` began with the
    driver's ``warm_up`` (a migration holds the cgroup mutex through it, see
    the cgroupfs driver), which is then over, 10-15 ms later, before the init
    is placed. ``_start`` takes the handle (:func:`_take_cgroups_ahead`); a
    failure before that destroys them (``remove``, ``cleanup``). A crash in
    between leaves them to the driver's own records (``system prune``), as a
    crash between a cgroup's mkdir and the record's save always did.
    """
    spec = container.spec
    engine.cgroups_ahead[container.id] = Background(cgroups.create, container.id, spec.cgroup_parent or None,
                                                    spec.resources)


def _take_cgroups_ahead(engine: Engine, container: Container) -> bool:
    """Wait for the cgroups made ahead, if any, and put their handle in the record's
    runtime (not saved here); re-raises their error. True when there were some."""
    ahead = engine.cgroups_ahead.pop(container.id, None)
    if ahead is None:
        return False
    container.runtime["cgroup"] = ahead.join_result()
    return True


def _release_leftover_cgroups(engine: Engine, container: Container) -> None:
    """Destroy the cgroups a container that is not running still holds: made ahead
    for a start that never came (its create failed in this process), or recorded
    before a start that was killed before its init ran."""
    try:
        _take_cgroups_ahead(engine, container)
    except (PyctrError, OSError):
        pass  # a failed create removed what it made
    handle = container.runtime.pop("cgroup", None)
    if handle is None and container.status != "created":
        return  # (a start that got as far as running saved its handle: no driver to load)
    try:
        cgroups = engine.cgroups_for(container)
        if cgroups is None:
            return
        if handle is None:
            # a start killed before it saved the handle of the cgroups it made: the driver knows them
            handle = cgroups.recorded_handle(container.id)
        if handle is not None:
            cgroups.destroy(handle)
    except (PyctrError, OSError):
        pass  # the driver's own records let `system prune` finish


def _hand_layer_to_mapped_root(paths: dict[str, str], spec: ContainerSpec) -> None:
    """With a user namespace, the container's root must own its writable layer
    (and reach it): the image's files stay owned by the host and read as nobody."""
    uid = next((host for inside, host, _ in spec.uid_map if inside == 0), None)
    gid = next((host for inside, host, _ in (spec.gid_map or spec.uid_map) if inside == 0), None)
    if uid is None or gid is None:
        return
    top = paths.get("MergedDir") or paths.get("Dir") or ""
    parent = os.path.dirname(os.path.dirname(top))
    # Where our own root (uid and gid 0) is mapped in the container's namespace too
    # (rootless --userns=keep-id), its root may pass our directories: no check needed.
    ours_mapped = all(any(host == 0 for _, host, _ in m) for m in (spec.uid_map, spec.gid_map or spec.uid_map))
    while parent and parent != "/" and not ours_mapped:
        if not os.stat(parent).st_mode & 0o001:
            raise UsageError(f"{parent} is not searchable by others, so the remapped root (host uid {uid}) cannot "
                             f"reach the container's files; chmod o+x it or use a --root whose parents are")
        parent = os.path.dirname(parent)
    for key in ("UpperDir", "WorkDir", "MergedDir", "Dir"):
        path = paths.get(key)
        if path and os.path.isdir(path):
            os.chown(path, uid, gid)
            parent = os.path.dirname(path)
            os.chmod(parent, os.stat(parent).st_mode | 0o711)


def _write_container_files(container: Container) -> None:
    container.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    spec = container.spec
    # Written once before the container first runs and re-made by every create:
    # rename-atomic is enough, an fsync per file is not worth its cost here.
    _write(container.dir / "hostname", f"{spec.hostname}\n".encode())
    hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    _write(container.dir / "hosts", ("\n".join(hosts) + "\n").encode())
    _write(container.dir / "resolv.conf", _host_resolv_conf().encode())


def _write(path: Any, data: bytes) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _host_resolv_conf() -> str:
    """The host's resolv.conf without loopback resolvers (they mean nothing in a netns)."""
    try:
        with open("/etc/resolv.conf") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    kept = [ln for ln in lines if not (ln.split()[:1] == ["nameserver"] and len(ln.split()) > 1
                                       and (ln.split()[1].startswith("127.") or ln.split()[1] == "::1"))]
    return "\n".join(kept) + "\n"


def start(engine: Engine, container: Container, *, stdio: tuple[int, int, int] | None = None,
          console: int | None = None, detach: Any = None) -> int:
    """Run the container's init; return its host pid once the user's command is executing.

    ``detach``: the init outlives this command and its runtime driver watches it (see
    :class:`~pyctr.core.drivers.Launch`); handed to the driver untouched."""
    if container.status in ("running", "paused") and is_alive(container.pid):
        raise Conflict(f"container {container.name} is already running")
    storage = engine.storage_for(container)
    network = engine.network_for(container)
    try:
        pid = _start(engine, container, storage, network, stdio, console, detach)
    except BaseException as e:
        # whatever was made before the failure (mount, volumes, cgroup, veth) goes again
        container.error = str(e)
        cleanup(engine, container, exit_code=getattr(e, "exit_code", 125))
        raise
    record_event(engine, container, "start")
    return pid


def _start(engine: Engine, container: Container, storage: Any, network: Any,
           stdio: tuple[int, int, int] | None, console: int | None, detach: Any = None) -> int:
    from pyctr.core.drivers import Launch
    from pyctr.kernel.linux import NAMESPACE_FILES

    spec = container.spec
    cgroups = engine.cgroups_for(container)
    if cgroups is not None:
        if not _take_cgroups_ahead(engine, container):
            container.runtime["cgroup"] = cgroups.create(container.id, spec.cgroup_parent or None, spec.resources)
        # recorded before the init exists, so a crash leaves a handle to clean up with
        with transaction(engine.db):
            container.save(engine.db)
        # The first migration's kernel wait (see the cgroupfs driver) runs from
        # here, alongside the mounts, the hooks and the forks below; after the
        # mkdirs, which that wait would otherwise hold up. (Made ahead, the
        # cgroups had theirs already: a write within its grace period does not
        # wait again, and keeps the lock ready for one more.)
        cgroups.warm_up()
    rootfs = str(storage.get(container.id))
    if spec.mounts:
        from pyctr.core import mounts

        prepared = mounts.prepare(engine, container, rootfs)
        spec = spec.replace(mounts=prepared)  # host paths for the child; the record keeps the names
    joins = {kind: mode[5:] for kind, mode in spec.namespaces.items() if mode.startswith("path:")}
    for kind, mode in spec.namespaces.items():
        if mode.startswith("container:"):
            from pyctr.core.container import lookup

            other = lookup(engine.db, engine.config.root, mode[10:])
            if other.status != "running" or not is_alive(other.pid):
                raise Conflict(f"cannot join the {kind} namespace of {other.name}: it is not running")
            joins[kind] = f"/proc/{other.pid}/ns/{NAMESPACE_FILES[kind]}"
    launch = Launch(spec=spec, rootfs=rootfs, container_dir=str(container.dir),
                    flags=plugins.namespace_flags(spec), joins=joins, stdio=stdio, console=console,
                    seccomp_cache=seccomp_cache_dir(engine), container_id=container.id,
                    cgroup=container.runtime.get("cgroup"), detach=detach)

    def create_runtime(pid: int, ready: Callable[[], None]) -> None:
        container.pid = pid
        container.runtime["starttime"] = _starttime(pid)
        container.runtime.pop("stopped_by_user", None)
        container.status = "running"
        container.started = time.time()
        container.finished = 0.0
        with transaction(engine.db):
            container.save(engine.db)
        # In its cgroup before the user's command starts (what it allocates is
        # charged there); from a thread, so that a wait for the kernel's grace
        # period (see the cgroupfs driver) overlaps the network's set-up.
        placing = Background(cgroups.add_process, container.runtime["cgroup"], pid) if cgroups is not None else None
        try:
            ready()  # (the above needs only the pid; the network needs the init's namespaces)
            attachment = network.connect(container, pid)
        except BaseException:
            if placing is not None:
                try:
                    placing.join()  # never leave it writing to a cgroup that cleanup removes
                except BaseException:  # noqa: BLE001, S110  (the first error is the one to report)
                    pass
            raise
        if placing is not None:
            placing.join()
        if attachment is not None:
            container.runtime["network"] = vars(attachment)
            container.save(engine.db)
        plugins.create_runtime(container, pid)

    place_early = None
    if cgroups is not None and not spec.resources.get("pids_limit"):
        # (only with a user namespace, where a first stage forks the init; with a
        # pids limit, stage 1 inside would count against it while it forks the init)
        def place_early(stage1: int) -> None:
            cgroups.add_process(container.runtime["cgroup"], stage1)

    pid = engine.runtime_for(container).spawn(launch, create_runtime, place_early)
    plugins.poststart(container, pid)
    return pid


def seccomp_cache_dir(engine: Engine) -> str:
    """Where compiled seccomp filters are kept (pyctr.runtime.seccomp.cached_build)."""
    return str(engine.config.root / "cache" / "seccomp")


def wait_foreground(engine: Engine, container: Container, pid: int, master: int | None = None,
                    interactive: bool = False, removing: bool = False) -> int:
    """Wait for the init (our child via the subreaper), forwarding signals; clean up; return its exit code.

    With a pty ``master`` (``-t``), the terminal is proxied until the init exits.
    ``removing``: the caller removes the container next (``--rm``), see :func:`cleanup`.
    """
    status = engine.runtime_for(container).wait(pid, master, interactive)
    code = os.waitstatus_to_exitcode(status)
    code = 128 - code if code < 0 else code
    cleanup(engine, container, exit_code=code, removing=removing)
    return code


def cleanup(engine: Engine, container: Container, exit_code: int, removing: bool = False) -> list[str]:
    """The init has exited: release network, cgroup and mounts; run poststop hooks.

    ``removing``: :func:`remove` follows at once (``run --rm``), so the writable
    layer (and, alongside, the container's directory) is removed here already,
    and the "exited" record is not written (a pyctr killed before the removal
    leaves "running" with a dead pid, which reconcile turns into this cleanup
    again).

    The poststop hooks see the stop as it is: ``status`` ("exited", or "created" for a start
    that failed), ``exit_code`` and ``finished`` are set before they run (and recorded after).

    Exactly one process cleans up a stop, and so runs the poststop hooks once: ``rm -f``, a
    foreground run's wait, ``system prune``'s reconcile and a detached container's monitor
    can all see the same init end. The first claims the stop in the record
    (:func:`_claim_stop`); the others wait until it is recorded, take the recorded stop into
    ``container`` and return no errors. A claim whose process died (pyctr killed mid-way)
    passes to the next one, which cleans up again: idempotently, as after any crash.
    """
    deadline = time.monotonic() + CLAIM_WAIT
    while True:
        claim = _claim_stop(engine, container)
        if claim == "mine":
            break
        if claim == "done":
            return []
        if time.monotonic() > deadline:
            return [f"another pyctr process ({claim}) is still cleaning up after {container.name}; left to it"]
        time.sleep(0.02)
    container.status = "exited" if container.started else "created"
    container.exit_code = exit_code
    container.finished = time.time()
    errors = plugins.poststop(container)
    try:
        _take_cgroups_ahead(engine, container)  # (a start that failed before it took them)
    except (PyctrError, OSError) as e:
        errors.append(str(e))
    # The cgroups and the rootfs go in a thread while the network goes here: a
    # bridge's veth deletion waits 16-23 ms in the kernel for an RCU grace
    # period. This way round the network driver stays in the thread that
    # connected it (the bridge keeps one database connection per thread), and
    # the drivers are looked up here, so they are made and registered in one
    # thread only.
    network, cgroups, storage = (_driver(errors, lookup, container) for lookup in
                                 (engine.network_for, engine.cgroups_for, engine.storage_for))
    from pyctr.kernel.linux import CLONE_NEWPID

    if plugins.namespace_flags(container.spec) & CLONE_NEWPID:
        # Nothing of the container outlived its init: the kernel killed the rest
        # of its PID namespace before the init could be reaped. So the rootfs
        # goes while the cgroups do (3-5 ms each, mostly in the kernel).
        releasing = [Background(_release_cgroups, container, cgroups, exit_code),
                     Background(_release_rootfs, container, storage, removing)]
    else:  # the cgroups first: their removal kills what is left, before its root is unmounted
        releasing = [Background(lambda: _release_cgroups(container, cgroups, exit_code)
                                + _release_rootfs(container, storage, removing))]
    try:
        if network is not None:
            network.disconnect(container)
    except PyctrError as e:
        errors.append(str(e))
    finally:
        if removing and len(releasing) > 1:  # (once the network driver is done with its files)
            releasing.append(Background(_remove_container_dir, container))
        for thread in releasing:
            errors += thread.join_result()
    if container.spec.mounts:
        from pyctr.core import mounts

        errors += mounts.release(engine, container)
    # recorded last: a pyctr killed before this leaves "running" with a dead
    # pid, which reconcile turns into this cleanup again
    container.pid = 0
    container.runtime.pop("cleaner", None)
    if not removing:
        with transaction(engine.db):
            container.save(engine.db)
    record_event(engine, container, "die", exitCode=exit_code)
    return errors


#: how long a process that did not win a stop's claim waits for its recording (seconds)
CLAIM_WAIT = 120.0


def _claim_stop(engine: Engine, container: Container) -> str:
    """Who cleans up this stop (:func:`cleanup`): "mine" (the claim is this process's now),
    "done" (another process recorded it: taken into ``container``, or the container was
    removed), or the pid of the live process that holds the claim.

    A stop is claimed in the record (``runtime["cleaner"]``: pid and start time) in one
    write transaction. A start that failed before it was recorded as running is this
    process's alone."""
    import json

    me = [os.getpid(), _starttime(os.getpid())]
    believed_running = container.status in ("running", "paused")
    with transaction(engine.db):
        row = engine.db.execute("SELECT * FROM containers WHERE id = ?", (container.id,)).fetchone()
        if row is None:
            return "done" if believed_running else "mine"
        if row["status"] not in ("running", "paused"):
            if not believed_running:
                return "mine"
            recorded = Container.from_row(row, container.root)
            for field in ("status", "pid", "exit_code", "oom_killed", "error", "finished", "runtime"):
                setattr(container, field, getattr(recorded, field))
            return "done"
        runtime = json.loads(row["runtime"])
        cleaner = runtime.get("cleaner")
        if cleaner and cleaner != me and is_alive(cleaner[0], cleaner[1]):
            return str(cleaner[0])
        runtime["cleaner"] = me
        engine.db.execute("UPDATE containers SET runtime = ? WHERE id = ?", (json.dumps(runtime), container.id))
    container.runtime["cleaner"] = me
    return "mine"


def _driver(errors: list[str], lookup: Any, container: Container) -> Any:
    """The container's driver of one kind, or None with the reason in ``errors``."""
    try:
        return lookup(container)
    except PyctrError as e:
        errors.append(str(e))
        return None


def _release_cgroups(container: Container, cgroups: Any, exit_code: int) -> list[str]:
    """The cgroup (OOM counters read first); the errors, as lines."""
    errors: list[str] = []
    handle = container.runtime.pop("cgroup", None)
    if handle is not None and cgroups is not None:
        try:
            # the OOM counters are read before the cgroup goes (destroy reads them first)
            counters = cgroups.destroy(handle)
            kills = int(counters.get("oom_kill", 0) or 0)
            container.runtime["oom_events"] = container.runtime.get("oom_events", 0) + kills
            container.oom_killed = exit_code == 137 and kills > 0
        except (PyctrError, OSError) as e:
            errors.append(str(e))
            container.runtime["cgroup"] = handle  # keep it for prune to retry
    return errors


def _remove_container_dir(container: Container) -> list[str]:
    from pyctr.core.trees import remove_tree

    remove_tree(container.dir)
    return []


def _release_rootfs(container: Container, storage: Any, removing: bool) -> list[str]:
    """Unmount the rootfs (``removing``: remove the writable layer too); the errors, as lines."""
    try:
        if storage is not None:
            if removing:
                storage.remove(container.id)
            else:
                storage.put(container.id)
    except (PyctrError, OSError) as e:
        return [str(e)]
    return []


def should_restart(container: Container) -> bool:
    """Docker's restart policies, applied when the init exited on its own (pyctr.core.restarts)."""
    from pyctr.core import restarts

    return restarts.should_restart(container.spec.restart_policy, container.exit_code,
                                   bool(container.runtime.get("stopped_by_user")),
                                   container.runtime.get("restart_count", 0))


def kill(container: Container, sig: int, engine: Engine | None = None) -> None:
    """Send ``sig`` to the container's init (``engine``: record Docker's ``kill`` event)."""
    if container.status not in ("running", "paused") or not is_alive(container.pid, container.runtime.get("starttime")):
        raise Conflict(f"container {container.name} is not running")
    os.kill(container.pid, sig)
    if engine is not None:
        record_event(engine, container, "kill", signal=sig)


def remove(engine: Engine, container: Container, force: bool = False, volumes: bool = False) -> None:
    """Delete the container and everything it owns (``volumes``: its anonymous volumes
    too, as ``rm -v``). Idempotent after a crash."""
    running = container.status in ("running", "paused") and is_alive(container.pid, container.runtime.get("starttime"))
    if running and not force:
        raise Conflict(f"you cannot remove a running container {container.short_id}; stop it first or use -f")
    if container.status == "restarting":
        if not force:
            raise Conflict(f"you cannot remove a restarting container {container.short_id}; stop it first or use -f")
        from pyctr.core import restarts

        restarts.cancel(engine, container)  # its sleeper goes first: nothing comes back
    if running:
        # the monitor, which may clean up this stop (cleanup), must not restart what goes
        container.runtime["stopped_by_user"] = True
        with transaction(engine.db):
            container.save(engine.db)
        os.kill(container.pid, signal.SIGKILL)
        _wait_gone(container.pid)
    if container.status in ("running", "paused"):
        cleanup(engine, container, exit_code=137)
    else:
        _release_leftover_cgroups(engine, container)
    engine.storage_for(container).remove(container.id)
    from pyctr.core.trees import remove_tree

    remove_tree(container.dir)
    if container.spec.mounts:
        from pyctr.core import mounts

        mounts.release(engine, container)  # a start killed half-way may still hold references
    try:
        engine.network_for(container).forget(container)
    except PyctrError:
        pass  # e.g. its driver is gone; `system prune` drops the records later
    with transaction(engine.db):
        engine.db.execute("DELETE FROM containers WHERE id = ?", (container.id,))
    record_event(engine, container, "destroy")
    if volumes and container.spec.mounts:
        mounts.remove_anonymous(engine, container)


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            # not our child (a detached container's monitor reaps it): watch /proc,
            # which can vanish between any two reads
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        return
            except OSError:
                return
        time.sleep(0.01)


def reconcile(engine: Engine) -> list[str]:
    """Finish what killed pyctr processes left: containers recorded as running whose
    init is gone are cleaned up and marked exited (255, as Docker does)."""
    from pyctr.core.container import list_all

    done = []
    for c in list_all(engine.db, engine.config.root):
        if c.status in ("running", "paused") and not is_alive(c.pid, c.runtime.get("starttime")):
            c.error = c.error or "pyctr was killed while the container ran"
            cleanup(engine, c, exit_code=255)
            done.append(f"cleaned up container {c.short_id} ({c.name})")
    return done


def remove_stopped(engine: Engine) -> list[str]:
    """Remove every container that is not running; return their ids."""
    from pyctr.core.container import list_all

    removed = []
    for c in list_all(engine.db, engine.config.root):
        if c.status not in ("running", "paused", "restarting"):
            remove(engine, c, force=True)
            removed.append(c.id)
    return removed


def _cgroup_orphans(engine: Engine, live: set[str]) -> list[str]:
    """The cgroups of containers that no record names any more (a run killed between
    their mkdir and the record's save): the cgroup driver's own records and prefix know them."""
    try:
        cgroups = engine.driver("cgroup", engine.config.cgroup_manager)
        return [f"removed the cgroups of container {cid[:12]}, which no longer exists"
                for cid in cgroups.cleanup_orphans(live)]
    except (PyctrError, OSError) as e:
        return [f"cgroups: {e}"]


def prune_orphans(engine: Engine) -> list[str]:
    """``system prune``'s repair part: dead containers, then what no container owns."""
    from pyctr.core.container import list_all

    lines = reconcile(engine)
    live = {c.id for c in list_all(engine.db, engine.config.root)}
    from pyctr.core import volumes

    lines += volumes.reconcile(engine)  # also loads the volume drivers, whose cleanup_orphans runs next
    lines += plugins.cleanup_orphans(live)
    lines += _cgroup_orphans(engine, live)
    storage = engine.storage
    cleanup_staging = getattr(storage, "cleanup_staging", None)
    if cleanup_staging:
        lines += [f"removed half-made layer {name}" for name in cleanup_staging()]
    db_layers = {r[0] for r in engine.db.execute("SELECT id FROM layers WHERE driver = ?", (storage.name,))}
    for layer in storage.layers():
        if layer.startswith(".") or layer in live or layer in db_layers:
            continue
        storage.remove(layer)
        lines.append(f"removed layer {layer[:12]} that no image or container owns")
    with transaction(engine.db):
        for row in engine.db.execute("SELECT id FROM layers WHERE driver = ? AND complete = 0", (storage.name,)).fetchall():
            storage.remove(row[0])
            engine.db.execute("DELETE FROM layers WHERE driver = ? AND id = ?", (storage.name, row[0]))
            lines.append(f"removed incomplete layer {row[0][:12]}")
    return lines


# ---------------------------------------------------------------------------
# Stopping, waiting, renaming: what every front end asks of a running container
# ---------------------------------------------------------------------------


def parse_signal(value: str) -> int:
    """A signal given as a number, ``KILL`` or ``SIGKILL`` (any case), as Docker takes it."""
    import signal as signals  # (the enum module: only when a signal is named)

    v = value.upper()
    if v.isdigit():
        number = int(v)
        if 0 < number < signals.NSIG:
            return number
    else:
        name = v if v.startswith("SIG") else f"SIG{v}"
        if isinstance(getattr(signals, name, None), signals.Signals):
            return int(getattr(signals, name))
    raise UsageError(f"invalid signal: {value}")


def wait_stopped(engine: Engine, container_id: str, timeout: float | None = None,
                 removed: bool = False) -> Container | None:
    """Poll the record until the container is no longer running (its waiter recorded the exit);
    with ``removed``, until it is gone (None) while its monitor's hand-over (--rm) runs.
    Returns the record as last seen (still running when ``timeout`` passed)."""
    from pyctr.core.container import lookup
    from pyctr.core.errors import NotFound

    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            c = lookup(engine.db, engine.config.root, container_id)
        except NotFound:
            return None
        if c.status not in ("running", "paused") and not (removed and is_alive(c.runtime.get("monitor", 0))):
            return c
        if not is_alive(c.pid, c.runtime.get("starttime")) and not is_alive(c.runtime.get("monitor", 0)):
            return c  # nobody is left to record the exit; reconcile does it later
        if deadline is not None and time.monotonic() > deadline:
            return c
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def stop(engine: Engine, container: Container, timeout: int | None = None, sig: str | None = None) -> None:
    """Docker's stop: the stop signal, ``timeout`` seconds (the container's own by default),
    then SIGKILL; returns once the exit is recorded. Stopping a stopped container is no error."""
    c = container
    from pyctr.core import restarts

    if restarts.cancel(engine, c):
        return  # it was waiting out a restart back-off: it stays stopped
    if c.status not in ("running", "paused") or not is_alive(c.pid, c.runtime.get("starttime")):
        return
    number = parse_signal(sig or c.spec.stop_signal or "SIGTERM")
    grace = c.spec.stop_timeout if timeout is None else timeout
    c.runtime["stopped_by_user"] = True  # the restart policy must not bring it back
    with transaction(engine.db):
        c.save(engine.db)
    try:
        os.kill(c.pid, number)
        record_event(engine, c, "kill", signal=number)
    except ProcessLookupError:
        pass
    after = wait_stopped(engine, c.id, grace)
    if after is not None and after.status in ("running", "paused") and is_alive(c.pid, c.runtime.get("starttime")):
        try:
            os.kill(c.pid, signal.SIGKILL)
            record_event(engine, c, "kill", signal=int(signal.SIGKILL))
        except ProcessLookupError:
            pass
        wait_stopped(engine, c.id, 30)
    record_event(engine, c, "stop")


def rename(engine: Engine, container: Container, new_name: str) -> None:
    """Give the container another name (a leading ``/`` is Docker's and dropped)."""
    from pyctr.core.state import sqlite3

    name = new_name.lstrip("/")
    if not name or not name[0].isalnum() or any(ch not in VALID_NAME for ch in name):
        raise UsageError(f"invalid container name {new_name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    old = container.name
    container.name = name
    try:
        with transaction(engine.db):
            container.save(engine.db)
    except sqlite3.IntegrityError:
        container.name = old
        raise Conflict(f'the container name "/{name}" is already in use') from None
    record_event(engine, container, "rename", oldName="/" + old)


def set_paused(engine: Engine, container: Container, paused: bool) -> None:
    """``pause``/``unpause``: freeze or thaw the container's cgroups."""
    c = container
    if c.status not in ("running", "paused") or not is_alive(c.pid, c.runtime.get("starttime")):
        raise Conflict(f"container {c.name} is not running")
    if paused and c.status == "paused":
        raise Conflict(f"container {c.name} is already paused")
    if not paused and c.status != "paused":
        raise Conflict(f"container {c.name} is not paused")
    driver = engine.cgroups_for(c)
    if driver is None or c.runtime.get("cgroup") is None:
        raise Conflict(f"container {c.name} has no cgroups to freeze")
    (driver.freeze if paused else driver.thaw)(c.runtime["cgroup"])
    c.status = "paused" if paused else "running"
    with transaction(engine.db):
        c.save(engine.db)
    record_event(engine, c, "pause" if paused else "unpause")


def update(engine: Engine, container: Container, resources: dict[str, Any], restart_policy: str | None = None) -> None:
    """``update``: new cgroup limits (applied at once to a running container) and restart policy."""
    c = container
    if resources:
        c.spec.resources = {**c.spec.resources, **resources}
        if c.status in ("running", "paused") and c.runtime.get("cgroup") is not None:
            cgroups = engine.cgroups_for(c)
            if cgroups is not None:
                cgroups.update(c.runtime["cgroup"], resources)
    if restart_policy:
        c.spec.restart_policy = restart_policy
    with transaction(engine.db):
        engine.db.execute("UPDATE containers SET spec = ? WHERE id = ?", (c.spec.to_json(), c.id))
    record_event(engine, c, "update")


def record_event(engine: Engine, container: Container, action: str, **extra: Any) -> None:
    """Docker's event for a change of ``container`` in the journal (pyctr.core.events)."""
    from pyctr.core import events

    events.container_event(engine, container, action, **extra)
