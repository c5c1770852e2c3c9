"""The SQLite state database under ``--root``: containers, images, tags, and
whatever plugins record (IP leases, volume references).

WAL mode and a busy timeout make it safe for several pyctr processes at once;
every state change is one transaction (:func:`transaction` takes the write
lock up front with ``BEGIN IMMEDIATE`` so read-modify-write cannot race).

Migrations are numbered; ``PRAGMA user_version`` says how many have run.
Plugins append their own with :func:`register_migration` under a name of
their own, so they never collide with the core's numbering.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from pyctr.core.errors import StateError

try:
    # The C module the sqlite3 package wraps: the package adds only the default
    # datetime adapters (deprecated since 3.12; pyctr stores times as REAL
    # seconds), and importing them costs the datetime module on every command.
    # Modules that need the exceptions or Row import ``sqlite3`` from here.
    import _sqlite3 as sqlite3
except ImportError:  # pragma: no cover  (an interpreter that only ships the package)
    import sqlite3  # type: ignore[no-redef]

DB_NAME = "pyctr.db"

#: core schema, one entry per version; never edit an entry once released
CORE_MIGRATIONS: list[str] = [
    """
    CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        image_id TEXT NOT NULL,
        spec TEXT NOT NULL,            -- JSON ContainerSpec
        drivers TEXT NOT NULL,         -- JSON {kind: driver name} chosen at create
        status TEXT NOT NULL,          -- created|running|paused|exited|dead|removing
        pid INTEGER NOT NULL DEFAULT 0,
        exit_code INTEGER NOT NULL DEFAULT 0,
        oom_killed INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        started REAL NOT NULL DEFAULT 0,
        finished REAL NOT NULL DEFAULT 0,
        runtime TEXT NOT NULL DEFAULT '{}'  -- JSON: cgroup handle, network, monitor pid
    );
    CREATE TABLE images (
        id TEXT PRIMARY KEY,           -- sha256 of the config blob
        config TEXT NOT NULL,          -- the OCI image config JSON
        manifest_digest TEXT NOT NULL DEFAULT '',
        layers TEXT NOT NULL,          -- JSON list of storage layer ids, base first
        size INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL
    );
    CREATE TABLE tags (
        name TEXT PRIMARY KEY,         -- docker.io/library/busybox:latest
        image_id TEXT NOT NULL REFERENCES images(id)
    );
    CREATE TABLE layers (
        driver TEXT NOT NULL,          -- storage driver holding the layer
        id TEXT NOT NULL,              -- storage layer id (chain id hex)
        diff_id TEXT NOT NULL,
        parent TEXT,
        size INTEGER NOT NULL DEFAULT 0,
        complete INTEGER NOT NULL DEFAULT 0,  -- 0: intent recorded, not finished
        PRIMARY KEY (driver, id)
    );
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE plugin_migrations (name TEXT PRIMARY KEY);
    """,
    # health checks (pyctr.core.health): one row per container with a check, written by its probes
    # alone; it goes with its container
    """
    CREATE TABLE health (
        container_id TEXT PRIMARY KEY,
        status TEXT NOT NULL,          -- starting|healthy|unhealthy
        failing_streak INTEGER NOT NULL DEFAULT 0,
        log TEXT NOT NULL DEFAULT '[]' -- JSON: the last five results
    );
    CREATE TRIGGER health_goes_with_its_container AFTER DELETE ON containers
    BEGIN DELETE FROM health WHERE container_id = OLD.id; END;
    """,
]

_plugin_migrations: dict[str, str] = {}


def register_migration(name: str, sql: str) -> None:
    """Let a plugin create its own tables; ``name`` must be unique and stable."""
    _plugin_migrations[name] = sql


def apply_pending_migrations(conn: sqlite3.Connection) -> None:
    """Run plugin migrations registered after ``conn`` was opened (a module imported late)."""
    _migrate(conn)


def connect(root: Path | str) -> sqlite3.Connection:
    """Open (and migrate) the database under ``root``."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o711)
        conn = sqlite3.connect(root / DB_NAME, timeout=30.0, isolation_level=None)
    except (OSError, sqlite3.Error) as e:
        raise StateError(f"cannot open the state database under {root}: {e}") from None
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    # In WAL mode NORMAL never corrupts and loses nothing when a process is
    # killed; it only skips the fsync per commit (power loss may drop the last
    # commits), which is what makes every state change cheap.
    conn.execute("PRAGMA synchronous = NORMAL")
    # Every pyctr process is the database's first opener (there is no daemon
    # holding it open), and SQLite rebuilds the WAL index on first open by
    # reading every frame since the last checkpoint: ~1.3 ms per MB here. At
    # the default 1000 pages that averaged ~2 MB (a run writes ~14 pages); a
    # checkpoint every few runs costs about as much as it saves on reading,
    # and keeps the first open under a millisecond: ~1.5 ms a run in all.
    conn.execute("PRAGMA wal_autocheckpoint = 32")
    _migrate(conn)
    return conn


def connect_reader(root: Path | str) -> sqlite3.Connection:
    """The database under ``root`` opened read-only, for commands that only read (``ps``,
    ``images``, ``inspect``): no directory made, no settings written, no migration run, just
    the schema version read (one page). A database that does not exist yet, is older than
    this pyctr or cannot be opened so gets :func:`connect`'s way (made and migrated)."""
    path = os.path.join(os.fspath(root), DB_NAME)
    if os.path.isabs(path) and os.path.exists(path):
        # a URI filename: only %, ? and # mean something there
        uri = "file:" + path.replace("%", "%25").replace("?", "%3f").replace("#", "%23") + "?mode=ro"
        conn = None
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            current = conn.execute("PRAGMA user_version").fetchone()[0] == len(CORE_MIGRATIONS)
            if current and _plugin_migrations:
                done = {r[0] for r in conn.execute("SELECT name FROM plugin_migrations")}
                current = all(name in done for name in _plugin_migrations)
            if current:
                return conn
        except sqlite3.Error:
            pass
        if conn is not None:
            conn.close()
    return connect(root)


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version < len(CORE_MIGRATIONS):
        _use_wal(conn)
        with transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number in range(version, len(CORE_MIGRATIONS)):
                for statement in _split(CORE_MIGRATIONS[number]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")
    if _plugin_migrations:
        done = {r[0] for r in conn.execute("SELECT name FROM plugin_migrations")}
        pending = [n for n in _plugin_migrations if n not in done]
        if pending:
            with transaction(conn):
                done = {r[0] for r in conn.execute("SELECT name FROM plugin_migrations")}
                for name in pending:
                    if name in done:
                        continue
                    for statement in _split(_plugin_migrations[name]):
                        conn.execute(statement)
                    conn.execute("INSERT INTO plugin_migrations(name) VALUES (?)", (name,))


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put a new database file in WAL mode (persistent in the file: set once).

    Switching the journal mode needs every other connection off the file, and
    SQLite answers "database is locked" at once rather than through the busy
    timeout: several processes (or threads) opening a new store together meet
    here, so wait for the others' moment on the file to pass, as the timeout would.
    """
    import time

    deadline = time.monotonic() + 30.0
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            # SQLITE_BUSY only (its extended codes keep the low byte); anything else is an answer
            if getattr(e, "sqlite_errorcode", 5) & 0xFF != 5 or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _split(script: str) -> list[str]:
    # executescript() would commit our transaction; run statement by statement.
    out, buf = [], []
    for line in script.splitlines():
        line = line.split("--", 1)[0]
        buf.append(line)
        if line.rstrip().endswith(";"):
            stmt = "\n".join(buf).strip()
            if stmt.rstrip(";").strip():
                out.append(stmt)
            buf = []
    rest = "\n".join(buf).strip()
    if rest:
        out.append(rest)
    return out


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, holding the write lock from its first statement."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def atomic_write(path: Path | str, data: bytes, mode: int = 0o644) -> None:
    """Write a file so that a crash leaves either the old or the new content."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    # O_NOFOLLOW: the temporary name is predictable; never write through a planted link
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # a leftover temporary file keeps its old mode through O_CREAT
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


@contextlib.contextmanager
def flocked(path: Path, dir_mode: int = 0o700) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (made, with its directory, if missing)
    for the block: serialises pyctr processes working on one object."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # also drops the lock
