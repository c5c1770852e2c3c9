"""Several processes opening a store that does not exist yet: all of them get it.

The first opener switches the new file to WAL, and SQLite answers that switch
with "database is locked" at once (not through the busy timeout) when another
opener is on the file at the same moment: CI saw it as 10 threads connecting
containers on a new store. Processes meet there far more often than threads
(about one round in five fails without the wait), so 50 rounds of 6 always do.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from pyctr.core import state


def _open_together(root: Path, n: int) -> list[int]:
    r, w = os.pipe()
    kids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                os.close(w)
                os.read(r, 1)  # all start when the pipe closes
                state.connect(root).close()
                code = 0
            finally:
                os._exit(code)
        kids.append(pid)
    os.close(r)
    time.sleep(0.01)
    os.close(w)
    return [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in kids]


def test_processes_opening_a_new_store_together_all_open_it(tmp_path: Path) -> None:
    for i in range(50):
        root = tmp_path / str(i)
        codes = _open_together(root, 6)
        assert codes == [0] * 6, f"round {i}: an opener failed"
        conn = state.connect_reader(root)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA user_version").fetchone()[0] == len(state.CORE_MIGRATIONS)
        finally:
            conn.close()
