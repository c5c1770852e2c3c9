"""No cgroups of pyctr's own: what a rootless user gets where the kernel gives it none to manage.

cgroup v1 hierarchies cannot be delegated to an unprivileged user, and on
cgroup v2 only a subtree someone delegated (systemd's ``Delegate=yes``, a
user session's ``user@UID.service``) is the user's to write. Without one,
containers run in the cgroup the user's pyctr runs in, as rootless podman's
do on such hosts: a run without limits works; a limit, ``pause`` or
``update`` is refused in one line that says why. Processes are still found
(``top``) and killed (``rm -f``) through the container's PID namespace.
"""

from __future__ import annotations

import os
import signal

from pyctr.core.errors import UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


class UnmanagedBackend:
    def __init__(self, version: int, reason: str) -> None:
        self.version = version
        #: why there are no cgroups, as the end of a sentence ("... because <reason>")
        self.reason = reason

    def refuse(self, what: str) -> UsageError:
        return UsageError(f"{what} needs cgroups of pyctr's own, which a rootless user does not have here: "
                          f"{self.reason}")

    def validate(self, resources: dict[str, Any]) -> dict[str, Any]:
        given = sorted(k for k, v in resources.items() if v not in (None, 0, "", -1 if k == "memory_swap" else None))
        if given:
            flag = "--" + given[0].replace("nano_cpus", "cpus").replace("_", "-")
            raise self.refuse(f"a resource limit ({flag})")
        return {}

    def own_procs_file(self) -> Any:
        raise OSError("no cgroups")

    def create(self, container_id: str, parent: str | None, resources: dict[str, Any]) -> dict[str, Any]:
        if parent:
            raise self.refuse("--cgroup-parent")
        self.validate(resources)
        return {"driver": "cgroupfs", "version": self.version, "id": container_id, "paths": {}, "pids": []}

    def add_process(self, handle: dict[str, Any], pid: int) -> None:
        handle.setdefault("pids", []).append(pid)

    def update(self, handle: dict[str, Any], resources: dict[str, Any]) -> None:
        raise self.refuse("update")

    def pids(self, handle: dict[str, Any]) -> list[int]:
        """Every process in the PID namespace of the container's init (the last live pid placed first)."""
        own = _pid_namespace("self")
        for pid in reversed(handle.get("pids", [])):
            ns = _pid_namespace(str(pid))
            if ns is not None and ns != own:
                return sorted(p for p in _all_pids() if _pid_namespace(str(p)) == ns)
        return []

    def stats(self, handle: dict[str, Any]) -> dict[str, int]:
        return {"pids_current": len(self.pids(handle))}

    def oom_events(self, handle: dict[str, Any]) -> dict[str, int]:
        return {}

    def freeze(self, handle: dict[str, Any], timeout: float = 10.0) -> None:
        raise self.refuse("pause")

    def thaw(self, handle: dict[str, Any], timeout: float = 10.0) -> None:
        raise self.refuse("unpause")

    def destroy(self, handle: dict[str, Any]) -> dict[str, Any]:
        for pid in self.pids(handle):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return {}

    def cleanup_orphans(self, live: set[str]) -> list[str]:
        return []

    def status(self) -> list[tuple[str, str]]:
        return [("Cgroup Version", str(self.version)), ("Cgroups", f"none (rootless: {self.reason})")]


def _pid_namespace(pid: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]
