"""Sessions found by what they are called or what was said in them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moco.messages import Message
from moco.storage.session_logger import SessionLogger
from moco.storage.session_search import search_sessions

#: every test on the SQLite file and on a PostgreSQL store (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("db_backend")


@pytest.fixture
def logger(moco_home: Path) -> SessionLogger:
    return SessionLogger.open(home=moco_home)


def said(logger: SessionLogger, text: str, **fields: str) -> str:
    record = logger.create_session(**fields)
    logger.append_message(record.id, Message.user(text), agent="orchestrator")
    return record.id


def test_every_word_must_match_a_name_title_or_message(logger: SessionLogger) -> None:
    paris = said(logger, "What is the capital of France?", title="geography")
    report = said(logger, "Write the 50%_off report", name="sales")
    said(logger, "unrelated chatter")
    assert [r.id for r in search_sessions(logger, "capital FRANCE")] == [paris]
    assert [r.id for r in search_sessions(logger, "geography")] == [paris]
    assert [r.id for r in search_sessions(logger, "capital sales")] == []
    assert [r.id for r in search_sessions(logger, "50%_off")] == [report]
    assert [r.id for r in search_sessions(logger, "%")] == [report]  # % is not a wildcard
    assert len(search_sessions(logger, "  ")) == 3  # no words: every session


def test_moco_sessions_list_search(logger: SessionLogger, moco_home: Path,
                                   monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from moco.cli import app

    monkeypatch.chdir(tmp_path)
    paris = said(logger, "What is the capital of France?")
    said(logger, "something else")
    found = CliRunner().invoke(app, ["sessions", "list", "-q", "france", "--json"])
    assert found.exit_code == 0, found.output
    assert [r["id"] for r in json.loads(found.output)] == [paris]
    none = CliRunner().invoke(app, ["sessions", "list", "--search", "bananas"])
    assert "no session matches 'bananas'" in none.output
