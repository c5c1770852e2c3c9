"""A real unprivileged user for the rootless tests, made by root.

What a distribution gives a person who logs in, made here by hand: an account
(``useradd``), ranges in /etc/subuid and /etc/subgid (``usermod
--add-subuids``), a runtime directory of the user's own (what logind makes
as /run/user/UID), and /dev/net/tun (slirp4netns, pasta) and /dev/fuse
(fuse-overlayfs) usable by it: distributions ship them 0666, this machine
has them 0600, so the user gets an ACL entry on each for the session, and
loses it afterwards.

The user must be able to run this very pyctr: ``sys.executable`` and every
directory pyctr and its dependencies are imported from must be readable by
it. A checkout under /root (mode 0700) is not, so then :func:`python_for`
copies pyctr and its dependencies (their files and metadata: the drivers are
found through entry points) into a virtual environment under a directory the
user can read.

Every process of the user (its own uid or one of its subordinate ids) is
found through /proc, from the host's side, so a test can check what ran as
whom and that nothing was left.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

USER = "pyctr-rootless"
#: a second account without subordinate ranges (the single-id fallback)
NO_RANGE_USER = "pyctr-norange"

_ACL = "system.posix_acl_access"
# ACL entry tags and the header (linux/posix_acl_xattr.h)
_ACL_VERSION = 2
_USER_OBJ, _USER, _GROUP_OBJ, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x10, 0x20


def _ranges(path: str, name: str) -> list[tuple[int, int]]:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] == name and parts[1].isdigit() and parts[2].isdigit():
            found.append((int(parts[1]), int(parts[2])))
    return found


def _free_range(count: int = 65536) -> int:
    """A start above every range in /etc/subuid and /etc/subgid."""
    top = 100000
    for path in ("/etc/subuid", "/etc/subgid"):
        for line in Path(path).read_text().splitlines() if os.path.exists(path) else []:
            parts = line.split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                top = max(top, int(parts[1]) + int(parts[2]))
    return top


class TestUser:
    """An account that exists on this machine, as the tests use it."""

    __test__ = False  # (not a pytest test class)

    def __init__(self, name: str) -> None:
        entry = pwd.getpwnam(name)
        self.name = name
        self.uid = entry.pw_uid
        self.gid = entry.pw_gid
        self.home = entry.pw_dir
        self.subuids = _ranges("/etc/subuid", name)
        self.subgids = _ranges("/etc/subgid", name)

    def host_uids(self) -> set[int]:
        """Every host uid this user's containers may run as: its own and its subordinate ids."""
        ids = {self.uid}
        for start, count in self.subuids:
            ids.update(range(start, start + count))
        return ids

    def shifted(self, inside: int) -> int:
        """The host uid of container uid ``inside`` (0 is the user; 1.. the first range on)."""
        if inside == 0:
            return self.uid
        start, count = self.subuids[0]
        assert inside - 1 < count
        return start + inside - 1

    def shifted_gid(self, inside: int) -> int:
        if inside == 0:
            return self.gid
        start, count = self.subgids[0]
        assert inside - 1 < count
        return start + inside - 1


def ensure_user(name: str = USER, ranges: bool = True) -> TestUser:
    """Make the account if it does not exist; give it one 65536-id range, or none."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--user-group", "--shell", "/bin/sh", name],
                       check=True, capture_output=True)
    for path in ("/etc/subuid", "/etc/subgid"):
        if not os.path.exists(path):
            Path(path).touch(mode=0o644)
    have = _ranges("/etc/subuid", name), _ranges("/etc/subgid", name)
    if ranges and not (have[0] and have[1]):
        start = _free_range()
        span = f"{start}-{start + 65535}"
        subprocess.run(["usermod", "--add-subuids", span, "--add-subgids", span, name], check=True,
                       capture_output=True)
    elif not ranges:
        for flag, found in (("--del-subuids", have[0]), ("--del-subgids", have[1])):
            for start, count in found:
                subprocess.run(["usermod", flag, f"{start}-{start + count - 1}", name], check=True,
                               capture_output=True)
    return TestUser(name)


# ---------------------------------------------------------------------------
# devices
# ---------------------------------------------------------------------------


class DeviceGrant:
    """An ACL entry giving ``uid`` read and write on a device node, taken back by :meth:`revoke`."""

    def __init__(self, path: str, uid: int) -> None:
        self.path = path
        self.uid = uid
        try:
            self.before: bytes | None = os.getxattr(path, _ACL)
        except OSError:
            self.before = None
        mode = os.stat(path).st_mode
        owner, group, other = (mode >> 6) & 7, (mode >> 3) & 7, mode & 7
        entries = [(_USER_OBJ, owner, 0xFFFFFFFF), (_USER, 6, uid), (_GROUP_OBJ, group, 0xFFFFFFFF),
                   (_MASK, 6 | group, 0xFFFFFFFF), (_OTHER, other, 0xFFFFFFFF)]
        os.setxattr(path, _ACL, struct.pack("<I", _ACL_VERSION)
                    + b"".join(struct.pack("<HHI", tag, perm, qualifier) for tag, perm, qualifier in entries))

    def revoke(self) -> None:
        if self.before is not None:
            os.setxattr(self.path, _ACL, self.before)
            return
        try:
            os.removexattr(self.path, _ACL)
        except OSError:
            pass
        # Removing the ACL leaves the group bits as the mask was: put the mode back as it was
        os.chmod(self.path, os.stat(self.path).st_mode & 0o7707)


# ---------------------------------------------------------------------------
# running as the user
# ---------------------------------------------------------------------------


def readable_by(user: TestUser, path: str) -> bool:
    """Can ``user`` reach ``path`` (every directory on the way searchable)? Asked as the user."""
    done = subprocess.run(["test", "-r", path], user=user.uid, group=user.gid, extra_groups=[],
                          capture_output=True)
    return done.returncode == 0


def _distributions() -> list:
    """pyctr and everything it needs at run time, as importlib.metadata distributions."""
    from importlib import metadata

    seen: dict[str, metadata.Distribution] = {}
    todo = ["pyctr"]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[key] = dist
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            req = requirement.split(";")[0].strip()
            for stop in "<>=!~[ (":
                req = req.split(stop)[0]
            todo.append(req)
    return list(seen.values())


def python_for(user: TestUser, base: Path) -> str:
    """An interpreter that can import this pyctr when run as ``user``.

    ``sys.executable`` itself when the user can import pyctr with it; else a
    virtual environment in ``base`` with copies of pyctr and its dependencies.
    """
    try:
        probe = subprocess.run([sys.executable, "-c", "import pyctr.cli, pluggy, click, pyroute2, zstandard"],
                               user=user.uid, group=user.gid, extra_groups=[], capture_output=True, cwd="/")
        if probe.returncode == 0:
            return sys.executable
    except PermissionError:
        pass  # the interpreter itself is out of the user's reach
    venv = base / "venv"
    python = venv / "bin" / "python"
    if python.exists():
        return str(python)
    # The interpreter itself may live where the user cannot go (pyenv under /root):
    # Debian's of the same version, else Debian's python3.
    version = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    interpreter = version if os.path.exists(version) else "/usr/bin/python3"
    subprocess.run([interpreter, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    import pyctr

    for dist in _distributions():
        if dist.metadata["Name"].lower() == "pyctr":
            source = Path(pyctr.__file__).parent
            if readable_by(user, str(source / "__init__.py")):
                (site / "pyctr-source.pth").write_text(f"{source.parent}\n")  # (a checkout: edits show at once)
            else:
                shutil.copytree(source, site / "pyctr", ignore=shutil.ignore_patterns("__pycache__"))
            info = site / f"pyctr-{dist.version}.dist-info"
            info.mkdir()
            for name in ("METADATA", "entry_points.txt"):
                text = dist.read_text(name) or dist.read_text("PKG-INFO") or ""
                (info / name).write_text(text)
            continue
        for file in dist.files or []:
            source = Path(dist.locate_file(file))
            if not source.is_file() or "__pycache__" in file.parts or file.parts[0] == "..":
                continue
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    os.chmod(base, 0o755)
    for dirpath, _dirnames, _filenames in os.walk(venv):
        os.chmod(dirpath, 0o755)
    return str(python)


class Session:
    """The user's view for one test: a home, XDG directories and a runtime dir of its own.

    Each test gets its own ``$XDG_RUNTIME_DIR``, hence its own pause process
    and namespace: what one test leaves cannot change the next.
    """

    def __init__(self, user: TestUser, base: Path, python: str) -> None:
        self.user = user
        self.base = base
        self.python = python
        base.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(base, 0o755)
        self.home = base / "home"
        self.runtime = base / "xdg-run"
        for d, mode in ((self.home, 0o700), (self.runtime, 0o700)):
            d.mkdir(mode=mode, exist_ok=True)
            os.chown(d, user.uid, user.gid)
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(self.home),
            "USER": user.name,
            "LOGNAME": user.name,
            "XDG_RUNTIME_DIR": str(self.runtime),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        for name in ("PYCTR_DEBUG", "PYCTR_STEVEDORE"):
            if name in os.environ:
                self.env[name] = os.environ[name]

    @property
    def store(self) -> Path:
        return self.home / ".local" / "share" / "pyctr"

    def run(self, argv: list[str], *, env: dict[str, str] | None = None, input: str | None = None,
            timeout: float = 120, check: bool = False, cwd: str | None = None) -> subprocess.CompletedProcess:
        """``argv`` as the user, with its session's environment (plus ``env``)."""
        full = dict(self.env, **(env or {}))
        if self.cgroup is not None:
            # Into the user's delegated cgroup first (as root: the move needs the common
            # ancestor's cgroup.procs), then the user's ids: what a login session does.
            done = subprocess.run(argv, env=full, input=input, capture_output=True, text=True, timeout=timeout,
                                  cwd=cwd or str(self.home), preexec_fn=self._enter_cgroup_and_drop)
        else:
            done = subprocess.run(argv, user=self.user.uid, group=self.user.gid, extra_groups=[], env=full,
                                  input=input, capture_output=True, text=True, timeout=timeout,
                                  cwd=cwd or str(self.home))
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr}")
        return done

    #: a delegated cgroup v2 directory the user's commands start in (see :func:`delegate_cgroup`)
    cgroup: Path | None = None

    def _enter_cgroup_and_drop(self) -> None:
        with open(self.cgroup / "cgroup.procs", "w") as f:
            f.write(str(os.getpid()))
        os.setgroups([])
        os.setresgid(self.user.gid, self.user.gid, self.user.gid)
        os.setresuid(self.user.uid, self.user.uid, self.user.uid)

    def pyctr(self, *args: str, **kwargs) -> subprocess.CompletedProcess:  # noqa: ANN003
        return self.run([self.python, "-m", "pyctr", *args], **kwargs)

    def pause_pid(self) -> int | None:
        path = self.runtime / "pyctr" / "pause.pid"
        try:
            return int(path.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def processes(self) -> dict[int, tuple[int, str]]:
        """pid -> (host uid, command line) of every process running as the user or its subordinate ids."""
        return user_processes(self.user)

    def finish(self) -> dict[int, tuple[int, str]]:
        """Stop the pause process, wait for the user's processes to end; what was still there (killed)."""
        pid = self.pause_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # What is finishing (a monitor's internal-finish after rm -f) gets a few seconds
        deadline = time.monotonic() + 5
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        leftovers = self.processes()
        for p in leftovers:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return leftovers


def user_processes(user: TestUser) -> dict[int, tuple[int, str]]:
    ids = user.host_uids()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                uid_line = next(line for line in f if line.startswith("Uid:"))
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, StopIteration):
            continue
        real = int(uid_line.split()[1])
        if real in ids:
            found[int(entry)] = (real, cmdline)
    return found


CGROUP2 = Path("/sys/fs/cgroup")
DELEGATED_FILES = ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads")


def cgroup_v2() -> bool:
    return (CGROUP2 / "cgroup.controllers").exists()


def delegate_cgroup(user: TestUser, name: str) -> tuple[Path, Path, Path]:
    """A cgroup v2 subtree delegated to ``user``, as systemd's ``Delegate=yes`` makes one:
    the directory and its cgroup.procs, cgroup.subtree_control and cgroup.threads are the
    user's, with cpu, memory and pids enabled for its children. Returns (the subtree, the
    leaf the user's commands run in, the parent for its containers): a cgroup that holds
    processes cannot hand controllers down (cgroup v2's "no internal processes")."""
    own = CGROUP2 / _own_cgroup_v2().lstrip("/")
    top = own / name
    top.mkdir()
    want = [c for c in ("cpu", "memory", "pids") if c in (own / "cgroup.controllers").read_text().split()]
    for parent in (own, top):
        with open(parent / "cgroup.subtree_control", "w") as f:
            f.write(" ".join(f"+{c}" for c in want))
    leaf, containers = top / "cmds", top / "containers"
    for d in (leaf, containers):
        d.mkdir()
    with open(containers / "cgroup.subtree_control", "w") as f:
        f.write(" ".join(f"+{c}" for c in want))
    for d in (top, leaf, containers):
        os.chown(d, user.uid, user.gid)
        for file in DELEGATED_FILES:
            os.chown(d / file, user.uid, user.gid)
    return top, leaf, containers


def _own_cgroup_v2() -> str:
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line.rstrip("\n")[3:]
    return "/"


def remove_cgroup_tree(top: Path) -> None:
    """Remove a test's delegated subtree, deepest first (its processes are gone by then)."""
    for dirpath, _dirnames, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass
