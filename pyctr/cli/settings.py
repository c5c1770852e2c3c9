"""What the global options resolve to, shared by click and the fast path (no click here).

Both ways into a command (pyctr.cli.group's click group and
pyctr.cli.fastpath) install a Settings as ``current``; commands reach
the Engine through :func:`engine`.
"""

from __future__ import annotations

import os
import sys
from typing import Any


class Settings:
    """The global flags (None = not given) and the Engine built from them on demand."""

    def __init__(self, flags: dict[str, Any]) -> None:
        self.flags = flags
        self._engine = None

    @property
    def engine(self):  # noqa: ANN201  (lazy import keeps --help fast)
        if self._engine is None:
            from pyctr.core import config
            from pyctr.core.engine import Engine
            from pyctr.core.plugins import plugins

            cfg = config.load(self.flags)
            if os.geteuid() != 0:
                # an ordinary user: into the namespace kept for the user's store (pyctr.runtime.userns)
                from pyctr.runtime import userns

                userns.enter(str(cfg.root), str(cfg.runroot))
            self._engine = Engine(cfg)
            plugins.configure(cfg.as_dict())
        return self._engine


#: the Settings of the command being run
current: Settings | None = None


def install(settings: Settings) -> Settings:
    global current
    current = settings
    return settings


def engine():  # noqa: ANN201
    """The Engine of the current command (built on first use)."""
    if current is None:
        raise RuntimeError("no pyctr command is running")
    return current.engine


def echo(message: str = "", err: bool = False) -> None:
    """One line to stdout or stderr, flushed: what click.echo does for our plain text."""
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{message}\n")
    stream.flush()
