"""The init's steps when a :class:`~pyctr.runtime.plan.Plan` spells them out (an OCI bundle).

Runs in the forked init only, like :mod:`pyctr.runtime.child` (whose steps
it reuses where they are the same): everything is imported at the top,
because after pivot_root the host's files are gone. Each function is one
step, named for what it does, in runc's order.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import struct
import time

from pyctr.kernel import linux
from pyctr.kernel.paths import ensure_inside, opath_inside, secure_join
from pyctr.runtime import child, security
from pyctr.runtime.child import ExecFailure
from pyctr.runtime.plan import Device, Hook, Identity, MountStep, Plan, ProcessPlan

_ST_FLAGS = ((os.ST_RDONLY, linux.MS_RDONLY), (os.ST_NOSUID, linux.MS_NOSUID), (os.ST_NODEV, linux.MS_NODEV),
             (os.ST_NOEXEC, linux.MS_NOEXEC), (os.ST_NOATIME, linux.MS_NOATIME),
             (os.ST_RELATIME, linux.MS_RELATIME))
MS_UNBINDABLE = 1 << 17
_PROPAGATION = linux.MS_SHARED | linux.MS_SLAVE | linux.MS_PRIVATE | MS_UNBINDABLE


class _Step:
    """Names the step in an OSError raised inside it (``mounting /dev/pts (devpts): ...``):
    the caller sees one line that says what failed, not only the errno's words."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, e: BaseException | None, tb: object) -> None:
        if isinstance(e, OSError) and not getattr(e, "_step", False):
            why = e.args[1] if len(e.args) > 1 else str(e)
            new = OSError(e.errno, f"{self.what}: {why}" + (f": {e.filename}" if e.filename else ""))
            new._step = True  # type: ignore[attr-defined]
            raise new from None


step = _Step


# ---------------------------------------------------------------------------
# before pivot_root
# ---------------------------------------------------------------------------


def own_cgroups() -> dict[str, str]:
    """This process's cgroup per hierarchy ("cpu,cpuacct", "name=systemd", "" for v2), read
    before the cgroup namespace hides the host's paths."""
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            out[controllers] = path
    return out


def prepare_root(rootfs: str, propagation: int) -> None:
    """Make "/" slave (runc's default) or what rootfsPropagation asks, and the rootfs a mount point.

    A shared propagation is applied only after pivot_root, which refuses a shared parent."""
    first = propagation if propagation and not propagation & linux.MS_SHARED else linux.MS_SLAVE | linux.MS_REC
    linux.mount(None, "/", None, first)
    linux.mount(rootfs, rootfs, None, linux.MS_BIND | linux.MS_REC)
    # pivot_root wants the new root's parent mount not shared (runc's rootfsParentMountPrivate)
    linux.mount(None, rootfs, None, linux.MS_PRIVATE)


def mount_all(rootfs: str, plan: Plan, cgroups: dict[str, str], in_userns: bool) -> None:
    for m in plan.mounts:
        with step(f"mounting {m.target} ({m.fstype or m.kind})"):
            if m.kind == "cgroup":
                mount_cgroup(rootfs, m, cgroups, plan.cgroup_root)
            elif m.kind == "bind":
                mount_bind(rootfs, m)
            else:
                mount_filesystem(rootfs, m, in_userns)
            if m.propagation:
                linux.mount(None, secure_join(rootfs, m.target), None, m.propagation)


def mount_bind(rootfs: str, m: MountStep) -> None:
    if not os.path.lexists(m.source):
        raise OSError(errno.ENOENT, f"mount source {m.source} (for {m.target}) does not exist")
    is_dir = os.path.isdir(m.source)
    target = ensure_inside(rootfs, m.target, directory=is_dir)
    with opath_inside(rootfs, target) as t:
        linux.mount(m.source, t, None, linux.MS_BIND | (m.flags & linux.MS_REC))
    extra = m.flags & ~(linux.MS_BIND | linux.MS_REC | _PROPAGATION)
    if extra:
        remount(target, extra)


def remount(target: str, flags: int) -> None:
    """A bind remount with ``flags``; the flags the kernel locks (a user namespace's
    nosuid/nodev on the source) are kept, as runc does."""
    try:
        linux.mount(None, target, None, linux.MS_BIND | linux.MS_REMOUNT | flags)
    except OSError as e:
        if e.errno != errno.EPERM:
            raise
        have = os.statvfs(target).f_flag
        locked = 0
        for st, ms in _ST_FLAGS:
            if have & st:
                locked |= ms
        linux.mount(None, target, None, linux.MS_BIND | linux.MS_REMOUNT | flags | locked)


def mount_filesystem(rootfs: str, m: MountStep, in_userns: bool) -> None:
    target = ensure_inside(rootfs, m.target, directory=True)
    if m.fstype == "proc" or m.fstype == "sysfs":
        # the image must not redirect the kernel's files (CVE-2019-16884 style)
        if os.path.islink(target) or not os.path.isdir(target):
            raise OSError(errno.ENOTDIR, f"{m.target} is not a directory; refusing to mount {m.fstype} there")
    try:
        with opath_inside(rootfs, target) as t:
            linux.mount(m.source or m.fstype, t, m.fstype, m.flags, m.data or None)
    except OSError as e:
        if m.fstype == "sysfs" and e.errno == errno.EPERM:
            # a user namespace that does not own the network namespace may not mount
            # sysfs: bind the host's, read-only (runc's fallback)
            with opath_inside(rootfs, target) as t:
                linux.mount("/sys", t, None, linux.MS_BIND | linux.MS_REC)
            remount(target, m.flags & ~_PROPAGATION | linux.MS_RDONLY)
        elif m.fstype == "devpts" and e.errno == errno.EINVAL and "gid=" in (m.data or ""):
            # gid 5 (tty) may not be mapped in a user namespace
            data = ",".join(o for o in m.data.split(",") if not o.startswith("gid="))
            with opath_inside(rootfs, target) as t:
                linux.mount(m.source or m.fstype, t, m.fstype, m.flags, data or None)
        else:
            raise


def mount_cgroup(rootfs: str, m: MountStep, cgroups: dict[str, str], cgroup_root: str) -> None:
    """runc's cgroup mount: on cgroup v2 the container's own cgroup2 (or its directory bound
    in); on v1 a tmpfs holding each hierarchy's directory of this container, bound in."""
    target = ensure_inside(rootfs, m.target, directory=True)
    flags = m.flags & ~(linux.MS_RDONLY | _PROPAGATION | linux.MS_BIND | linux.MS_REC)
    if "" in cgroups and len(cgroups) == 1:  # unified
        source = os.path.join(cgroup_root, cgroups[""].lstrip("/"))
        with opath_inside(rootfs, target) as t:
            if cgroups[""] == "/":  # a cgroup namespace: its root is ours
                linux.mount("cgroup", t, "cgroup2", m.flags & ~_PROPAGATION)
                return
            linux.mount(source, t, None, linux.MS_BIND | linux.MS_REC)
        remount(target, flags | (m.flags & linux.MS_RDONLY))
        return
    with opath_inside(rootfs, target) as t:
        linux.mount("tmpfs", t, "tmpfs", flags, "mode=755")
    for name in sorted(os.listdir(cgroup_root)):
        point = os.path.join(cgroup_root, name)
        if os.path.islink(point):
            os.symlink(os.readlink(point), os.path.join(target, name))
            continue
        key = _hierarchy_key(name, cgroups)
        if key is None:
            continue
        source = os.path.join(point, cgroups[key].lstrip("/"))
        if not os.path.isdir(source):
            source = point  # inside a cgroup namespace the paths are relative to its root
        dest = os.path.join(target, name)
        os.mkdir(dest, 0o755)
        linux.mount(source, dest, None, linux.MS_BIND | linux.MS_REC)
        remount(dest, flags | (m.flags & linux.MS_RDONLY))
    if m.flags & linux.MS_RDONLY:
        linux.mount(None, target, None, linux.MS_REMOUNT | linux.MS_RDONLY | flags)


def _hierarchy_key(name: str, cgroups: dict[str, str]) -> str | None:
    """Which /proc/self/cgroup line a hierarchy's directory name belongs to."""
    if name == "unified":
        return "" if "" in cgroups else None
    for key in cgroups:
        if key == name or key == f"name={name}" or (key and set(key.split(",")) == set(name.split(","))):
            return key
    return None


def make_devices(rootfs: str, plan: Plan, in_userns: bool) -> None:
    """The default device nodes, the bundle's ``linux.devices`` and /dev's symlinks."""
    dev = secure_join(rootfs, "/dev")
    if not os.path.isdir(dev):
        return
    wanted = {d.path for d in plan.devices}
    nodes = list(plan.devices)
    if plan.default_devices:
        nodes = [Device(f"/dev/{n}", "c", major, minor, 0o666, 0, 0) for n, major, minor in child.DEVICES
                 if f"/dev/{n}" not in wanted] + nodes
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
            if not os.path.lexists(os.path.join(dev, name)):
                os.symlink(target, os.path.join(dev, name))
        if os.path.exists("/proc/kcore") and not os.path.lexists(os.path.join(dev, "core")):
            os.symlink("/proc/kcore", os.path.join(dev, "core"))
    for d in nodes:
        with step(f"creating device {d.path}"):
            make_device(rootfs, d, in_userns)
    if os.path.isdir(os.path.join(dev, "pts")) and "/dev/ptmx" not in wanted:
        ptmx = os.path.join(dev, "ptmx")
        if os.path.lexists(ptmx):
            os.unlink(ptmx)
        os.symlink("pts/ptmx", ptmx)


def make_device(rootfs: str, d: Device, in_userns: bool) -> None:
    path = secure_join(rootfs, d.path)
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    if in_userns:
        # mknod is not allowed in a user namespace: bind the host's node over a file
        if not os.path.lexists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666))
        linux.mount(d.path, path, None, linux.MS_BIND)
        return
    kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[d.type]
    if os.path.lexists(path):
        os.unlink(path)
    os.mknod(path, d.mode | kind, os.makedev(d.major, d.minor) if d.type != "p" else 0)
    os.chmod(path, d.mode)
    os.lchown(path, d.uid, d.gid)


def new_session_keyring(name: str | None) -> None:
    """Keys the container adds stay its own; kernels without keyrings (ENOSYS) or a user
    namespace that may not (EPERM, EACCES) go on without, as runc does."""
    if name is None:
        return
    try:
        linux.join_session_keyring(name)
    except OSError as e:
        if e.errno not in (errno.ENOSYS, errno.EPERM, errno.EACCES, errno.EDQUOT):
            raise


def move_root(rootfs: str) -> None:
    """``--no-pivot``: move the rootfs over "/" and chroot (for a root on a ramfs)."""
    os.chdir(rootfs)
    linux.mount(rootfs, "/", None, linux.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


# ---------------------------------------------------------------------------
# after pivot_root
# ---------------------------------------------------------------------------


def finish_root(plan: Plan) -> None:
    if plan.root_propagation & linux.MS_SHARED:
        linux.mount(None, "/", None, plan.root_propagation)
    for key, value in plan.sysctl.items():
        with step(f"setting sysctl {key}"), open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)
    with step("masking paths"):
        if plan.masked:
            child.mask_paths(plan.masked)
    with step("making paths read-only"):
        if plan.readonly:
            child.make_readonly_paths(plan.readonly)
        if plan.readonly_root:
            child.remount_root_readonly()
    with step("setting the hostname"):
        if plan.hostname is not None:
            child.set_hostname(plan.hostname)
        if plan.domainname is not None:
            linux.setdomainname(plan.domainname)


def set_console_size(size: tuple[int, int] | None) -> None:
    if size and all(size):
        fcntl.ioctl(0, 0x5414, struct.pack("HHHH", size[0], size[1], 0, 0))  # TIOCSWINSZ


def resolve(args: list[str], env: list[str]) -> str:
    """The program ``args[0]`` names, found in the container's PATH at ``create`` (so
    that a missing command fails ``create`` with 127, as runc and podman expect)."""
    if not args:
        raise ExecFailure(125, "args must not be empty")
    name = args[0]
    if "/" in name:
        candidates = [name]
    else:
        path = next((e[5:] for e in env if e.startswith("PATH=")), child.DEFAULT_PATH)
        candidates = [os.path.join(d or ".", name) for d in path.split(":")]
    denied = False
    for candidate in candidates:
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            denied = denied or "/" in name
            continue
        if st.st_mode & 0o111:
            return candidate
        denied = True
    if denied:
        raise ExecFailure(126, f'exec: "{name}": permission denied')
    if "/" in name:
        raise ExecFailure(127, f'exec: "{name}": stat {name}: no such file or directory')
    raise ExecFailure(127, f'exec: "{name}": executable file not found in $PATH')


def wait_for_start(fifo: int) -> None:
    """Block until ``start`` opens the exec fifo for reading, then tell it we go on."""
    fd = os.open(f"/proc/self/fd/{fifo}", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
    os.close(fifo)


def become(identity: Identity) -> None:
    """Groups, ids and the five capability sets, exactly as given."""
    with step("dropping capabilities from the bounding set"):
        security.drop_bounding(identity.bounding)
    linux.prctl(linux.PR_SET_KEEPCAPS, 1)
    with step(f"switching to uid {identity.uid}, gid {identity.gid}"):
        os.setgroups(identity.groups)
        os.setresgid(identity.gid, identity.gid, identity.gid)
        os.setresuid(identity.uid, identity.uid, identity.uid)
    linux.prctl(linux.PR_SET_KEEPCAPS, 0)
    with step("setting capabilities"):
        linux.capset(identity.effective, identity.permitted, identity.inheritable)
    linux.prctl(linux.PR_CAP_AMBIENT, linux.PR_CAP_AMBIENT_CLEAR_ALL)
    cap = 0
    # the kernel raises only what is permitted and inheritable; runc goes on without the rest
    ambient = identity.ambient & identity.permitted & identity.inheritable
    while ambient:
        if ambient & 1:
            linux.ambient_raise(cap)
        ambient >>= 1
        cap += 1


def run_hook(hook: Hook, state: bytes, what: str) -> None:
    """Run a hook with the state on its stdin; raise if it fails or outlives its timeout.

    Used in the init, where subprocess (and its imports) are not worth having."""
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(r, 0)
            env = dict(e.split("=", 1) if "=" in e else (e, "") for e in hook.env)
            os.execve(hook.path, hook.args or [hook.path], env)
        finally:
            os._exit(127)
    os.close(r)
    try:
        os.write(w, state)
    except OSError:
        pass  # the hook does not read its stdin
    os.close(w)
    deadline = time.monotonic() + hook.timeout if hook.timeout else None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG if deadline else 0)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise OSError(errno.ETIMEDOUT, f"{what} hook {hook.path} timed out after {hook.timeout}s")
        time.sleep(0.005)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise OSError(errno.EIO, f"{what} hook {hook.path} failed (exit status {code})")


def read_state(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b"{}"


__all__ = ["MountStep", "ProcessPlan"]
