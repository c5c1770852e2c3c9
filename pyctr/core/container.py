"""The Container record: what the state database knows about one container.

Lifecycle operations (create, start, stop, remove) live in
:mod:`pyctr.core.lifecycle`; this module is the model and its persistence.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pyctr.core.errors import Conflict, NotFound
from pyctr.core.records import Record, factory
from pyctr.core.spec import ContainerSpec
from pyctr.core.state import sqlite3

TYPE_CHECKING = False  # (typing's import is ~3 ms of every command; annotations are strings here)
if TYPE_CHECKING:
    from typing import Any

STATUSES = ("created", "running", "paused", "restarting", "exited", "dead", "removing")


class Container(Record):
    id: str
    name: str
    image_id: str
    spec: ContainerSpec
    drivers: dict[str, str]  #: kind -> driver name chosen at create
    status: str = "created"
    pid: int = 0
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    created: float = factory(time.time)
    started: float = 0.0
    finished: float = 0.0
    #: what the runtime made and must undo: cgroup handle, network attachment, monitor pid
    runtime: dict[str, Any] = factory(dict)
    #: the storage root this record belongs to
    root: Path = Path("/var/lib/pyctr")

    @property
    def dir(self) -> Path:
        """``containers/<id>``: hostname, hosts, resolv.conf, logs."""
        return self.root / "containers" / self.id

    @property
    def short_id(self) -> str:
        return self.id[:12]

    # -- persistence -------------------------------------------------------

    @classmethod
    def from_row(cls, row: sqlite3.Row, root: Path) -> Container:
        return cls(
            id=row["id"],
            name=row["name"],
            image_id=row["image_id"],
            spec=ContainerSpec.from_json(row["spec"]),
            drivers=json.loads(row["drivers"]),
            status=row["status"],
            pid=row["pid"],
            exit_code=row["exit_code"],
            oom_killed=bool(row["oom_killed"]),
            error=row["error"],
            created=row["created"],
            started=row["started"],
            finished=row["finished"],
            runtime=json.loads(row["runtime"]),
            root=root,
        )

    def insert(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute(
                "INSERT INTO containers(id, name, image_id, spec, drivers, status, created, runtime)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (self.id, self.name, self.image_id, self.spec.to_json(),
                 json.dumps(self.drivers), self.status, self.created, json.dumps(self.runtime)),
            )
        except sqlite3.IntegrityError:
            raise Conflict(
                f'the container name "/{self.name}" is already in use; remove or rename that container'
            ) from None

    def save(self, conn: sqlite3.Connection) -> None:
        """Write the mutable fields back (one statement: atomic on its own)."""
        conn.execute(
            "UPDATE containers SET name=?, status=?, pid=?, exit_code=?, oom_killed=?, error=?,"
            " started=?, finished=?, runtime=? WHERE id=?",
            (self.name, self.status, self.pid, self.exit_code, int(self.oom_killed), self.error,
             self.started, self.finished, json.dumps(self.runtime), self.id),
        )


def lookup(conn: sqlite3.Connection, root: Path, ref: str) -> Container:
    """Find a container by full id, name, or unique id prefix, as Docker does."""
    row = conn.execute("SELECT * FROM containers WHERE id = ? OR name = ?", (ref, ref.lstrip("/"))).fetchone()
    if row is None and ref and all(c in "0123456789abcdef" for c in ref):
        rows = conn.execute("SELECT * FROM containers WHERE id LIKE ?", (ref + "%",)).fetchall()
        if len(rows) > 1:
            raise Conflict(f"multiple containers match the id prefix {ref!r}; give more characters")
        row = rows[0] if rows else None
    if row is None:
        raise NotFound(f"no such container: {ref}")
    return Container.from_row(row, root)


def list_all(conn: sqlite3.Connection, root: Path) -> list[Container]:
    return [Container.from_row(r, root) for r in conn.execute("SELECT * FROM containers ORDER BY created DESC")]
