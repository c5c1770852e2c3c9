"""The container's init, from its new namespaces to ``execve``: a list of steps.

Everything here runs after the child may have left the host's filesystem, so
this module imports all it needs at the top (a lazy import would fail there,
unless the module is imported already: see make_console).

Runs in the forked child only. Each step is a function named for what it
does, in the order runc does them. Anything that goes wrong raises; the
caller reports the message to the parent over the error pipe and exits 125
(or 126/127 when the command cannot be executed).
"""

from __future__ import annotations

# _socket, not socket: socket.py builds its enums at import (6 ms) and the child needs three calls
import _socket
import errno
import fcntl
import os
import stat
import struct

from pyctr.core.spec import DEFAULT_PATH
from pyctr.kernel import linux
from pyctr.kernel.paths import ensure_inside, opath, opath_inside, secure_join

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.core.spec import ContainerSpec

#: (name, major, minor) of the devices every container gets
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))


class ExecFailure(Exception):
    """The user's command could not be executed: exit code 126 or 127."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------
# before pivot_root
# ---------------------------------------------------------------------------


def make_mounts_private() -> None:
    """Nothing we mount may propagate back to the host."""
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)


def bind_rootfs(rootfs: str) -> None:
    """pivot_root needs the new root to be a mount point."""
    linux.mount(rootfs, rootfs, None, linux.MS_BIND | linux.MS_REC)


def _real_dir(rootfs: str, name: str) -> str:
    """``rootfs/name`` as a real directory; an image that made it a symlink is refused."""
    path = os.path.join(rootfs, name)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        os.mkdir(path, 0o755)
        return path
    if not stat.S_ISDIR(st.st_mode):
        raise OSError(errno.ENOTDIR, f"the image's /{name} is not a directory (a symlink?); refusing to mount over it")
    return path


def mount_proc(rootfs: str) -> None:
    with opath(_real_dir(rootfs, "proc")) as target:
        linux.mount("proc", target, "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)


def mount_dev(rootfs: str, in_user_namespace: bool) -> None:
    """A tmpfs /dev with the standard devices, pts, shm and mqueue."""
    dev = _real_dir(rootfs, "dev")
    with opath(dev) as target:
        linux.mount("tmpfs", target, "tmpfs", linux.MS_NOSUID | linux.MS_STRICTATIME, "mode=755,size=65536k")
    for name, major, minor in DEVICES:
        path = os.path.join(dev, name)
        if in_user_namespace:
            # mknod is not allowed in a user namespace: bind the host's node.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666))
            linux.mount(f"/dev/{name}", path, None, linux.MS_BIND)
        else:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
            os.chmod(path, 0o666)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                         ("ptmx", "pts/ptmx"), ("core", "/proc/kcore")):
        os.symlink(target, os.path.join(dev, name))
    os.mkdir(os.path.join(dev, "pts"), 0o755)
    linux.mount("devpts", os.path.join(dev, "pts"), "devpts", linux.MS_NOSUID | linux.MS_NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620" + ("" if in_user_namespace else ",gid=5"))
    os.mkdir(os.path.join(dev, "shm"), 0o1777)
    linux.mount("shm", os.path.join(dev, "shm"), "tmpfs",
                linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC, "mode=1777,size=65536k")
    os.mkdir(os.path.join(dev, "mqueue"), 0o755)
    linux.mount("mqueue", os.path.join(dev, "mqueue"), "mqueue",
                linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)


def mount_sys(rootfs: str, own_network: bool) -> None:
    """sysfs read-only; without a network namespace of our own, the host's is bound."""
    flags = linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    path = _real_dir(rootfs, "sys")
    with opath(path) as target:
        if own_network:
            linux.mount("sysfs", target, "sysfs", flags)
            return
        linux.mount("/sys", target, None, linux.MS_BIND | linux.MS_REC)
    # The remount must name the new mount, not the directory under it that the
    # O_PATH descriptor still points at.
    linux.mount(None, path, None, linux.MS_BIND | linux.MS_REMOUNT | flags)


def mount_cgroup2(rootfs: str) -> None:
    """On a cgroup v2 host, /sys/fs/cgroup is the container's own cgroup2, read-only, as Docker
    and podman mount it: called after the init made its cgroup namespace, whose root is then
    the container's cgroup, so the limits read inside are the container's (memory.max...). On
    v1 it stays sysfs's empty directory."""
    if not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # (the host's, before pivot_root)
        return
    flags = linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    linux.mount("cgroup2", os.path.join(rootfs, "sys/fs/cgroup"), "cgroup2", flags)


def bind_etc_files(rootfs: str, container_dir: str) -> None:
    """/etc/hostname, /etc/hosts and /etc/resolv.conf from the container's own directory."""
    for name in ("hostname", "hosts", "resolv.conf"):
        source = os.path.join(container_dir, name)
        if not os.path.exists(source):
            continue
        target = ensure_inside(rootfs, f"/etc/{name}", directory=False)
        if not stat.S_ISREG(os.lstat(target).st_mode):
            continue
        with opath(target) as t:
            linux.mount(source, t, None, linux.MS_BIND)


def mount_user_mounts(rootfs: str, spec: ContainerSpec) -> None:
    """Binds, tmpfs and volumes in the order given (sources already resolved by the parent)."""
    for m in spec.mounts:
        if m.type == "tmpfs":
            from pyctr.kernel.mountopts import parse

            target = ensure_inside(rootfs, m.target, directory=True)
            flags, data = parse(["nosuid", "nodev"] + list(m.options) + (["ro"] if m.readonly else []))
            with opath_inside(rootfs, target) as t:
                linux.mount("tmpfs", t, "tmpfs", flags, data or None)
            continue
        source = m.source
        is_dir = os.path.isdir(source)
        target = ensure_inside(rootfs, m.target, directory=is_dir)
        with opath_inside(rootfs, target) as t:
            linux.mount(source, t, None, linux.MS_BIND | linux.MS_REC)
        # Later changes name the new mount by path: the O_PATH descriptor still
        # points at the directory underneath it.
        propagation = {"private": linux.MS_PRIVATE, "rprivate": linux.MS_PRIVATE | linux.MS_REC,
                       "shared": linux.MS_SHARED, "rshared": linux.MS_SHARED | linux.MS_REC,
                       "slave": linux.MS_SLAVE, "rslave": linux.MS_SLAVE | linux.MS_REC}.get(m.propagation)
        if propagation:
            linux.mount(None, target, None, propagation)
        if m.readonly:
            linux.mount(None, target, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)


def pivot_into(rootfs: str) -> None:
    """pivot_root(".", ".") then detach the old root, as runc does."""
    os.chdir(rootfs)
    linux.pivot_root(".", ".")
    linux.umount2(".", linux.MNT_DETACH)
    os.chdir("/")


# ---------------------------------------------------------------------------
# after pivot_root
# ---------------------------------------------------------------------------


MASKED_PATHS = ("/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
                "/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def mask_paths(paths: tuple[str, ...] | list[str] = MASKED_PATHS) -> None:
    """Hide kernel information: /dev/null over files, an empty read-only tmpfs over dirs."""
    st = os.stat("/dev/null")
    if not (stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3):
        raise OSError(errno.EPERM, "/dev/null is not the null device; refusing to mask paths with it")
    for path in paths:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            linux.mount("tmpfs", path, "tmpfs", linux.MS_RDONLY, "size=0")
        else:
            linux.mount("/dev/null", path, None, linux.MS_BIND)


def make_readonly_paths(paths: tuple[str, ...] | list[str] = READONLY_PATHS) -> None:
    for path in paths:
        if not os.path.exists(path):
            continue
        linux.mount(path, path, None, linux.MS_BIND | linux.MS_REC)
        linux.mount(None, path, None,
                    linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)


def make_console(sock_fd: int, uid: int, gid: int) -> None:
    """Open a pty in the container's /dev/pts, send the master to the parent, use the slave as stdio."""
    TIOCSPTLCK, TIOCGPTN = 0x40045431, 0x80045430
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
    slave = os.open(f"/dev/pts/{number}", os.O_RDWR | os.O_NOCTTY)
    os.fchown(slave, uid, gid)
    sock = _socket.socket(fileno=sock_fd)
    # the data is the pty's name (go-runc's console receiver wants a non-empty one)
    sock.sendmsg([f"/dev/pts/{number}".encode()], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", master))])
    sock.close()
    os.close(master)
    for target in (0, 1, 2):
        os.dup2(slave, target)
    os.close(slave)
    # (the one import here that is not at the top: termios is only needed with a
    # console, and whoever passes one has it imported already, see runtime.tty)
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def remount_root_readonly() -> None:
    linux.mount(None, "/", None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)


def set_hostname(name: str) -> None:
    _socket.sethostname(name)


def bring_up_loopback() -> None:
    """lo starts down in a new network namespace; an ioctl is enough, no netlink needed."""
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        s.close()


def change_workdir(workdir: str) -> None:
    """Enter the working directory and check we are really inside the root (CVE-2024-21626)."""
    path = workdir or "/"
    if not os.path.isdir(path):
        os.makedirs(path, 0o755, exist_ok=True)
    os.chdir(path)
    if not os.getcwd().startswith("/"):
        raise OSError(errno.EPERM, "the working directory is outside the container")


def mark_fds_cloexec(last_kept: int = 2) -> None:
    """Only 0, 1 and 2 (and the ones up to ``last_kept``: runc's --preserve-fds) survive
    execve; everything else pyctr holds is closed by exec."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if 2 < fd <= last_kept:
            try:
                os.set_inheritable(fd, True)
            except OSError:
                pass
        elif fd > last_kept:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def execute(argv: list[str], env: list[str], program: str | None = None) -> None:
    """execve the user's command, searching the container's PATH (unless ``program``
    says which file it is already); never returns."""
    if not argv:
        raise ExecFailure(125, "no command specified")
    environ = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    environ.setdefault("PATH", DEFAULT_PATH)
    try:
        if program is not None:
            os.execve(program, argv, environ)
        os.execvpe(argv[0], argv, environ)
    except FileNotFoundError:
        raise ExecFailure(127, f'exec: "{argv[0]}": executable file not found in $PATH') from None
    except PermissionError:
        raise ExecFailure(126, f'exec: "{argv[0]}": permission denied') from None
    except OSError as e:
        raise ExecFailure(126, f'exec: "{argv[0]}": {e.strerror}') from None


__all__ = [n for n in dir() if not n.startswith("_")] + ["secure_join"]
