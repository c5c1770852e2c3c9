"""conmon's exit command: a container of the ``conmon`` runtime driver has exited.

conmon writes the init's exit code into its directory (``exit``), then runs
``pyctr internal-finish ID`` (without a code), which comes here: the exit is
recorded and what the container held released, then ``--rm`` and the restart
policy apply (:func:`pyctr.runtime.handover.finish`, as after pyctr's own
monitor). conmon waits for this command, so until it is done the container's
watcher is still there (``wait`` and ``run --rm`` rely on that).
"""

from __future__ import annotations

import os

from pyctr.runtime.conmon_files import userdata

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.core.engine import Engine


def exit_code(container_dir: Any) -> int | None:
    """The code conmon wrote when the init exited (None: it never ran under this conmon)."""
    try:
        with open(os.path.join(userdata(container_dir), "exit")) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.lstrip("-").isdigit() else 255


def finish(engine: Engine, container_id: str) -> None:
    """conmon's exit command: the container's init exited; record it as its monitor would."""
    from pyctr.core.container import lookup
    from pyctr.core.errors import NotFound
    from pyctr.core.trees import remove_tree
    from pyctr.runtime.handover import finish as hand_over

    try:
        c = lookup(engine.db, engine.config.root, container_id)
    except NotFound:
        return  # removed meanwhile (rm -f removed conmon's directory with it)
    code = exit_code(c.dir)
    if code is None:
        return  # conmon's create failed: the start that ran it reports and cleans up
    if c.pid and c.pid != _pid_file(c.dir):
        return  # (an exit command of an earlier start that comes late)
    # pyctr-runtime's state of the stopped container (its cgroups are pyctr's: left to the cleanup)
    remove_tree(os.path.join(userdata(c.dir), "oci"))
    hand_over(engine, container_id, code)


def _pid_file(container_dir: Any) -> int:
    try:
        with open(os.path.join(userdata(container_dir), "pidfile")) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


