"""MOCO_HOME and the database are private: 0700 and 0600, also when they existed with
looser modes (the database holds transcripts and what tools printed)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from moco.config import ensure_private_dir
from moco.storage.db import Database, database_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> object:
    previous = os.umask(0o022)
    yield None
    os.umask(previous)


def test_a_new_home_and_database_are_private(tmp_path: Path, loose_umask: object) -> None:
    home = tmp_path / "fresh" / ".moco"
    with Database(database_path(home)) as db:
        db.execute("CREATE TABLE IF NOT EXISTS t (x)")
        db.execute("INSERT INTO t VALUES (1)")
        assert mode(home) == 0o700
        assert mode(home / "moco.db") == 0o600
        for suffix in ("-wal", "-shm"):
            side = home / f"moco.db{suffix}"
            if side.exists():
                assert mode(side) == 0o600, suffix


def test_an_existing_loose_home_and_database_are_narrowed(
    tmp_path: Path, loose_umask: object
) -> None:
    home = tmp_path / ".moco"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    with Database(database_path(home)):
        pass
    for name in ("moco.db", "moco.db-wal", "moco.db-shm"):
        if (home / name).exists():
            os.chmod(home / name, 0o644)
    (home / ".env").write_text("OPENAI_API_KEY=sk-x\n")
    os.chmod(home / ".env", 0o644)
    with Database(database_path(home)):
        assert mode(home) == 0o700
        assert mode(home / "moco.db") == 0o600
        assert mode(home / ".env") == 0o600
        for name in ("moco.db-wal", "moco.db-shm"):
            if (home / name).exists():
                assert mode(home / name) == 0o600, name


def test_other_files_under_home_are_out_of_reach(tmp_path: Path, loose_umask: object) -> None:
    """Skills, history, bookmarks: whatever their own mode, a 0700 home keeps others out."""
    home = ensure_private_dir(tmp_path / ".moco")
    (home / "skills" / "demo").mkdir(parents=True)
    (home / "skills" / "demo" / "SKILL.md").write_text("x")
    assert mode(home) & 0o077 == 0


def test_a_database_elsewhere_leaves_its_folder_alone(tmp_path: Path, loose_umask: object) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, 0o755)
    with Database(folder / "other.db"):
        pass
    assert mode(folder) == 0o755
    assert mode(folder / "other.db") == 0o600
