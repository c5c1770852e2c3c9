"""Each container's state under ``--root``: ``<root>/<id>/state.json`` and ``exec.fifo``.

``state.json`` is written whole and renamed into place; it names its writer
(``"runtime": "pyctr-runtime"``) so that a directory another runtime owns is
refused instead of misread. A per-container ``flock`` on the directory keeps
two commands from changing one container at once. The status is never
stored: it is decided live from the init's pid and start time (a zombie is
stopped), the exec fifo (created) and the freezer (paused), as runc does.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time

from pyctr.oci.common import OciError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

RUNTIME = "pyctr-runtime"
def check_id(cid: str) -> None:
    """runc's rule (``^[\\w+-\\.]+$``), without importing re on every command."""
    if not cid or cid in (".", "..") or not all(ch.isalnum() or ch in "_+-." for ch in cid) or not cid.isascii():
        raise OciError(f"invalid container id format: {cid!r}")


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (clock ticks since boot); None for a process gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def now_rfc3339() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


class Container:
    """One container's directory and what state.json says about it."""

    def __init__(self, root: str, cid: str) -> None:
        check_id(cid)
        self.root = root
        self.id = cid
        self.dir = os.path.join(root, cid)
        self.data: dict[str, Any] = {}
        self._lock_fd = -1

    @property
    def fifo(self) -> str:
        return os.path.join(self.dir, "exec.fifo")

    # ---------------------------------------------------------------- files

    @classmethod
    def make(cls, root: str, cid: str) -> Container:
        """A new container directory; "already exists" if the id is taken."""
        c = cls(root, cid)
        os.makedirs(root, mode=0o700, exist_ok=True)
        try:
            os.mkdir(c.dir, 0o711)
        except FileExistsError:
            raise OciError("container with given ID already exists") from None
        c.lock()
        return c

    @classmethod
    def load(cls, root: str, cid: str, *, lock: bool = True) -> Container:
        c = cls(root, cid)
        if lock:
            try:
                c.lock()
            except FileNotFoundError:
                raise OciError(f"container {cid} does not exist") from None
        try:
            with open(os.path.join(c.dir, "state.json")) as f:
                c.data = json.load(f)
        except FileNotFoundError:
            c.unlock()
            if os.path.isdir(c.dir) and os.listdir(c.dir):
                if not os.path.exists(os.path.join(c.dir, ".pyctr-runtime")):
                    raise OciError(f"container {cid}: its state directory {c.dir} belongs to another runtime") from None
            raise OciError(f"container {cid} does not exist") from None
        except ValueError:
            c.unlock()
            raise OciError(f"container {cid}: state.json is not valid JSON") from None
        if c.data.get("runtime") != RUNTIME:
            c.unlock()
            raise OciError(f"container {cid}: its state directory {c.dir} belongs to another runtime")
        return c

    def lock(self) -> None:
        # A POSIX record lock, not flock: the init forked by ``create`` must not inherit it
        # (it would hold it until ``start``)
        fd = os.open(os.path.join(self.dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.lockf(fd, fcntl.LOCK_EX)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def save(self) -> None:
        self.data["runtime"] = RUNTIME
        tmp = os.path.join(self.dir, ".state.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.data, f)
        os.replace(tmp, os.path.join(self.dir, "state.json"))

    def mark(self) -> None:
        """A marker that the directory is ours, before state.json exists (half-made create)."""
        os.close(os.open(os.path.join(self.dir, ".pyctr-runtime"), os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))

    def remove(self) -> None:
        for name in os.listdir(self.dir):
            try:
                os.unlink(os.path.join(self.dir, name))
            except IsADirectoryError:
                import shutil

                shutil.rmtree(os.path.join(self.dir, name), ignore_errors=True)
        try:
            os.rmdir(self.dir)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
        self.unlock()

    # --------------------------------------------------------------- status

    @property
    def pid(self) -> int:
        return int(self.data.get("pid") or 0)

    def alive(self) -> bool:
        pid = self.pid
        return pid > 0 and start_time(pid) == self.data.get("start_time")

    def status(self) -> str:
        if not self.alive():
            return "stopped"
        if os.path.exists(self.fifo):
            return "created"
        if self.frozen():
            return "paused"
        return "running"

    def frozen(self) -> bool:
        paths = (self.data.get("cgroup") or {}).get("paths") or {}
        freezer = paths.get("freezer")
        try:
            if freezer:
                with open(os.path.join(freezer, "freezer.state")) as f:
                    return f.read().strip() != "THAWED"
            unified = paths.get("unified")
            if unified:
                with open(os.path.join(unified, "cgroup.freeze")) as f:
                    return f.read().strip() == "1"
        except OSError:
            pass
        return False

    def oci_state(self, status: str | None = None) -> dict[str, Any]:
        """runc's ``state`` JSON (the runtime-spec's state plus rootfs, created, owner)."""
        status = status or self.status()
        return {
            "ociVersion": self.data.get("ociVersion", "1.1.0"),
            "id": self.id,
            "pid": self.pid if status != "stopped" else 0,
            "status": status,
            "bundle": self.data.get("bundle", ""),
            "rootfs": self.data.get("rootfs", ""),
            "created": self.data.get("created", ""),
            "owner": "",
            "annotations": self.data.get("annotations") or {},
        }

    def hook_state(self, status: str) -> bytes:
        """The runtime-spec's state, as hooks get it on stdin."""
        return json.dumps({
            "ociVersion": self.data.get("ociVersion", "1.1.0"), "id": self.id, "status": status,
            "pid": self.pid, "bundle": self.data.get("bundle", ""),
            "annotations": self.data.get("annotations") or {},
        }).encode()


def all_ids(root: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(root) if os.path.exists(os.path.join(root, n, "state.json")))
    except FileNotFoundError:
        return []
