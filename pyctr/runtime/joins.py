"""Which of a running container's namespaces a new process in it joins (``exec``, health probes)."""

from __future__ import annotations

import os

#: the order runc's nsexec joins namespaces: user first (it owns the others), mount last
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "mount")


def namespaces_of(pid: int) -> dict[str, str]:
    """The /proc/<pid>/ns files of every namespace the container does not share with us."""
    from pyctr.kernel.linux import NAMESPACE_FILES

    joins = {}
    for kind in JOIN_ORDER:
        name = NAMESPACE_FILES[kind]
        theirs = f"/proc/{pid}/ns/{name}"
        try:
            if os.readlink(theirs) != os.readlink(f"/proc/self/ns/{name}"):
                joins[kind] = theirs
        except OSError:
            continue
    return joins
