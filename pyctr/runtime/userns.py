"""The rootless user's namespace: made once, kept by a pause process, entered by every command.

As rootless podman does it: the first command of a user forks a child that
unshares a user namespace and a mount namespace; the parent maps the user
to root in it, and the user's ``/etc/subuid``/``/etc/subgid`` ranges to ids
1.. (through the setuid helpers ``newuidmap``/``newgidmap``, Debian's
``uidmap``); the child then becomes the pause process
(:mod:`pyctr.runtime.pause`), which does nothing but keep both namespaces
alive. Its pid (and start time, against pid reuse) is in
``$XDG_RUNTIME_DIR/pyctr/pause.pid``. Every command then joins them with two
``setns`` calls before it does anything else, so overlay mounts made by one
command (a container's root) are there for the next (``exec``, ``stop``).

Inside, the command is root over the namespace: it mounts overlayfs, makes
network namespaces, chowns layer files to ids of the range (which land on
the host as the user's subordinate ids: "ids shifted"). Without a range the
map is the user's own uid and gid alone (a note says what then fails).

:func:`enter` is called by a front end (the CLI's settings) once the
configuration is known and before any thread exists: a multithreaded process
cannot join a user namespace.
"""

from __future__ import annotations

import os
import sys

from pyctr.core import rootless
from pyctr.core.errors import RuntimeFailure, UsageError
from pyctr.kernel import linux

PAUSE_FILE = "pause.pid"
LOCK_FILE = "pause.lock"
#: the first 65536 ids (0 = the user) are what images need; podman asks the same
WANTED_IDS = 65536


class IdRange:
    """One line of /etc/subuid or /etc/subgid that belongs to the user."""

    def __init__(self, start: int, count: int) -> None:
        self.start = start
        self.count = count

    def __repr__(self) -> str:
        return f"IdRange({self.start}, {self.count})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdRange) and (self.start, self.count) == (other.start, other.count)


def read_ranges(path: str, name: str | None, user_id: int) -> list[IdRange]:
    """The user's ranges in a subordinate id file (by name or by number), in file order."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        owner, _, rest = line.partition(":")
        start, _, count = rest.partition(":")
        if owner not in (name, str(user_id)) or not start.isdigit() or not count.isdigit():
            continue
        if int(count) > 0:
            found.append(IdRange(int(start), int(count)))
    return found


def mapping(own: int, ranges: list[IdRange]) -> list[tuple[int, int, int]]:
    """(inside, outside, count) lines: the user's own id to 0, then the ranges from 1 on."""
    lines = [(0, own, 1)]
    inside = 1
    for r in ranges:
        lines.append((inside, r.start, r.count))
        inside += r.count
    return lines


def _user_name(user_uid: int) -> str | None:
    import pwd

    try:
        return pwd.getpwuid(user_uid).pw_name
    except KeyError:
        return None


def find_helper(name: str) -> str | None:
    """A helper program on $PATH (as podman finds newuidmap, slirp4netns, pasta), or None."""
    for directory in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":"):
        path = os.path.join(directory, name)
        if directory and os.access(path, os.X_OK) and os.path.isfile(path):
            return path
    return None


def _helper(name: str) -> str:
    path = find_helper(name)
    if path is not None:
        return path
    raise UsageError(f"{name} is not installed: rootless pyctr maps your /etc/subuid and /etc/subgid ranges with it "
                     "(install Debian's uidmap package: apt-get install uidmap)")


class Plan:
    """How the user's namespace is to be mapped: ranges, or the single-id fallback."""

    def __init__(self, user_uid: int, user_gid: int) -> None:
        self.uid = user_uid
        self.gid = user_gid
        self.name = _user_name(user_uid)
        self.uid_ranges = read_ranges("/etc/subuid", self.name, user_uid)
        self.gid_ranges = read_ranges("/etc/subgid", self.name, user_gid if self.name is None else user_uid)
        if self.name is not None and not self.gid_ranges:
            self.gid_ranges = read_ranges("/etc/subgid", self.name, user_uid)
        #: no range in one of the files: only the user's own ids exist inside
        self.single = not self.uid_ranges or not self.gid_ranges

    def note(self) -> str:
        who = self.name or str(self.uid)
        return (f"note: {who} has no range in /etc/subuid and /etc/subgid, so containers get only uid and gid 0 "
                "(you): --user with another id and images with files of other owners fail; add one with "
                f"usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {who}, then pyctr system migrate")

    def apply(self, pid: int) -> None:
        """Write the maps of ``pid`` (a child that has unshared its user namespace)."""
        if self.single:
            # An unprivileged process may map its own ids, once setgroups is denied.
            _write(f"/proc/{pid}/uid_map", f"0 {self.uid} 1\n")
            _write(f"/proc/{pid}/setgroups", "deny")
            _write(f"/proc/{pid}/gid_map", f"0 {self.gid} 1\n")
            return
        for tool, own, ranges in (("newuidmap", self.uid, self.uid_ranges), ("newgidmap", self.gid, self.gid_ranges)):
            argv = [_helper(tool), str(pid)]
            for inside, outside, count in mapping(own, ranges):
                argv += [str(inside), str(outside), str(count)]
            import subprocess

            done = subprocess.run(argv, capture_output=True, text=True)
            if done.returncode != 0:
                why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
                raise RuntimeFailure(f"{tool} refused your /etc/sub{tool[3:6]} ranges: {why}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------------------
# the pause process
# ---------------------------------------------------------------------------


def state_dir(user_uid: int) -> str:
    """``$XDG_RUNTIME_DIR/pyctr``: the pause process's pid, whatever --runroot says
    (one namespace per user, shared by all the user's stores)."""
    return os.path.join(rootless.runtime_dir(user_uid), "pyctr")


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]  # field 22, after "pid (comm) "


def read_pause(directory: str) -> int | None:
    """The live pause process's pid, or None (no file, or the process it names is gone)."""
    try:
        with open(os.path.join(directory, PAUSE_FILE)) as f:
            fields = f.read().split()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if len(fields) < 2 or not fields[0].isdigit():
        return None
    pid_text, started = fields[0], fields[1]
    if _start_time(int(pid_text)) != started:
        return None
    return int(pid_text)


def _make_pause(plan: Plan, directory: str) -> int:
    """Fork the pause process, map its namespace, record it; its pid."""
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the pause process-to-be
        code = 1
        try:
            os.close(ready_r)
            os.close(go_w)
            linux.unshare(linux.CLONE_NEWUSER | linux.CLONE_NEWNS)
            os.write(ready_w, b"1")
            if os.read(go_r, 1) == b"G":
                os.setsid()
                os.chdir("/")
                null = os.open("/dev/null", os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                pause = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pause.py")
                os.execv(sys.executable, [sys.executable, "-S", "-I", pause])
        except BaseException:  # noqa: BLE001, S110  (the parent sees the pipe close and reports)
            pass
        os._exit(code)
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise RuntimeFailure("cannot make a user namespace here (unprivileged user namespaces may be "
                                 "disabled: sysctl user.max_user_namespaces)")
        plan.apply(pid)
        os.write(go_w, b"G")
    except BaseException:
        _kill(pid)
        raise
    finally:
        os.close(ready_r)
        os.close(go_w)
    # It execs the pause program; its start time is fixed from the fork on.
    from pyctr.core.state import atomic_write

    atomic_write(os.path.join(directory, PAUSE_FILE), f"{pid} {_start_time(pid)} {int(plan.single)}\n".encode(), 0o600)
    if plan.single:
        sys.stderr.write(plan.note() + "\n")
    return pid


def _kill(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _single_recorded(directory: str) -> bool:
    try:
        with open(os.path.join(directory, PAUSE_FILE)) as f:
            return f.read().split()[2:3] == ["1"]
    except (OSError, IndexError):
        return False


def ensure_pause(user_uid: int, user_gid: int) -> int:
    """The pause process's pid, made if there is none (under a lock: two first commands make one)."""
    directory = state_dir(user_uid)
    pid = read_pause(directory)
    if pid is not None:
        return pid
    os.makedirs(directory, mode=0o700, exist_ok=True)
    import fcntl

    lock = os.open(os.path.join(directory, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pid = read_pause(directory)
        if pid is None:
            pid = _make_pause(Plan(user_uid, user_gid), directory)
    finally:
        os.close(lock)
    return pid


def _single_threaded() -> bool:
    return len(os.listdir("/proc/self/task")) == 1


def enter(root: str, runroot: str) -> None:
    """Put this command inside the user's namespace (no-op for real root, or when already in).

    ``root`` and ``runroot`` are checked first: they must be the user's own.
    """
    if os.geteuid() == 0:
        return  # root, or a pyctr process started inside the namespace (it inherited it)
    user_uid, user_gid = os.geteuid(), os.getegid()
    rootless.check_owned(root, "store", user_uid)
    rootless.check_owned(runroot, "run root", user_uid)
    pid = ensure_pause(user_uid, user_gid)
    join(pid, user_uid, user_gid, _single_recorded(state_dir(user_uid)))


def join(pid: int, user_uid: int, user_gid: int, single: bool) -> None:
    """setns into the pause process's user and mount namespaces, keeping the working directory."""
    if not _single_threaded():
        raise RuntimeFailure("internal error: the user namespace must be entered before any thread starts")
    cwd = None
    try:
        cwd = os.getcwd()
    except OSError:
        pass
    user_fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    try:
        mnt_fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        try:
            linux.setns(user_fd, linux.CLONE_NEWUSER)
            linux.setns(mnt_fd, linux.CLONE_NEWNS)
        finally:
            os.close(mnt_fd)
    finally:
        os.close(user_fd)
    # Joining a mount namespace moves us to its root: come back (relative paths in arguments)
    if cwd is not None:
        try:
            os.chdir(cwd)
        except OSError:
            os.chdir("/")
    os.environ[rootless.ENV_UID] = str(user_uid)
    os.environ[rootless.ENV_GID] = str(user_gid)
    os.environ[rootless.ENV_SINGLE] = "1" if single else "0"


def stop_pause(user_uid: int) -> bool:
    """End the pause process (``pyctr system migrate``); True if there was one.

    Containers still running keep the namespace alive; new commands then make a
    new one, in which those containers' mounts are not seen: so the CLI stops
    it only when none runs.
    """
    directory = state_dir(user_uid)
    pid = read_pause(directory)
    try:
        os.unlink(os.path.join(directory, PAUSE_FILE))
    except FileNotFoundError:
        pass
    if pid is None:
        return False
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def describe() -> list[tuple[str, str]]:
    """``pyctr info``'s lines about the user's namespace (asked from inside it)."""
    lines = []
    for kind in ("uid", "gid"):
        try:
            with open(f"/proc/self/{kind}_map") as f:
                entries = [line.split() for line in f if line.strip()]
        except OSError:
            entries = []
        lines.append((f"{kind.upper()} Map", ", ".join(f"{a}->{b} ({c})" for a, b, c in entries)))
    if rootless.single_mapping():
        lines.append(("ID Mapping", "single (no /etc/subuid and /etc/subgid range: only ids 0 exist inside)"))
    else:
        lines.append(("ID Mapping Helpers", " ".join(filter(None, (find_helper("newuidmap"),
                                                                   find_helper("newgidmap"))))))
    return lines
