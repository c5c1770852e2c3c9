"""What every pyctr-runtime subcommand shares: the error type, the global flags, the spec version."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

VERSION_SPEC = "1.1.0"


class OciError(Exception):
    """A failure reported to the caller: one line, exit status 1 (or ``code``)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Globals:
    """The global flags, as every subcommand sees them."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.root = values.get("root") or default_root()
        self.log = values.get("log") or ""
        self.log_format = values.get("log-format") or "text"
        self.debug = bool(values.get("debug"))
        self.systemd_cgroup = bool(values.get("systemd-cgroup"))


def default_root() -> str:
    """runc's rule: /run/<name> for root, else under $XDG_RUNTIME_DIR."""
    if os.geteuid() == 0:
        return "/run/pyctr-runtime"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    return os.path.join(xdg, "pyctr-runtime") if xdg else f"/tmp/pyctr-runtime-{os.geteuid()}"
