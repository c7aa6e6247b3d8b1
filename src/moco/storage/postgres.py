"""The store on PostgreSQL (``MOCO_DB_URL=postgresql://...``), behind the :class:`Database`
interface, so every caller runs unchanged on either engine.

What it translates
    Callers write SQLite's dialect with ``?`` placeholders. :func:`translate` turns ``?``
    (outside string literals and quoted names) into psycopg's ``%s``, doubles every ``%``,
    writes ``IS ?`` as ``IS NOT DISTINCT FROM %s`` and ``LIKE`` as ``ILIKE`` (SQLite's
    ``LIKE`` ignores case; PostgreSQL's ``ILIKE`` does so beyond ASCII too). Rows work by name
    and by index like ``sqlite3.Row``; a cursor has ``fetchone``, ``fetchall``, iteration and
    ``rowcount`` (statements that need a new row's id say ``RETURNING id``; ``lastrowid`` is
    None).
    A unique or foreign-key violation raises :class:`IntegrityError`, a ``sqlite3``
    ``IntegrityError``, and any other server error a ``sqlite3.OperationalError``, so the
    callers' ``except`` clauses hold for both engines.

Sharing
    Like the SQLite :class:`Database`, one connection per process, guarded by a re-entrant
    lock, in autocommit mode: a lone statement is its own transaction,
    :meth:`PostgresDatabase.transaction` is ``BEGIN`` ... ``COMMIT`` (savepoints when nested).
    Several hosts share the store: single-statement state changes (a task's ``claim``:
    ``UPDATE ... WHERE status = 'queued'``) are atomic under READ COMMITTED, and
    :meth:`PostgresDatabase.migrate` takes an advisory lock so two hosts opening a fresh
    database do not both create the tables.

What stays local
    Only migrations with a PostgreSQL text run here (the core tables: sessions, runs,
    messages, bookmarks, checkpoints, session state, tasks). The memory tables (FTS5 and
    triggers) and the code index stay in SQLite files on the node.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.pq import TransactionStatus

from moco.storage.db import (
    MIGRATIONS,
    Database,
    DatabaseError,
    Migration,
    Params,
    split_statements,
    utcnow,
)

#: the advisory lock held while migrating (any constant shared by every moco host)
MIGRATION_LOCK = 0x6D6F636F
#: a string literal, a quoted name, a lone quote, or the code between them
_TOKENS = re.compile(r"'[^']*'|\"[^\"]*\"|['\"]|[^'\"]+")
_LIKE = re.compile(r"\bLIKE\b", re.IGNORECASE)
_IS_PARAM = re.compile(r"\bIS(\s+NOT)?\s+%s", re.IGNORECASE)
#: connections a forked child inherited from its parent, never closed by the child
_INHERITED: list[Any] = []


class IntegrityError(sqlite3.IntegrityError):
    """A constraint of the PostgreSQL store refused a write."""


class OperationalError(sqlite3.OperationalError):
    """The PostgreSQL server refused a statement."""


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """moco's SQLite statement as psycopg expects it: outside literals ``?`` -> ``%s`` and
    ``LIKE`` -> ``ILIKE`` (SQLite's LIKE ignores case), ``%`` -> ``%%`` everywhere."""
    out: list[str] = []
    for token in _TOKENS.findall(sql):
        if token[0] in "'\"":
            out.append(token.replace("%", "%%"))
        else:
            code = token.replace("%", "%%").replace("?", "%s")
            out.append(_LIKE.sub("ILIKE", code))
    return _IS_PARAM.sub(lambda m: "IS DISTINCT FROM %s" if m.group(1)
                         else "IS NOT DISTINCT FROM %s", "".join(out))


class Row:
    """One result row, by column name or by index (like ``sqlite3.Row``)."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = tuple(values)
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._index)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._index, self._values, strict=True))!r})"


def _row_factory(cursor: Any) -> Any:
    names = [column.name for column in cursor.description or ()]
    index = {name: i for i, name in enumerate(names)}
    return lambda values: Row(values, index)


class _NumericLoader(Loader):
    """``SUM`` of integers is ``numeric`` in PostgreSQL: load it as SQLite would, an int
    (a float when it has a fraction), never a ``Decimal`` that JSON cannot write."""

    def load(self, data: Buffer) -> int | float:
        text = bytes(data).decode()
        return int(text) if text.lstrip("-").isdigit() else float(text)


class Cursor:
    """The part of ``sqlite3.Cursor`` moco uses, over a psycopg cursor."""

    lastrowid = None

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def fetchone(self) -> Row | None:
        if self._cursor.description is None:
            return None
        return cast(Row | None, self._cursor.fetchone())

    def fetchall(self) -> list[Row]:
        if self._cursor.description is None:
            return []
        return cast(list[Row], self._cursor.fetchall())

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


def _params(params: Params) -> tuple[Any, ...]:
    if not isinstance(params, Sequence):
        raise TypeError("the PostgreSQL store takes positional ? parameters only")
    return tuple(int(p) if isinstance(p, bool) else p for p in params)


@contextmanager
def _server_errors() -> Iterator[None]:
    try:
        yield
    except psycopg.IntegrityError as exc:
        raise IntegrityError(str(exc).strip()) from exc
    except psycopg.Error as exc:
        raise OperationalError(str(exc).strip()) from exc


class Connection:
    """The part of ``sqlite3.Connection`` moco's callers use, over a psycopg connection."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        with _server_errors():
            return Cursor(self.raw.execute(translate(sql), _params(params)))

    def executemany(self, sql: str, seq: Sequence[Params] | Iterator[Params]) -> Cursor:
        cursor = self.raw.cursor()
        with _server_errors():
            cursor.executemany(translate(sql), [_params(p) for p in seq])
        return Cursor(cursor)

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE


class PostgresDatabase(Database):
    """A connection to a moco store in PostgreSQL, shared safely by the threads of a process.

    The objects it returns duck-type the ``sqlite3`` ones the callers are typed with.
    """

    def __init__(self, url: str, *, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.url = url
        parts = urlsplit(url)
        #: where the store is, for messages (no password)
        self.path = Path(f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}")
        self.busy_timeout = 0.0
        self._migrations = tuple(migrations)
        self._lock = threading.RLock()
        self._depth = 0
        self._pid = os.getpid()
        self._pg: Connection | None = self._open()
        self._conn = None
        try:
            self.migrate()
        except BaseException:
            self.close()
            raise

    def _open(self) -> Connection:
        try:
            conn = psycopg.connect(self.url, autocommit=True, row_factory=_row_factory,
                                   connect_timeout=10)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatabaseError(f"cannot connect to the moco store at {self.path}: {first}"
                                ) from exc
        conn.adapters.register_loader("numeric", _NumericLoader)
        return Connection(conn)

    @property
    def pg(self) -> Connection:
        if self._pid != os.getpid():  # a forked child opens its own connection
            self._pid = os.getpid()
            self._lock = threading.RLock()
            if self._pg is not None:
                _INHERITED.append(self._pg)
                self._pg = self._open()
        if self._pg is None:
            raise DatabaseError(f"the database {self.path} is closed")
        return self._pg

    @property
    def connection(self) -> sqlite3.Connection:
        return cast(sqlite3.Connection, self.pg)

    def close(self) -> None:
        with self._lock:
            if self._pg is not None and self._pid == os.getpid():
                self._pg.raw.close()
            elif self._pg is not None:
                _INHERITED.append(self._pg)
            self._pg = None

    def __repr__(self) -> str:
        return f"PostgresDatabase({str(self.path)!r})"

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        with self._lock:
            return cast(sqlite3.Cursor, self.pg.execute(sql, params))

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        with self._lock:
            return cast(list[sqlite3.Row], self.pg.execute(sql, params).fetchall())

    def query_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        with self._lock:
            return cast(sqlite3.Row | None, self.pg.execute(sql, params).fetchone())

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN`` ... ``COMMIT`` (a savepoint when nested); rolled back on an exception."""
        with self._lock:
            conn = self.pg
            with _server_errors(), conn.raw.transaction():
                yield cast(sqlite3.Connection, conn)

    def pragma(self, name: str) -> Any:
        return None

    def migrate(self) -> list[str]:
        """Apply the missing migrations that have a PostgreSQL text, under an advisory lock."""
        applied: list[str] = []
        current = ""
        try:
            with self.transaction():
                conn = self.pg
                conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
                conn.execute("CREATE TABLE IF NOT EXISTS _migrations ("
                             " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                             " name TEXT NOT NULL UNIQUE, applied_at TEXT NOT NULL)")
                done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
                for migration in self._migrations:
                    if migration.postgres is None or migration.name in done:
                        continue
                    current = migration.name
                    for statement in split_statements(migration.postgres):
                        conn.execute(statement)
                    conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                                 (migration.name, utcnow()))
                    applied.append(migration.name)
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot upgrade the moco store at {self.path}"
                                f" (migration {current or '_migrations'}): {exc}") from exc
        return applied
