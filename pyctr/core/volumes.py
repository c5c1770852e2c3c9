"""The volume store: which volumes exist, their driver, options and labels.

The drivers keep the data; this table keeps what ``volume ls/inspect`` show
and which driver answers for a name, so two drivers can never hold the same
name. Creation records intent (``complete = 0``) before the driver runs and
is serialised per name with a lock file under the run root, so a killed
pyctr leaves a row the next create or ``volume prune`` finishes off.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass, field

from pyctr.core.errors import SKIPPABLE, Conflict, NotFound, UsageError
from pyctr.core.state import apply_pending_migrations, flocked, register_migration, transaction

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.core.drivers import VolumeDriver
    from pyctr.core.engine import Engine

register_migration("core-volumes-1", """
    CREATE TABLE volumes (
        name TEXT PRIMARY KEY,
        driver TEXT NOT NULL,
        options TEXT NOT NULL DEFAULT '{}',   -- JSON: the driver options given at create
        labels TEXT NOT NULL DEFAULT '{}',    -- JSON
        created REAL NOT NULL,
        complete INTEGER NOT NULL DEFAULT 0   -- 0: intent recorded, the driver has not finished
    );
""")

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
DEFAULT_DRIVER = "local"


def validate_name(name: str) -> None:
    """Docker's rule for local volume names (pyctr applies it to every driver)."""
    if len(name) == 1:
        raise UsageError(f'volume name is too short, names should be at least two alphanumeric characters: "{name}"')
    if not _NAME.match(name):
        raise UsageError(f'"{name}" includes invalid characters for a local volume name, only '
                         '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
                         'use absolute path')


@dataclass
class Volume:
    name: str
    driver: str
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    created: float = 0.0
    complete: bool = True

    @property
    def anonymous(self) -> bool:
        from pyctr.core.spec import ANONYMOUS_LABEL

        return ANONYMOUS_LABEL in self.labels


def _db(engine: Engine):  # noqa: ANN202
    conn = engine.db
    apply_pending_migrations(conn)  # this module may be imported after the connection was opened
    return conn


def _row(row) -> Volume:  # noqa: ANN001
    return Volume(name=row["name"], driver=row["driver"], options=json.loads(row["options"]),
                  labels=json.loads(row["labels"]), created=row["created"], complete=bool(row["complete"]))


def get(engine: Engine, name: str) -> Volume | None:
    row = _db(engine).execute("SELECT * FROM volumes WHERE name = ? AND complete = 1", (name,)).fetchone()
    return _row(row) if row else None


def lookup(engine: Engine, name: str) -> Volume:
    vol = get(engine, name)
    if vol is None:
        raise NotFound(f"no such volume: {name}")
    return vol


def list_all(engine: Engine) -> list[Volume]:
    return [_row(r) for r in _db(engine).execute("SELECT * FROM volumes WHERE complete = 1 ORDER BY name")]


def driver(engine: Engine, name: str, *, cleaning: bool = False) -> VolumeDriver:
    """The named volume driver; ``cleaning`` gets it even where its probe fails, to remove things."""
    try:
        return engine.driver("volume", name)  # type: ignore[return-value]
    except SKIPPABLE:
        if not cleaning:
            raise
        from pyctr.core.selection import driver_class

        return driver_class("volume", name)(engine.ctx)  # type: ignore[return-value]


def _locked(engine: Engine, name: str) -> contextlib.AbstractContextManager[None]:
    return flocked(engine.config.runroot / "locks" / f"volume-{name}.lock")


def create(engine: Engine, name: str, driver_name: str = "", options: dict[str, str] | None = None,
           labels: dict[str, str] | None = None, *, explicit_driver: bool = False) -> tuple[Volume, bool]:
    """Create ``name`` (or return it if it exists); returns (volume, created now)."""
    validate_name(name)
    driver_name = driver_name or engine.config.volume_driver or DEFAULT_DRIVER
    with _locked(engine, name):
        conn = _db(engine)
        row = conn.execute("SELECT * FROM volumes WHERE name = ?", (name,)).fetchone()
        if row is not None and row["complete"]:
            vol = _row(row)
            if explicit_driver and vol.driver != driver_name:
                raise Conflict(f"volume name {name} already exists with driver {vol.driver}, "
                               f"cannot create it with driver {driver_name}")
            return vol, False
        if row is not None:  # a killed create: finish it off before starting again
            _forget_incomplete(engine, _row(row))
        drv = driver(engine, driver_name)  # a probe failure ends here, before any record
        vol = Volume(name=name, driver=driver_name, options=dict(options or {}), labels=dict(labels or {}),
                     created=time.time(), complete=False)
        with transaction(conn):
            conn.execute("INSERT INTO volumes(name, driver, options, labels, created, complete)"
                         " VALUES (?, ?, ?, ?, ?, 0)",
                         (name, driver_name, json.dumps(vol.options), json.dumps(vol.labels), vol.created))
        try:
            drv.create(name, vol.options)
        except BaseException:
            with transaction(conn):
                conn.execute("DELETE FROM volumes WHERE name = ? AND complete = 0", (name,))
            raise
        with transaction(conn):
            conn.execute("UPDATE volumes SET complete = 1 WHERE name = ?", (name,))
        vol.complete = True
        _event(engine, "create", vol)
        return vol, True


def _forget_incomplete(engine: Engine, vol: Volume) -> None:
    try:
        driver(engine, vol.driver, cleaning=True).remove(vol.name)
    except NotFound:
        pass
    with transaction(engine.db):
        engine.db.execute("DELETE FROM volumes WHERE name = ? AND complete = 0", (vol.name,))


def users(engine: Engine, name: str) -> list[str]:
    """Ids of the containers (any state) whose mounts name the volume: Docker's "in use"."""
    out = []
    for row in engine.db.execute("SELECT id, spec FROM containers"):
        mounts = json.loads(row["spec"]).get("mounts") or []
        if any(m.get("type") == "volume" and m.get("source") == name for m in mounts):
            out.append(row["id"])
    return out


def remove(engine: Engine, name: str, *, force: bool = False, check_users: bool = True) -> None:
    """Delete a volume no container refers to; ``force`` ignores a missing one."""
    with _locked(engine, name):
        vol = get(engine, name)
        if vol is None:
            if force:
                return
            raise NotFound(f"no such volume: {name}")
        using = users(engine, name) if check_users else []
        if using:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(using)}]")
        try:
            driver(engine, vol.driver, cleaning=True).remove(name)
        except NotFound:
            pass  # the driver lost it already; forget it here too
        with transaction(engine.db):
            engine.db.execute("DELETE FROM volumes WHERE name = ?", (name,))
        _event(engine, "destroy", vol)


def _event(engine: Engine, action: str, vol: Volume) -> None:
    from pyctr.core import events

    events.record(engine, "volume", action, vol.name, {"driver": vol.driver})


def mountpoint(engine: Engine, vol: Volume) -> str:
    try:
        return str(driver(engine, vol.driver, cleaning=True).path(vol.name))
    except Exception:  # noqa: BLE001  (a driver that cannot load still lets ls/inspect show the rest)
        return ""


def reconcile(engine: Engine) -> list[str]:
    """``system prune``: forget half-made volumes, and load every volume driver in use so
    that its ``pyctr_cleanup_orphans`` hook (stale references, stale mounts) runs."""
    lines = []
    conn = _db(engine)
    for row in conn.execute("SELECT * FROM volumes WHERE complete = 0").fetchall():
        vol = _row(row)
        with _locked(engine, vol.name):
            _forget_incomplete(engine, vol)
        lines.append(f"removed half-created volume {vol.name}")
    for (name,) in conn.execute("SELECT DISTINCT driver FROM volumes").fetchall():
        try:
            driver(engine, name, cleaning=True)
        except Exception:  # noqa: BLE001  (an uninstalled driver must not stop the rest of prune)
            lines.append(f"volume driver {name} is not available; its volumes were left alone")
    return lines
