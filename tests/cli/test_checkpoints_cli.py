"""``moco checkpoints ...`` through typer's CliRunner on the sub-app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moco.cli.checkpoints import checkpoints_app
from moco.core.checkpoint import FileTracker
from moco.core.messages import Message
from moco.errors import ConfigError
from moco.storage.session_logger import SessionLogger

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def change(tracker: FileTracker, path: Path, text: str) -> None:
    """What write_file does: tell the tracker, then write."""
    tracker.before_change(path)
    path.write_text(text)


def test_save_list_restore_delete(project: Path) -> None:
    logger = SessionLogger.open()
    session = logger.create_session(name="work", profile="default", model="m",
                                    working_dir=project)
    tracker = FileTracker(logger, session.id)
    logger.append_message(session.id, Message.user("write a"), agent="main")
    change(tracker, project / "a.txt", "a1\n")

    result = runner.invoke(checkpoints_app, ["save"])
    assert result.exit_code == 0, result.output
    assert "saved checkpoint cp-1 of work (1 messages, 1 tracked files)" in result.output

    logger.append_message(session.id, Message.user("more"), agent="main")
    change(tracker, project / "a.txt", "a2\n")
    change(tracker, project / "c.txt", "c\n")
    assert runner.invoke(checkpoints_app, ["save", "later", "--session", "work"]).exit_code == 0

    listed = runner.invoke(checkpoints_app, ["list", "--json"])
    assert [cp["name"] for cp in json.loads(listed.output)] == ["cp-1", "later"]
    table = runner.invoke(checkpoints_app, ["list"])
    assert "cp-1" in table.output and "later" in table.output

    refused = runner.invoke(checkpoints_app, ["restore", "cp-1"], input="n\n")
    assert refused.exit_code == 1
    assert "restore  a.txt" in refused.output and "delete   c.txt" in refused.output
    assert "drop     1 message(s)" in refused.output and "later" in refused.output
    assert (project / "a.txt").read_text() == "a2\n"

    done = runner.invoke(checkpoints_app, ["restore", "cp-1", "--yes"])
    assert done.exit_code == 0, done.output
    assert "1 file(s) restored, 1 deleted, 1 message(s) dropped" in done.output
    assert (project / "a.txt").read_text() == "a1\n" and not (project / "c.txt").exists()
    assert logger.last_seq(session.id) == 1

    again = runner.invoke(checkpoints_app, ["restore", "cp-1"])
    assert "nothing to change" in again.output

    assert runner.invoke(checkpoints_app, ["delete", "cp-1"]).exit_code == 0
    missing = runner.invoke(checkpoints_app, ["delete", "cp-1"])
    assert isinstance(missing.exception, ConfigError)
    assert "no checkpoints" in runner.invoke(checkpoints_app, ["list"]).output


def test_a_folder_without_sessions_says_so(project: Path) -> None:
    result = runner.invoke(checkpoints_app, ["list"])
    assert isinstance(result.exception, ConfigError)
    assert "no session yet" in str(result.exception)
