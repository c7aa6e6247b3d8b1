"""The PostgreSQL store (MOCO_DB_URL): its dialect translation, rows, errors, migrations, and
what stays local. The storage suites run on it too (the db_backend fixture)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from moco.errors import ConfigError
from moco.storage import MIGRATIONS, SessionLogger, open_database
from moco.storage.db import DatabaseError, database_url
from moco.storage.postgres import PostgresDatabase, translate
from moco.storage.semantic_memory import SemanticMemory


def test_placeholders_outside_literals_become_psycopg_ones() -> None:
    assert translate("SELECT * FROM t WHERE a = ? AND b = '?' AND c = ?") == (
        "SELECT * FROM t WHERE a = %s AND b = '?' AND c = %s")
    assert translate("SELECT 'it''s ?', \"odd?\" FROM t WHERE x LIKE 'a%' AND y = ?") == (
        "SELECT 'it''s ?', \"odd?\" FROM t WHERE x ILIKE 'a%%' AND y = %s")
    assert translate("UPDATE t SET a = 1 WHERE b IS ? AND c IS NOT ?") == (
        "UPDATE t SET a = 1 WHERE b IS NOT DISTINCT FROM %s AND c IS DISTINCT FROM %s")
    assert translate("SELECT 1 WHERE a IS NULL") == "SELECT 1 WHERE a IS NULL"
    assert translate("SELECT 1 WHERE a like ? ESCAPE '\\' AND b = 'LIKE'") == (
        "SELECT 1 WHERE a ILIKE %s ESCAPE '\\' AND b = 'LIKE'")
    assert translate("SELECT 'open") == "SELECT 'open"


def test_only_postgresql_urls_are_taken() -> None:
    assert database_url({}) is None
    assert database_url({"MOCO_DB_URL": " "}) is None
    with pytest.raises(ConfigError, match="postgresql:// URL"):
        database_url({"MOCO_DB_URL": "mysql://x/y"})


def test_the_core_steps_have_a_postgresql_text_and_memory_has_none() -> None:
    local = {m.name for m in MIGRATIONS if m.postgres is None}
    assert local == {"008_memory"}


def test_rows_errors_and_migrations(postgres_url: str) -> None:
    db = open_database(env={"MOCO_DB_URL": postgres_url})
    assert isinstance(db, PostgresDatabase) and repr(db).startswith("PostgresDatabase('127.0.0.1:")
    names = [name for name, _ in db.applied_migrations()]
    assert names == [m.name for m in MIGRATIONS if m.postgres is not None]
    assert db.migrate() == []  # up to date: nothing again
    db.execute("INSERT INTO bookmarks (name, path, created_at) VALUES (?, ?, ?)",
               ("home", "/tmp/100%", "now"))
    row = db.query_one("SELECT name, path FROM bookmarks WHERE name = ?", ("home",))
    assert row is not None and row["path"] == row[1] == "/tmp/100%" and list(row) == [
        "home", "/tmp/100%"]
    assert row.keys() == ["name", "path"]  # type: ignore[attr-defined]
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO bookmarks (name, path, created_at) VALUES (?, ?, ?)",
                   ("home", "/x", "now"))
    with pytest.raises(sqlite3.IntegrityError), db.transaction() as conn:
        conn.execute("DELETE FROM bookmarks")
        conn.execute("INSERT INTO runs (id, session_id, agent, started_at)"
                     " VALUES ('r', 'no-such-session', 'a', 'now')")
    count = db.query_one("SELECT COUNT(*) AS n FROM bookmarks")
    assert count is not None and count["n"] == 1  # the transaction was rolled back
    db.close()


def test_two_hosts_opening_a_fresh_store_migrate_it_once(postgres_url: str) -> None:
    first = PostgresDatabase(postgres_url)
    second = PostgresDatabase(postgres_url)
    assert len(second.applied_migrations()) == len(first.applied_migrations())
    first.close()
    second.close()


async def test_memory_stays_in_a_local_file(postgres_url: str, moco_home: Path) -> None:
    env = {"MOCO_HOME": str(moco_home), "MOCO_DB_URL": postgres_url}
    memory = SemanticMemory.open(env)
    assert memory.db.path == moco_home / "memory.db"
    record = await memory.add("the build runs on Fridays")
    found = memory.get(record.id)
    assert found is not None and found.text == "the build runs on Fridays"
    memory.close()
    sessions = SessionLogger.open(env=env)
    assert isinstance(sessions.db, PostgresDatabase)
    sessions.create_session(title="shared")
    assert [s.title for s in sessions.list_sessions()] == ["shared"]
    assert not (moco_home / "moco.db").exists()
    sessions.db.close()


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match=r"cannot connect to the moco store at 127\.0\.0\.1:1/"):
        PostgresDatabase("postgresql://moco@127.0.0.1:1/nothing")
