"""The one SQLite database of moco (``$MOCO_HOME/moco.db``): connection and migrations.

Connection model
    A :class:`Database` holds **one** ``sqlite3`` connection opened with
    ``check_same_thread=False`` and guarded by a re-entrant lock. Every statement, and every
    :meth:`Database.transaction` as a whole, runs with the lock held, so threads (the asyncio
    loop, tools in worker threads, the web UI's thread pool) never interleave statements inside
    each other's transactions. SQLite has one writer at a time anyway; reads are a few
    milliseconds, so a per-thread connection pool would buy nothing but connections leaked by
    short-lived threads. Several *processes* (a chat, a background task, the web UI) each open
    their own :class:`Database`; WAL mode lets readers run beside the writer and
    ``busy_timeout`` makes writers queue instead of failing with "database is locked".
    A forked child never reuses its parent's connection: it opens its own on first use.

Transactions
    The connection is in autocommit mode: a lone :meth:`Database.execute` is its own
    transaction. :meth:`Database.transaction` issues ``BEGIN IMMEDIATE`` (take the write lock
    up front, so a read-then-write never fails with ``SQLITE_BUSY`` half way) and commits or
    rolls back; nested calls become savepoints.

Migrations
    :data:`MIGRATIONS` is an append-only list of named steps (SQL or a function). Applied names
    are recorded in ``_migrations`` with ``applied_at``. Opening a database applies the missing
    ones in one write transaction, so an older file is upgraded in place and two processes
    opening a fresh file at once do not both create the tables. To add a table, append one
    ``Migration("00N_name", "CREATE TABLE ...")`` at the end; never edit or reorder a step
    that has shipped.

Timestamps are ISO-8601 UTC strings with microseconds (``2025-01-31T12:00:00.123456+00:00``):
readable in the ``sqlite3`` shell and in JSON exports, and they sort as text.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moco.config import ensure_private_dir, moco_home, narrow_mode
from moco.errors import ConfigError, MocoError
from moco.storage.pg_schema import POSTGRES_STEPS

DB_FILENAME = "moco.db"
#: the files SQLite keeps next to the database in WAL mode
SIDE_FILES = ("-wal", "-shm", "-journal")
BUSY_TIMEOUT_S = 10.0

Params = Sequence[Any] | Mapping[str, Any]

#: connections a forked child inherited from its parent, kept alive so they are never closed
_INHERITED: list[sqlite3.Connection] = []


class DatabaseError(MocoError):
    """The database file cannot be opened or upgraded."""


def utcnow() -> str:
    """The current time as the ISO-8601 UTC string every table stores."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class Migration:
    """One named schema step: SQL (one or more statements) or a function of the connection.

    A function runs inside the migration transaction; it must not commit. ``postgres`` is the
    same step for a PostgreSQL store (:mod:`moco.storage.postgres`); a step without one is
    local to a node (the memory tables) and never runs there.
    """

    name: str
    step: str | Callable[[sqlite3.Connection], None]
    postgres: str | None = None

    def apply(self, conn: sqlite3.Connection) -> None:
        if callable(self.step):
            self.step(conn)
            return
        for statement in split_statements(self.step):
            conn.execute(statement)


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (``;`` inside strings or triggers is kept)."""
    statements: list[str] = []
    buffer = ""
    for chunk in sql.split(";"):
        buffer += chunk + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \t\r\n;"):
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip(" \t\r\n;"):
        statements.append(buffer.strip())
    return statements


#: the memory tables (storage/semantic_memory, memory/): also the whole schema of a separate
#: memory file (``MEMORY_DB_PATH``). ``memory_state.generation`` counts inserts and deletes of
#: memories, so a process can tell cheaply whether its vector index is still in step.
MEMORY_MIGRATION = Migration("008_memory", """
    CREATE TABLE memories (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        text          TEXT NOT NULL,
        kind          TEXT NOT NULL DEFAULT 'fact',
        profile       TEXT,
        project       TEXT,
        source        TEXT,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        superseded_by INTEGER REFERENCES memories (id) ON DELETE SET NULL,
        metadata      TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX memories_scope ON memories (profile, project);
    CREATE INDEX memories_superseded_by ON memories (superseded_by);
    CREATE TABLE memory_state (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        generation INTEGER NOT NULL
    );
    INSERT INTO memory_state (id, generation) VALUES (1, 0);
    CREATE VIRTUAL TABLE memories_fts USING fts5(
        text, content = 'memories', content_rowid = 'id',
        tokenize = 'porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER memories_inserted AFTER INSERT ON memories BEGIN
        INSERT INTO memories_fts (rowid, text) VALUES (new.id, new.text);
        UPDATE memory_state SET generation = generation + 1;
    END;
    CREATE TRIGGER memories_deleted AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.id, old.text);
        UPDATE memory_state SET generation = generation + 1;
    END;
    CREATE TRIGGER memories_text_changed AFTER UPDATE OF text ON memories BEGIN
        INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO memories_fts (rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TABLE task_run_events (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id         TEXT,
        session_id     TEXT,
        agent          TEXT,
        tool_name      TEXT NOT NULL,
        params_json    TEXT NOT NULL DEFAULT '{}',
        result_preview TEXT,
        success        INTEGER NOT NULL,
        duration_ms    INTEGER,
        created_at     TEXT NOT NULL
    );
    CREATE INDEX task_run_events_run ON task_run_events (run_id);
    CREATE INDEX task_run_events_tool ON task_run_events (tool_name, created_at);
    CREATE TABLE relations (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        subject    TEXT NOT NULL,
        predicate  TEXT NOT NULL,
        object     TEXT NOT NULL,
        memory_id  INTEGER REFERENCES memories (id) ON DELETE CASCADE,
        profile    TEXT,
        project    TEXT,
        source     TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX relations_subject ON relations (subject);
    CREATE INDEX relations_object ON relations (object);
    CREATE INDEX relations_memory ON relations (memory_id);
""")

_STEPS: list[Migration] = [
    Migration("001_sessions", """
        CREATE TABLE sessions (
            id          TEXT PRIMARY KEY,
            name        TEXT UNIQUE,
            title       TEXT,
            profile     TEXT,
            provider    TEXT,
            model       TEXT,
            working_dir TEXT,
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL,
            metadata    TEXT NOT NULL DEFAULT '{}',
            status      TEXT NOT NULL DEFAULT 'active'
        );
        CREATE INDEX sessions_updated ON sessions (updated_at);
        CREATE INDEX sessions_working_dir ON sessions (working_dir, updated_at);
    """),
    Migration("002_runs", """
        CREATE TABLE runs (
            id            TEXT PRIMARY KEY,
            session_id    TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            parent_run_id TEXT REFERENCES runs (id) ON DELETE CASCADE,
            agent         TEXT NOT NULL,
            task          TEXT NOT NULL DEFAULT '',
            status        TEXT NOT NULL DEFAULT 'running',
            started_at    TEXT NOT NULL,
            finished_at   TEXT,
            input_tokens  INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            model         TEXT,
            provider      TEXT
        );
        CREATE INDEX runs_session ON runs (session_id, started_at);
        CREATE INDEX runs_parent ON runs (parent_run_id);
    """),
    Migration("003_messages", """
        CREATE TABLE messages (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            run_id     TEXT REFERENCES runs (id) ON DELETE SET NULL,
            seq        INTEGER NOT NULL,
            agent      TEXT NOT NULL,
            role       TEXT NOT NULL,
            content    TEXT NOT NULL,
            created_at TEXT NOT NULL,
            status     TEXT
        );
        CREATE UNIQUE INDEX messages_session_seq ON messages (session_id, seq);
        CREATE INDEX messages_run ON messages (run_id);
    """),
    Migration("004_bookmarks", """
        CREATE TABLE bookmarks (
            name       TEXT PRIMARY KEY,
            path       TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
    """),
    Migration("005_checkpoints", """
        CREATE TABLE checkpoints (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            name        TEXT NOT NULL,
            seq         INTEGER NOT NULL,
            todos       TEXT,
            working_dir TEXT,
            profile     TEXT,
            model       TEXT,
            manifest    TEXT NOT NULL DEFAULT '{}',
            created_at  TEXT NOT NULL,
            UNIQUE (session_id, name)
        );
        CREATE TABLE tracked_files (
            session_id       TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            path             TEXT NOT NULL,
            original         TEXT,
            note             TEXT,
            first_changed_at TEXT NOT NULL,
            PRIMARY KEY (session_id, path)
        );
        CREATE TABLE file_blobs (
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            hash       TEXT NOT NULL,
            size       INTEGER NOT NULL,
            data       BLOB NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (session_id, hash)
        );
    """),
    # which process runs a run (host:pid:start time), so a run left 'running' by a killed
    # process can be told from one still going and marked 'interrupted'
    Migration("006_run_owner", """
        ALTER TABLE runs ADD COLUMN owner TEXT;
        CREATE INDEX runs_running ON runs (owner) WHERE status = 'running';
        UPDATE runs SET status = 'interrupted' WHERE status = 'running';
    """),
    # the todo list, loaded skills and /model choice of a session (storage/session_state),
    # and the same record in each checkpoint
    Migration("007_session_state", """
        CREATE TABLE session_state (
            session_id TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
            state      TEXT NOT NULL DEFAULT '{}',
            updated_at TEXT NOT NULL
        );
        ALTER TABLE checkpoints ADD COLUMN state TEXT;
    """),
    MEMORY_MIGRATION,
    # background tasks (moco.tasks): one row per task, its events in order; ``worker`` is
    # host:pid:start (storage/owner) and ``heartbeat_at`` tells a live worker from a dead one
    Migration("009_tasks", """
        CREATE TABLE tasks (
            id               TEXT PRIMARY KEY,
            session_id       TEXT,
            task             TEXT NOT NULL,
            options          TEXT NOT NULL DEFAULT '{}',
            status           TEXT NOT NULL DEFAULT 'queued',
            worker           TEXT,
            heartbeat_at     TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            created_at       TEXT NOT NULL,
            started_at       TEXT,
            finished_at      TEXT,
            input_tokens     INTEGER NOT NULL DEFAULT 0,
            output_tokens    INTEGER NOT NULL DEFAULT 0,
            error            TEXT,
            backend          TEXT NOT NULL DEFAULT 'local'
        );
        CREATE INDEX tasks_created ON tasks (created_at);
        CREATE INDEX tasks_status ON tasks (status, created_at);
        CREATE TABLE task_events (
            task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
            seq        INTEGER NOT NULL,
            type       TEXT NOT NULL,
            data       TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (task_id, seq)
        );
    """),
]

#: every step, with its PostgreSQL text where the table lives in a shared store
MIGRATIONS: list[Migration] = [replace(m, postgres=POSTGRES_STEPS.get(m.name)) for m in _STEPS]


class Database:
    """A connection to one moco database file, shared safely by the threads of a process."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        busy_timeout: float = BUSY_TIMEOUT_S,
    ) -> None:
        self.path = Path(path).expanduser()
        self.busy_timeout = busy_timeout
        self._migrations = tuple(migrations)
        _check_unique_names(self._migrations)
        self._lock = threading.RLock()
        self._depth = 0
        self._pid = os.getpid()
        self._conn: sqlite3.Connection | None = None
        self._conn = self._connect()
        try:
            self.migrate()
        except BaseException:
            self.close()
            raise

    # -- connection ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            self._make_private()
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"cannot open the moco database at {self.path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise DatabaseError(
                f"{self.path} is not a usable moco database ({exc}) — move it away and retry"
            ) from exc
        for suffix in SIDE_FILES:  # SQLite gives them the database's mode; older ones may differ
            narrow_mode(self.path.with_name(self.path.name + suffix))
        return conn

    def _make_private(self) -> None:
        """The database file is 0600 and, in a moco home (``.../moco.db``), the home 0700:
        it holds transcripts and what tools printed, keys included."""
        if self.path.name == DB_FILENAME:
            ensure_private_dir(self.path.parent)
            narrow_mode(self.path.parent / ".env")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if str(self.path) != ":memory:":
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
            narrow_mode(self.path)

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection; hold :attr:`lock` (or use :meth:`transaction`) around its use."""
        if self._pid != os.getpid():
            self._after_fork()
        if self._conn is None:
            raise DatabaseError(f"the database {self.path} is closed")
        return self._conn

    def _after_fork(self) -> None:
        """A forked child never touches its parent's connection: it opens its own."""
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._depth = 0
        if self._conn is not None:
            _INHERITED.append(self._conn)  # closing it here could break the parent's locks
            self._conn = self._connect()

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            elif self._conn is not None:
                _INHERITED.append(self._conn)
            self._conn = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r})"

    # -- statements ---------------------------------------------------------------------------

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """Run one statement (its own transaction unless inside :meth:`transaction`)."""
        with self._lock:
            return self.connection.execute(sql, params)

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.connection.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self.connection.execute(sql, params).fetchone()
            return row

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``); nested calls use savepoints.

        Other threads of this process wait until it ends; other processes wait up to
        ``busy_timeout`` for the write lock.
        """
        with self._lock:
            conn = self.connection
            savepoint = f"sp{self._depth}" if self._depth else None
            conn.execute(f"SAVEPOINT {savepoint}" if savepoint else "BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield conn
                conn.execute(f"RELEASE {savepoint}" if savepoint else "COMMIT")
            except BaseException:
                _rollback(conn, savepoint)
                raise
            finally:
                self._depth -= 1

    def pragma(self, name: str) -> Any:
        row = self.query_one(f"PRAGMA {name}")
        return None if row is None else row[0]

    # -- migrations ---------------------------------------------------------------------------

    def applied_migrations(self) -> list[tuple[str, str]]:
        """``(name, applied_at)`` of every recorded migration, in the order applied."""
        rows = self.query("SELECT name, applied_at FROM _migrations ORDER BY id")
        return [(row["name"], row["applied_at"]) for row in rows]

    def migrate(self) -> list[str]:
        """Apply the missing migrations; returns their names (empty when up to date)."""
        self.execute(
            "CREATE TABLE IF NOT EXISTS _migrations ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " name TEXT NOT NULL UNIQUE,"
            " applied_at TEXT NOT NULL)"
        )
        if not self._pending(self.connection):
            return []
        applied: list[str] = []
        current = ""
        try:
            with self.transaction() as conn:
                for migration in self._pending(conn):  # re-read under the write lock
                    current = migration.name
                    migration.apply(conn)
                    conn.execute(
                        "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                        (migration.name, utcnow()),
                    )
                    applied.append(migration.name)
        except sqlite3.Error as exc:
            raise DatabaseError(
                f"cannot upgrade the moco database at {self.path} (migration {current}): {exc}"
            ) from exc
        return applied

    def _pending(self, conn: sqlite3.Connection) -> list[Migration]:
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        return [m for m in self._migrations if m.name not in done]


def _rollback(conn: sqlite3.Connection, savepoint: str | None) -> None:
    if not conn.in_transaction:  # SQLite already rolled back (e.g. disk full)
        return
    if savepoint:
        conn.execute(f"ROLLBACK TO {savepoint}")
        conn.execute(f"RELEASE {savepoint}")
    else:
        conn.execute("ROLLBACK")


def _check_unique_names(migrations: Sequence[Migration]) -> None:
    seen: set[str] = set()
    for migration in migrations:
        if migration.name in seen:
            raise ValueError(f"duplicate migration name {migration.name!r}")
        seen.add(migration.name)


def database_path(home: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """``$MOCO_HOME/moco.db`` (or ``home/moco.db``)."""
    return (home if home is not None else moco_home(env)) / DB_FILENAME


def database_url(env: Mapping[str, str] | None = None) -> str | None:
    """``MOCO_DB_URL`` when it names a PostgreSQL store, None for the embedded SQLite file."""
    url = (os.environ if env is None else env).get("MOCO_DB_URL", "").strip()
    if not url:
        return None
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"MOCO_DB_URL must be a postgresql:// URL, not {url.split(':')[0]!r}"
                          " — unset it to use the SQLite file in MOCO_HOME")
    return url


def open_database(home: Path | None = None, env: Mapping[str, str] | None = None) -> Database:
    """Open (creating and upgrading as needed) the store ``MOCO_DB_URL`` names (PostgreSQL),
    else the SQLite file under ``home`` or ``MOCO_HOME``."""
    url = database_url(env)
    if url is not None:
        try:
            from moco.storage.postgres import PostgresDatabase
        except ImportError as exc:
            raise ConfigError('MOCO_DB_URL names PostgreSQL but psycopg is not installed — '
                              'pip install "moco[postgres]"') from exc
        return PostgresDatabase(url)
    return Database(database_path(home, env))
