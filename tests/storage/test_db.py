"""The database: connection settings, named migrations, transactions, concurrent writers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest

from moco.core.messages import Message
from moco.storage import MIGRATIONS, Database, DatabaseError, Migration, open_database
from moco.storage.db import split_statements
from moco.storage.session_logger import SessionLogger


def tables(db: Database) -> set[str]:
    rows = db.query("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {row[0] for row in rows}


def test_open_database_lives_in_moco_home(moco_home: Path) -> None:
    with open_database() as db:
        assert db.path == moco_home / "moco.db"
        assert db.path.is_file()
    with open_database(env={"MOCO_HOME": str(moco_home / "other")}) as db:
        assert db.path == moco_home / "other" / "moco.db"


def test_connection_pragmas(tmp_path: Path) -> None:
    with Database(tmp_path / "moco.db") as db:
        assert db.pragma("journal_mode") == "wal"
        assert db.pragma("busy_timeout") == 10_000
        assert db.pragma("foreign_keys") == 1
        assert db.pragma("synchronous") == 1  # NORMAL


def test_migrations_are_recorded_in_order(tmp_path: Path) -> None:
    with Database(tmp_path / "moco.db") as db:
        applied = db.applied_migrations()
        assert [name for name, _ in applied] == [m.name for m in MIGRATIONS]
        for _, applied_at in applied:
            assert datetime.fromisoformat(applied_at).tzinfo is not None
        assert {"sessions", "runs", "messages", "bookmarks", "_migrations"} <= tables(db)


def test_migrating_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "moco.db"
    with Database(path) as db:
        first = db.applied_migrations()
        assert db.migrate() == []
    with Database(path) as db:
        assert db.applied_migrations() == first


def test_an_older_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "moco.db"
    with Database(path, migrations=MIGRATIONS[:1]) as old:
        assert [name for name, _ in old.applied_migrations()] == ["001_sessions"]
        assert "messages" not in tables(old)
        old.execute(
            "INSERT INTO sessions (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
            ("abc123def456", "kept", "2025-01-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00"),
        )
    with Database(path) as db:
        assert [name for name, _ in db.applied_migrations()] == [m.name for m in MIGRATIONS]
        logger = SessionLogger(db)
        session = logger.require_session("kept")
        assert logger.append_message(session.id, Message.user("hi"), agent="main") == 1


def test_appending_a_migration_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "moco.db"
    Database(path).close()

    def add_column(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE bookmarks ADD COLUMN note TEXT")

    extended = [
        *MIGRATIONS,
        Migration("100_examples",
                  "CREATE TABLE examples (id TEXT PRIMARY KEY, note TEXT DEFAULT ';')"),
        Migration("101_bookmark_note", add_column),
    ]
    with Database(path, migrations=extended) as db:
        names = [name for name, _ in db.applied_migrations()]
        assert names[-2:] == ["100_examples", "101_bookmark_note"]
        db.execute("INSERT INTO bookmarks (name, path, created_at, note) VALUES ('a', '/', '', '')")
        assert "examples" in tables(db)


def test_a_failing_migration_rolls_back_and_says_which(tmp_path: Path) -> None:
    broken = [*MIGRATIONS, Migration("005_broken", "CREATE TABLE t (x); SELECT * FROM nowhere")]
    with pytest.raises(DatabaseError, match="005_broken"):
        Database(tmp_path / "moco.db", migrations=broken)
    with Database(tmp_path / "moco.db") as db:
        assert "t" not in tables(db)
        assert "005_broken" not in {name for name, _ in db.applied_migrations()}


def test_duplicate_migration_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Database(tmp_path / "moco.db", migrations=[*MIGRATIONS, MIGRATIONS[0]])


def test_split_statements_keeps_strings_and_triggers_whole() -> None:
    script = """
        CREATE TABLE a (x TEXT DEFAULT 'a;b');
        CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 'c;d'; END;
        ;
    """
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[1].endswith("END;")


def test_a_file_that_is_not_a_database_gives_one_readable_line(tmp_path: Path) -> None:
    path = tmp_path / "moco.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError, match="not a usable moco database") as info:
        Database(path)
    assert "\n" not in str(info.value)


def test_transaction_commits_or_rolls_back(tmp_path: Path) -> None:
    with Database(tmp_path / "moco.db") as db:
        with db.transaction() as conn:
            conn.execute("INSERT INTO bookmarks VALUES ('kept', '/a', '')")
        with pytest.raises(RuntimeError), db.transaction() as conn:
            conn.execute("INSERT INTO bookmarks VALUES ('lost', '/b', '')")
            raise RuntimeError("boom")
        with db.transaction() as conn:
            conn.execute("INSERT INTO bookmarks VALUES ('outer', '/c', '')")
            with pytest.raises(RuntimeError), db.transaction() as inner:
                inner.execute("INSERT INTO bookmarks VALUES ('inner', '/d', '')")
                raise RuntimeError("inner only")
        names = {row[0] for row in db.query("SELECT name FROM bookmarks")}
        assert names == {"kept", "outer"}
        assert not db.connection.in_transaction


def test_threads_share_one_database(tmp_path: Path) -> None:
    with Database(tmp_path / "moco.db") as db:
        logger = SessionLogger(db)
        session = logger.create_session()
        errors: list[BaseException] = []

        def append(tag: int) -> None:
            try:
                for i in range(50):
                    logger.append_message(session.id, Message.user(f"{tag}-{i}"), agent="a")
                    logger.load_messages(session.id, upto_seq=3)
            except BaseException as exc:  # collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=append, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        seqs = [record.seq for record in logger.load_records(session.id)]
        assert seqs == list(range(1, 301))


WRITER = """
import sys
from pathlib import Path
from moco.core.messages import Message
from moco.storage import Database, SessionLogger

path, session_id, tag, count = sys.argv[1:5]
logger = SessionLogger(Database(Path(path)))
print("ready", flush=True)
sys.stdin.readline()
for i in range(int(count)):
    logger.append_message(session_id, Message.user(f"{tag}-{i}"), agent=tag)
print("done", flush=True)
"""


@pytest.mark.slow
def test_two_processes_append_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "moco.db"
    with Database(path) as db:
        session = SessionLogger(db).create_session()
    count = 1000
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), session.id, tag, str(count)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for tag in ("a", "b")
    ]
    for writer in writers:  # both connected before either writes
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers:
        _, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
        assert "locked" not in err
    with Database(path) as db:
        records = SessionLogger(db).load_records(session.id)
    assert [r.seq for r in records] == list(range(1, 2 * count + 1))
    for tag in ("a", "b"):
        texts = [r.message.text for r in records if r.agent == tag]
        assert texts == [f"{tag}-{i}" for i in range(count)]
