"""Where the ``conmon`` runtime driver's things are: conmon itself, and its directory per container."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any


def conmon_binary() -> str | None:
    """conmon's path: $PATH, then where Debian and podman put it."""
    for directory in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/usr/libexec/podman"]:
        path = os.path.join(directory or ".", "conmon")
        if os.access(path, os.X_OK) and os.path.isfile(path):
            return path
    return None


def watched(container: Any) -> bool:
    """Whether the container's current (or last) start ran under conmon."""
    return bool(container.runtime.get("conmon"))


def userdata(container_dir: Any) -> str:
    """conmon's directory of the container (its bundle)."""
    return os.path.join(str(container_dir), "conmon")
