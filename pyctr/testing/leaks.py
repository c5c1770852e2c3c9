"""What a test left on the machine: mounts, veths, named netns, cgroups, container processes.

Each probe reads the kernel's own view (/proc, /sys, ``ip``), never pyctr's
state, so a bug in pyctr's bookkeeping cannot hide a leak.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field


def own_cgroup_dirs() -> list[str]:
    """The directories of the cgroups this process is in, one per mounted hierarchy."""
    dirs = []
    with open("/proc/self/cgroup") as f:
        entries = [line.rstrip("\n").split(":", 2) for line in f]
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split() for line in f]
    for m in mounts:
        sep = m.index("-")
        fstype, options = m[sep + 1], m[sep + 3] if len(m) > sep + 3 else ""
        if fstype not in ("cgroup", "cgroup2"):
            continue
        for hid, controllers, path in entries:
            if fstype == "cgroup2" and hid == "0":
                dirs.append(m[4] + path)
            elif fstype == "cgroup" and controllers and all(c in options.split(",") for c in controllers.split(",")):
                dirs.append(m[4] + path)
    return sorted(set(dirs))


def remove_cgroup(relative: str) -> list[str]:
    """Remove the cgroup ``relative`` (to the cgroups we run in) and everything below it, deepest
    first, in every hierarchy; returns the directories that are left (a process still in one)."""
    left = []
    for base in own_cgroup_dirs():
        path = os.path.join(base, relative)
        for dirpath, _d, _f in sorted(os.walk(path), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
        if os.path.exists(path):
            left.append(path)
    return left


_CONTAINER_CGROUP = re.compile(r"^pyctr-[0-9a-f]{64}$")


def _cgroups(parent: str = "") -> set[str]:
    """Container cgroups (``pyctr-<64 hex id>``) below ``parent`` (relative to the cgroups we run in).

    The tests give each session a subtree of its own (``PYCTR_CGROUP_SUBTREE``), so
    containers of other sessions on the machine are never counted, nor touched.
    """
    found = set()
    for base in own_cgroup_dirs():
        base = os.path.join(base, parent) if parent else base
        for dirpath, dirnames, _ in os.walk(base):
            for d in dirnames:
                if _CONTAINER_CGROUP.match(d):
                    found.add(os.path.join(dirpath, d))
    return found


def _network_option(name: str, default: str) -> str:
    """An option of the bridge driver as this session sets it in PYCTR_NETWORK_OPT."""
    for item in os.environ.get("PYCTR_NETWORK_OPT", "").split(";"):
        key, _, value = item.partition("=")
        if key.strip() == name:
            return value.strip()
    return default


def _session_bridge() -> str:
    """The default bridge this session's containers use."""
    return _network_option("bridge", "pyctr0")


def _links() -> set[str]:
    """User-network bridges (``<user_prefix>*``, the session's own prefix) and the veths
    plugged into them or into the session's default bridge; other sessions' are not ours."""
    ours = {_session_bridge(), "pyctr0"}  # (the machine's default bridge: see defaults_in_use)
    prefix = _network_option("user_prefix", "pyctr-")
    names = set()
    for name in os.listdir("/sys/class/net"):
        if name.startswith(prefix):
            ours.add(name)
            names.add(name)
    for name in os.listdir("/sys/class/net"):
        try:
            master = os.path.basename(os.readlink(f"/sys/class/net/{name}/master"))
        except OSError:
            continue
        if master in ours:
            names.add(name)
    return names


def defaults_in_use() -> set[str]:
    """The machine-wide defaults a test session must never make: the default bridge ``pyctr0``
    and the default nft table ``ip pyctr`` (the sessions' own bridge, table and pool are set in
    PYCTR_NETWORK_OPT; one that falls back to the defaults would touch what the user's
    containers use)."""
    found = set()
    if os.path.exists("/sys/class/net/pyctr0"):
        found.add("link pyctr0")
    try:
        listed = subprocess.run(["nft", "list", "tables", "ip"], capture_output=True, text=True).stdout
    except FileNotFoundError:  # no nftables: no table either
        listed = ""
    if any(line.strip() == "table ip pyctr" for line in listed.splitlines()):
        found.add("nft table ip pyctr")
    return found


def _netns() -> set[str]:
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()


def _mounts(under: str) -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f if line.split()[4].startswith(under)}


def _container_processes(under: str) -> set[int]:
    """Processes in another PID namespace whose root filesystem lives under ``under``:
    containers of this test session (others' containers on the machine are not ours)."""
    own = os.readlink("/proc/self/ns/pid")
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") == own:
                continue
            with open(f"/proc/{entry}/mountinfo") as f:
                if under in f.read():
                    out.add(int(entry))
        except OSError:
            continue
    return out


@dataclass
class Snapshot:
    mounts: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    netns: set[str] = field(default_factory=set)
    cgroups: set[str] = field(default_factory=set)
    processes: set[int] = field(default_factory=set)
    defaults: set[str] = field(default_factory=set)

    @classmethod
    def take(cls, under: str) -> Snapshot:
        return cls(_mounts(under), _links(), _netns(), _cgroups(os.environ.get("PYCTR_CGROUP_SUBTREE", "")),
                   _container_processes(under), defaults_in_use())

    def leaked_since(self, before: Snapshot) -> dict[str, list]:
        out = {}
        for name in ("mounts", "links", "netns", "cgroups", "processes", "defaults"):
            new = getattr(self, name) - getattr(before, name)
            if new:
                out[name] = sorted(new)
        return out


def clean(leaks: dict[str, list]) -> None:
    """Remove what a failing test left, so the next test starts clean."""
    import signal

    for pid in leaks.get("processes", []):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for mnt in sorted(leaks.get("mounts", []), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True)
    # Links, named netns and the defaults are only reported: on a shared machine another
    # session may own them, and deleting by name could hit its work.
    for cg in sorted(leaks.get("cgroups", []), key=len, reverse=True):
        try:
            os.rmdir(cg)
        except OSError:
            pass
