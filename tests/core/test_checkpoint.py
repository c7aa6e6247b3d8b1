"""Checkpoints: the real Orchestrator, the real tools and database, a scripted model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from moco.core.checkpoint import (
    CheckpointManager,
    CheckpointNotFound,
    DuplicateCheckpoint,
    FileTracker,
    manager_for,
    restore_checkpoint,
    save_checkpoint,
)
from moco.core.messages import Message
from moco.core.orchestrator import Orchestrator
from moco.errors import ConfigError
from moco.storage.session_logger import SessionLogger
from moco.testing import Reply, ScriptedOpenAIServer, ToolCall

#: every test on the SQLite file and on a PostgreSQL store (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("db_backend")


@pytest.fixture
def orchestrator(scripted_openai: ScriptedOpenAIServer, tmp_path: Path) -> Orchestrator:
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": scripted_openai.base_url}
    if "MOCO_DB_URL" in os.environ:  # db_backend's PostgreSQL store
        env["MOCO_DB_URL"] = os.environ["MOCO_DB_URL"]
    work = tmp_path / "work"
    work.mkdir()
    return Orchestrator(provider="openai/gpt-4.1", working_dir=work, env=env)


def open_session(orch: Orchestrator) -> str:
    """What the orchestrator does when it opens a session (the lead's wiring), done early so
    that the first run is tracked too."""
    session_id = orch.create_session(title="checkpoints")
    orch.session_id = session_id
    orch.file_tracker = FileTracker(orch.sessions, session_id)  # type: ignore[attr-defined]
    return session_id


def todo(content: str, status: str = "in_progress") -> dict[str, str]:
    return {"content": content, "status": status}


def texts(request_messages: list[dict[str, object]]) -> str:
    return "\n".join(str(m.get("content") or "") for m in request_messages)


def test_restore_rewinds_files_messages_and_todos(
    scripted_openai: ScriptedOpenAIServer, orchestrator: Orchestrator
) -> None:
    work = orchestrator.working_dir
    (work / "b.txt").write_text("b original\n")
    session_id = open_session(orchestrator)
    start = save_checkpoint(orchestrator)
    scripted_openai.add(
        Reply.calls(
            ToolCall("write_file", {"path": "a.txt", "content": "a one\n"}),
            ToolCall("edit_file", {"path": "b.txt", "old_string": "original",
                                   "new_string": "edited"}),
            ToolCall("todowrite", {"todos": [todo("first step")]}),
        ),
        Reply.say("run one done"),
    )
    assert orchestrator.run_sync("first task", session_id=session_id) == "run one done"
    cp = save_checkpoint(orchestrator, "cp")
    assert cp.seq == orchestrator.sessions.last_seq(session_id) > start.seq == 0
    assert cp.todos is not None and cp.todos[0]["content"] == "first step"
    assert {Path(p).name for p in cp.manifest} == {"a.txt", "b.txt"}

    scripted_openai.add(
        Reply.calls(
            ToolCall("edit_file", {"path": "a.txt", "old_string": "one", "new_string": "two"}),
            ToolCall("write_file", {"path": "new/c.txt", "content": "c\n"}),
            ToolCall("todowrite", {"todos": [todo("first step", "completed"),
                                             todo("second step")]}),
        ),
        Reply.say("run two done"),
    )
    orchestrator.run_sync("second task", session_id=session_id)
    assert (work / "a.txt").read_text() == "a two\n" and (work / "new" / "c.txt").exists()
    assert len(orchestrator.state["todos"]) == 2

    result = restore_checkpoint(orchestrator, "cp")
    assert (work / "a.txt").read_text() == "a one\n"
    assert (work / "b.txt").read_text() == "b edited\n"
    assert not (work / "new" / "c.txt").exists()
    assert sorted(p.name for p in result.restored) == ["a.txt"]
    assert [p.name for p in result.removed] == ["c.txt"]
    assert result.messages_dropped > 0 and result.applied
    assert orchestrator.sessions.last_seq(session_id) == cp.seq
    assert orchestrator.state["todos"] == cp.todos
    assert (result.working_dir, result.profile, result.model) == (
        str(work), "default", "gpt-4.1")

    scripted_openai.add(Reply.say("run three done"))
    assert orchestrator.run_sync("third task", session_id=session_id) == "run three done"
    seen = texts(scripted_openai.requests[-1].body["messages"])
    assert "first task" in seen and "run one done" in seen and "third task" in seen
    assert "second task" not in seen and "run two done" not in seen

    back = restore_checkpoint(orchestrator, start.name)
    assert not (work / "a.txt").exists()
    assert (work / "b.txt").read_text() == "b original\n"
    assert back.checkpoints_dropped == ["cp"] and back.todos == []
    assert orchestrator.sessions.last_seq(session_id) == 0
    assert [c.name for c in manager_for(orchestrator).list()] == [start.name]


def test_files_first_changed_after_a_checkpoint_return_to_their_original(
    scripted_openai: ScriptedOpenAIServer, orchestrator: Orchestrator
) -> None:
    work = orchestrator.working_dir
    (work / "late.txt").write_text("untouched until run two\n")
    session_id = open_session(orchestrator)
    scripted_openai.add(Reply.call("write_file", {"path": "early.txt", "content": "1\n"}),
                        Reply.say("one"))
    orchestrator.run_sync("one", session_id=session_id)
    save_checkpoint(orchestrator, "after-one")
    scripted_openai.add(Reply.call("write_file", {"path": "late.txt", "content": "changed\n"}),
                        Reply.say("two"))
    orchestrator.run_sync("two", session_id=session_id)
    manager = manager_for(orchestrator)
    plan = manager.preview("after-one")
    assert [p.name for p in plan.restored] == ["late.txt"] and not plan.applied
    assert (work / "late.txt").read_text() == "changed\n"  # a preview changes nothing
    manager.restore("after-one")
    assert (work / "late.txt").read_text() == "untouched until run two\n"
    assert (work / "early.txt").read_text() == "1\n"


@pytest.fixture
def logger() -> SessionLogger:
    return SessionLogger.open()


def session_in(logger: SessionLogger, folder: Path) -> str:
    return logger.create_session(title="t", profile="default", model="m", working_dir=folder).id


def test_binary_files_round_trip(logger: SessionLogger, tmp_path: Path) -> None:
    manager = CheckpointManager(logger, session_in(logger, tmp_path))
    path = tmp_path / "blob.bin"
    original = bytes(range(256)) * 64 + b"\x00\xff\r\n"
    path.write_bytes(original)
    manager.save("before")
    manager.tracker.before_change(path)
    second = bytes(reversed(original))
    path.write_bytes(second)
    manager.save("after")
    manager.tracker.before_change(path)
    path.write_bytes(b"third")
    assert manager.restore("after").restored == [path]
    assert path.read_bytes() == second
    manager.restore("before")
    assert path.read_bytes() == original


def test_auto_names_duplicates_and_bad_names(logger: SessionLogger, tmp_path: Path) -> None:
    session_id = session_in(logger, tmp_path)
    manager = CheckpointManager(logger, session_id)
    assert [manager.save().name for _ in range(3)] == ["cp-1", "cp-2", "cp-3"]
    manager.save("cp-7")
    assert manager.save().name == "cp-8"
    with pytest.raises(DuplicateCheckpoint, match="already has a checkpoint named 'cp-2'"):
        manager.save("cp-2")
    with pytest.raises(ConfigError, match="cannot be empty"):
        manager.save("  ")
    with pytest.raises(ConfigError, match="one word"):
        manager.save("two words")
    with pytest.raises(CheckpointNotFound, match="cp-1, cp-2"):
        manager.restore("ghost")
    other = CheckpointManager(logger, session_in(logger, tmp_path))
    assert other.save().name == "cp-1"  # names are per session
    assert manager.get("cp-8") is not None and manager.get("cp-9") is None


def test_restore_drops_later_checkpoints_and_blobs_are_collected(
    logger: SessionLogger, tmp_path: Path
) -> None:
    session_id = session_in(logger, tmp_path)
    manager = CheckpointManager(logger, session_id)
    path = tmp_path / "f.txt"
    for step in range(3):
        logger.append_message(session_id, Message.user(f"step {step}"), agent="main")
        manager.tracker.before_change(path)
        path.write_text(f"version {step}\n")
        manager.save(f"s{step}")

    def blobs() -> int:
        row = logger.db.query_one("SELECT COUNT(*) FROM file_blobs WHERE session_id = ?",
                                  (session_id,))
        return int(row[0]) if row else 0

    assert blobs() == 3  # the original was absence: nothing stored for it
    result = manager.restore("s0")
    assert result.checkpoints_dropped == ["s1", "s2"] and result.messages_dropped == 2
    assert path.read_text() == "version 0\n" and blobs() == 1
    assert manager.delete("s0") and not manager.delete("s0")
    assert blobs() == 0
    logger.delete_session(session_id)
    assert logger.db.query("SELECT * FROM tracked_files WHERE session_id = ?", (session_id,)) == []


def test_large_files_are_noted_and_left_alone(logger: SessionLogger, tmp_path: Path) -> None:
    session_id = session_in(logger, tmp_path)
    tracker = FileTracker(logger, session_id, max_bytes=100)
    manager = CheckpointManager(logger, session_id, tracker=tracker)
    big = tmp_path / "big.log"
    big.write_bytes(b"x" * 500)
    manager.save("start")
    tracker.before_change(big)
    big.write_bytes(b"small now")
    assert "over the 100-byte limit" in tracker.notes()[str(big)]
    result = manager.restore("start")
    assert result.restored == [] and result.skipped[0][0] == big
    assert "too large" in result.skipped[0][1]
    assert big.read_bytes() == b"small now"


def test_a_restore_forgets_a_compaction_of_dropped_messages(
    logger: SessionLogger, tmp_path: Path
) -> None:
    session_id = session_in(logger, tmp_path)
    manager = CheckpointManager(logger, session_id)
    logger.append_message(session_id, Message.user("one"), agent="main")
    manager.save("early")
    for text in ("two", "three"):
        logger.append_message(session_id, Message.user(text), agent="main")
    logger.update_session(session_id, metadata={"compaction": {"upto_seq": 2}, "keep": 1})
    manager.restore("early")
    assert logger.require_session(session_id).metadata == {"keep": 1}


def test_repl_helpers_need_a_session(orchestrator: Orchestrator) -> None:
    with pytest.raises(ConfigError, match="no session"):
        save_checkpoint(orchestrator)


async def test_file_tools_call_the_hook_before_writing_and_only_when_writing(
    tmp_path: Path,
) -> None:
    from moco.errors import ToolError
    from moco.tools.base import get_tool
    from moco.tools.context import ToolContext
    from moco.tools.filesystem import edit_file, write_file

    seen: list[tuple[str, bool, str]] = []

    def hook(path: Path) -> None:
        seen.append((path.name, path.exists(), path.read_text() if path.exists() else ""))

    ctx = ToolContext(working_dir=tmp_path, on_file_change=hook)
    write, edit = get_tool(write_file), get_tool(edit_file)
    assert write is not None and edit is not None
    await write.invoke(ctx, {"path": "n.txt", "content": "old\n"})
    await edit.invoke(ctx, {"path": "n.txt", "old_string": "old", "new_string": "new"})
    with pytest.raises(ToolError):
        await edit.invoke(ctx, {"path": "n.txt", "old_string": "absent", "new_string": "x"})
    assert seen == [("n.txt", False, ""), ("n.txt", True, "old\n")]
