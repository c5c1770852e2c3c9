"""What both backends share: reading the host's cgroup layout, safe paths,
file I/O with one-line errors, killing what is left, and rmdir with retries.

Nothing here decides limits; the backends do (v1.py, v2.py).
"""

from __future__ import annotations

import _signal as signal  # the C module: signal.py's enums cost ~1 ms of import per start
import errno
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pyctr.core.errors import DriverError, UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP2_SUPER_MAGIC = 0x63677270
TMPFS_MAGIC = 0x01021994
PREFIX = "pyctr-"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_container_id(container_id: str) -> None:
    """The id becomes a directory name: refuse anything that could be a path."""
    if not isinstance(container_id, str) or not _ID_RE.match(container_id):
        raise UsageError(f"invalid container id for a cgroup name: {container_id!r}")


def own_cgroups(pid: str = "self") -> dict[str, str]:
    """``/proc/<pid>/cgroup`` as {controllers: path}; "" is the cgroup2 (``0::``) line."""
    out: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        hid, ctrls, path = line.split(":", 2)
        out["" if hid == "0" and not ctrls else ctrls] = path
    return out


def cgroup_mounts() -> list[tuple[str, str, Path, set[str]]]:
    """Every cgroup mount as (fstype, root inside the hierarchy, mountpoint, controllers)."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if not rfields or rfields[0] not in ("cgroup", "cgroup2"):
            continue
        root = fields[3].replace("\\040", " ")
        point = Path(fields[4].replace("\\040", " "))
        opts = set(rfields[2].split(",")) if len(rfields) > 2 else set()
        mounts.append((rfields[0], root, point, opts))
    return mounts


def fs_magic(path: Path = CGROUP_ROOT) -> int | None:
    """statfs f_type of ``path`` (None if it cannot be read), via ctypes: os has no statfs."""
    import ctypes

    # struct statfs begins with f_type, a long; 256 bytes hold the whole struct
    # (120 on x86-64). A plain buffer: making a Structure class costs ~0.2 ms.
    buf = ctypes.create_string_buffer(256)
    if ctypes.CDLL(None, use_errno=True).statfs(os.fsencode(str(path)), buf) != 0:
        return None
    return int.from_bytes(buf.raw[:ctypes.sizeof(ctypes.c_long)], sys.byteorder) & 0xFFFFFFFF


def online_cpus() -> str | None:
    """The kernel's list of online CPUs (``0-1``), for checking --cpuset-cpus."""
    try:
        return Path("/sys/devices/system/cpu/online").read_text().strip() or None
    except OSError:
        return None


def clean_relative(path: str, *, what: str = "--cgroup-parent") -> str:
    """Normalise a cgroup path to 'a/b' (no leading slash); refuse '..' escapes."""
    if "\0" in path or "\n" in path:
        raise UsageError(f"invalid {what} {path!r}")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UsageError(f"invalid {what} '{path}': '..' is not allowed")
    return "/".join(parts)


def under(base: Path, rel: str) -> Path:
    """``base/rel`` that provably stays inside ``base``."""
    target = Path(os.path.normpath(base / rel)) if rel else base
    if target != base and base not in target.parents:
        raise UsageError(f"cgroup path '{rel}' escapes {base}")
    return target


def read(path: Path, default: str | None = None) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        if default is not None:
            return default
        raise DriverError(f"cannot read {path}: no such file") from None
    except OSError as e:
        if default is not None:
            return default
        raise DriverError(f"cannot read {path}: {e.strerror}") from None


def read_int(path: Path, default: int = 0) -> int:
    text = read(path, "").strip()
    if not text or text == "max":
        return default
    try:
        return int(text)
    except ValueError:
        return default


def read_keyed(path: Path) -> dict[str, int]:
    """A flat-keyed file (``memory.events``, ``cpu.stat``, ``oom_control``) as a dict."""
    out: dict[str, int] = {}
    for line in read(path, "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def write(path: Path, value: str | int, *, what: str = "") -> None:
    """Write one value to a cgroup file; errors become one DriverError line."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        raise DriverError(f"cannot set {what or path.name} ({path}): {e.strerror}") from None
    try:
        os.write(fd, str(value).encode())
    except OSError as e:
        raise DriverError(f"cannot set {what or path.name} to {value} ({path}): {e.strerror}") from None
    finally:
        os.close(fd)


def prime_migration_lock(own_procs: Path) -> None:
    """Start the kernel's wait for the next cgroup migration now, in a thread.

    Every write to ``cgroup.procs`` takes cgroup_threadgroup_rwsem for writing;
    the first one after a quiet spell waits for an RCU grace period first
    (10-20 ms on the development VM; runc and podman pay it too), and writers
    that come within about one grace period after it do not wait again (each
    such write keeps the lock ready for one more). Writing our own pid to the
    cgroup we already are in moves nothing but starts that wait while the start
    path makes the layer, mounts the rootfs and creates the cgroups; the
    container's own placement then finds the lock ready. The writer holds the
    cgroup mutex through the wait, so a mkdir of a cgroup meanwhile waits too.
    Best effort, never joined: the thread ends when the write returns.
    """
    import _thread

    def body() -> None:
        try:
            fd = os.open(own_procs, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, b"%d" % os.getpid())
            finally:
                os.close(fd)
        except OSError:
            pass

    _thread.start_new_thread(body, ())


def procs(path: Path) -> set[int]:
    """Pids in ``cgroup.procs`` of one cgroup and all cgroups below it."""
    out: set[int] = set()
    if not path.is_dir():
        return out
    for dirpath, _dirs, _files in os.walk(path):
        for line in read(Path(dirpath) / "cgroup.procs", "").split():
            if line.isdigit():
                out.add(int(line))
    return out


def kill_loop(list_pids: Callable[[], set[int]], rounds: int = 100) -> bool:
    """SIGKILL every listed pid until the list is empty; True when it is.

    Repeated because a process may fork between the read and the kill; a
    frozen cgroup (v1) must be frozen by the caller first so it cannot.
    """
    for i in range(rounds):
        pids = list_pids()
        if not pids:
            return True
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(min(0.002 * (i + 1), 0.05))
    return not list_pids()


def _rmdir_if_empty(path: Path) -> bool:
    """True when ``path`` is gone now (or was already); False while the kernel refuses it."""
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno in (errno.EBUSY, errno.EAGAIN, errno.ENOTEMPTY):
            return False
        raise DriverError(f"cannot remove cgroup {path}: {e.strerror}") from None
    return True


def rmdir_tree(path: Path, *, timeout: float = 5.0) -> None:
    """Remove a cgroup directory and any below it, deepest first, retrying EBUSY.

    A cgroup stays busy for a short while after its last process died (the
    kernel releases it asynchronously), so EBUSY is retried with a bounded
    exponential backoff. A missing directory is success: destroy is idempotent.
    """
    if not path.exists():
        return
    dirs = [Path(d) for d, _s, _f in os.walk(path)]
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno not in (errno.EBUSY, errno.EAGAIN) or time.monotonic() > deadline:
                    raise DriverError(f"cannot remove cgroup {d}: {e.strerror}") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)


def prune_empty(own: Path, rel: str) -> None:
    """rmdir ``own/rel`` and its parents up to (not including) ``own`` while empty.

    For the driver's ``parent`` option: placement cgroups pyctr made for
    itself go once no container is left in them; busy ones stay.
    """
    parts = [p for p in rel.split("/") if p]
    while parts:
        try:
            os.rmdir(under(own, "/".join(parts)))
        except OSError:
            return
        parts.pop()


def destroy(backend: Any, handle: dict[str, Any], dirs: list[Path], stop: Callable[[], None],
            list_pids: Callable[[], set[int]]) -> dict[str, Any]:
    """What both backends' destroy do around their own way to ``stop`` the processes
    (v1: freeze and kill; v2: cgroup.kill or freeze): read the OOM counters first
    (rmdir loses them), SIGKILL until ``dirs`` are empty, remove them, drop the record."""
    counters = backend.oom_events(handle)
    # The common case first: after the container's init exited (every `run
    # --rm`) each cgroup is an empty leaf and one rmdir removes it; listing the
    # processes of every hierarchy would read ~30 entries per directory (1.5 ms
    # on v1). The kernel refuses (EBUSY) a cgroup that still has processes or
    # children, or one whose last process is still being released: those go
    # the long way. (An empty cgroup stays empty: only a member's fork or a
    # migration from outside adds to it.)
    busy = [p for p in dirs if not _rmdir_if_empty(p)]
    if busy and list_pids():
        stop()
        if not kill_loop(list_pids):
            raise DriverError(f"processes in cgroup {busy[0]} survived SIGKILL")
    for p in busy:
        rmdir_tree(p)
    if backend.records is not None:
        backend.records.drop(handle.get("id", ""))
    return counters


def cleanup_orphans(backend: Any, version: int, live: set[str]) -> list[str]:
    """Destroy the cgroups of containers not in ``live``; the ids that went.

    Both what the intent records name (for this backend's ``version``) and
    what sits under the default parents with our prefix (a crash before the
    record was written) count. ``backend`` has ``records``, ``parent_dirs()``
    and ``destroy()``.
    """
    found: dict[str, dict[str, Any]] = {}
    if backend.records is not None:
        for cid, h in backend.records.all().items():
            if cid not in live and h.get("version") == version:
                found[cid] = h
    for ctrl, base in backend.parent_dirs().items():
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for name in names:
            cid = name[len(PREFIX):]
            if not name.startswith(PREFIX) or cid in live or not (base / name).is_dir():
                continue
            h = found.setdefault(cid, {"driver": "cgroupfs", "version": version, "id": cid, "paths": {}})
            h["paths"].setdefault(ctrl, str(base / name))
    for h in found.values():
        backend.destroy(h)
    return sorted(found)


def wait_for(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


class Records:
    """Intent records under ``<runroot>/cgroupfs``: a handle is written before
    the first mkdir, so a pyctr killed mid-create leaves something that
    :meth:`cleanup_orphans` can find, wherever ``--cgroup-parent`` put it."""

    def __init__(self, runroot: Path) -> None:
        self.dir = Path(runroot) / "cgroupfs"

    def path(self, container_id: str) -> Path:
        return self.dir / f"{container_id}.json"

    def save(self, container_id: str, handle: dict[str, Any]) -> None:
        # Written whole and renamed into place, so a pyctr killed at any point
        # leaves the old record or the new one. No fsync: a killed process
        # loses nothing it wrote, and after a power loss the cgroups this
        # record describes are gone too (an fsync here cost 1-7 ms per start).
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{container_id}.tmp"
        with open(tmp, "w") as f:
            json.dump(handle, f)
        os.replace(tmp, self.path(container_id))

    def get(self, container_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.path(container_id).read_text())
        except (OSError, ValueError):
            return None

    def drop(self, container_id: str) -> None:
        try:
            self.path(container_id).unlink()
        except FileNotFoundError:
            pass

    def all(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if not self.dir.is_dir():
            return out
        for p in self.dir.glob("*.json"):
            try:
                out[p.stem] = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
        return out
