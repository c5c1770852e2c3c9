"""What the global options resolve to, shared by click and the fast path (no click here).

Both ways into a command (pyctr.cli.group's click group and
pyctr.cli.fastpath) install a Settings as ``current``; commands reach
the Engine through :func:`engine`.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Settings:
    """The global flags (None = not given) and the Engine built from them on demand."""

    def __init__(self, flags: dict[str, Any]) -> None:
        self.flags = flags
        self._engine = None

    @property
    def engine(self):  # noqa: ANN201  (lazy import keeps --help fast)
        if self._engine is None or self._engine.read_only:
            from pyctr.core.plugins import plugins

            self._engine = self._make(read_only=False)
            plugins.configure(self._engine.config.as_dict())
        return self._engine

    def reader(self):  # noqa: ANN201
        """The Engine of a command that only reads (ps, images, inspect, version): its state
        database opened read-only, and no plugin loaded unless it selects a driver (which
        tells them the settings then, pyctr.core.engine)."""
        if self._engine is None:
            self._engine = self._make(read_only=True)
        return self._engine

    def _make(self, read_only: bool):  # noqa: ANN202
        from pyctr.core import config
        from pyctr.core.engine import Engine

        cfg = config.load(self.flags)
        if os.geteuid() != 0:
            # an ordinary user: into the namespace kept for the user's store (pyctr.runtime.userns)
            from pyctr.runtime import userns

            userns.enter(str(cfg.root), str(cfg.runroot))
        return Engine(cfg, read_only=read_only)


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


def reader():  # noqa: ANN201
    """The read-only Engine of the current command (:meth:`Settings.reader`)."""
    if current is None:
        raise RuntimeError("no pyctr command is running")
    return current.reader()


def echo(message: str = "", err: bool = False) -> None:
    """One line to stdout or stderr, flushed: what click.echo does for our plain text."""
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{message}\n")
    stream.flush()
