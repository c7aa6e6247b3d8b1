"""The todo list, the loaded skills and the /model choice belong to the session: a new
process (a new Orchestrator) reopening it finds them, and checkpoints keep them."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from moco.chat.commands import dispatch
from moco.chat.state import ChatState
from moco.chat.turns import run_turn
from moco.core.checkpoint import CheckpointManager, restore_checkpoint, save_checkpoint
from moco.core.orchestrator import Orchestrator
from moco.storage.session_logger import SessionLogger
from moco.storage.session_state import SessionStateStore
from moco.testing import RecordedRequest, Reply, ScriptedOpenAIServer


@pytest.fixture
def env(scripted_openai: ScriptedOpenAIServer, moco_home: Path) -> dict[str, str]:
    return {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": scripted_openai.base_url,
            "MOCO_HOME": str(moco_home)}


def todos(*items: tuple[str, str]) -> dict[str, object]:
    return {"todos": [{"content": content, "status": status} for content, status in items]}


def tool_output(request: RecordedRequest) -> str:
    """The content of the last message the model was sent (a tool result)."""
    last = request.body["messages"][-1]
    assert last["role"] == "tool"
    return str(last["content"])


def test_todos_written_in_one_process_are_read_in_the_next(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], tmp_path: Path
) -> None:
    scripted_openai.add(
        Reply.call("todowrite", todos(("map the modules", "completed"),
                                      ("split runtime.py", "in_progress"))),
        Reply.say("planned"),
    )
    first = Orchestrator(provider="openai", working_dir=tmp_path, env=env)
    session_id = first.create_session(name="plan")
    assert first.run_sync("plan the refactor", session_id=session_id) == "planned"

    scripted_openai.add(Reply.call("todoread", {}), Reply.say("read"))
    second = Orchestrator(provider="openai", working_dir=tmp_path, env=env)
    assert second.run_sync("where are we?", session_id="plan") == "read"
    shown = tool_output(scripted_openai.requests[-1])
    assert "no todos" not in shown
    assert "[x] 1. map the modules" in shown and "[>] 2. split runtime.py" in shown


def test_todos_are_stored_when_written_not_when_the_run_ends(
    tmp_path: Path, moco_home: Path
) -> None:
    """What a killed process had done is kept: the store holds the list while the run is
    still going (checked from another connection when the model is asked again)."""
    seen: list[list[str]] = []
    replies = iter([Reply.call("todowrite", todos(("write the test", "in_progress"))),
                    Reply.say("done")])

    def script(request: RecordedRequest) -> Reply:
        if len(seen) < 1 and request.body["messages"][-1]["role"] == "tool":
            other = SessionStateStore(SessionLogger.open().db)
            stored = [other.load(s.id) for s in SessionLogger.open().list_sessions()]
            seen.append([str(t["content"]) for state in stored if state for t in state.todos])
        return next(replies)

    with ScriptedOpenAIServer(script) as server:
        env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url,
               "MOCO_HOME": str(moco_home)}
        Orchestrator(provider="openai", working_dir=tmp_path, env=env).run_sync("go")
    assert seen == [["write the test"]]


def test_a_loaded_skill_is_still_loaded_after_resuming(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], tmp_path: Path, fixtures: Path
) -> None:
    shutil.copytree(fixtures / "skills" / "release-notes",
                    tmp_path / ".claude" / "skills" / "release-notes")
    scripted_openai.add(Reply.call("load_skill", {"name": "release-notes"}), Reply.say("loaded"))
    first = Orchestrator(provider="openai", working_dir=tmp_path, env=env)
    first.run_sync("write the release notes")
    session_id = first.session_id
    assert session_id is not None

    scripted_openai.add(Reply.call("list_loaded_skills", {}), Reply.say("listed"))
    second = Orchestrator(provider="openai", working_dir=tmp_path, env=env)
    second.run_sync("which skills are loaded?", session_id=session_id)
    assert "- release-notes (" in tool_output(scripted_openai.requests[-1])
    assert second.carry_over().skills == ["release-notes"]


def test_a_new_session_starts_without_the_last_sessions_todos(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], tmp_path: Path
) -> None:
    scripted_openai.add(Reply.call("todowrite", todos(("old work", "pending"))), Reply.say("a"),
                        Reply.call("todoread", {}), Reply.say("b"))
    orchestrator = Orchestrator(provider="openai", working_dir=tmp_path, env=env)
    orchestrator.run_sync("first session")
    orchestrator.run_sync("another session")
    assert tool_output(scripted_openai.requests[-1]) == "no todos"


class Captured(io.StringIO):
    def isatty(self) -> bool:
        return False


def chat_on(orchestrator: Orchestrator, session_id: str | None = None) -> ChatState:
    return ChatState(orchestrator, session_id, out=Captured(), err=Captured())


async def test_the_model_chosen_with_slash_model_comes_back_with_chat_s(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], tmp_path: Path
) -> None:
    scripted_openai.add(Reply.say("hello"), Reply.say("again"))
    first = chat_on(Orchestrator(provider="openai", working_dir=tmp_path, env=env))
    await dispatch(first, "/model gpt-4.1-mini")  # before the session exists
    assert await run_turn(first, "hi") == "completed"
    session_id = first.session_id
    assert session_id is not None and scripted_openai.requests[0].body["model"] == "gpt-4.1-mini"

    # what `moco chat -s <id>` builds: a fresh orchestrator, no -m
    second = chat_on(Orchestrator(provider="openai", working_dir=tmp_path, env=env), session_id)
    assert second.orchestrator.settings.model == "gpt-4.1-mini"
    assert await run_turn(second, "and now?") == "completed"
    assert scripted_openai.requests[1].body["model"] == "gpt-4.1-mini"

    # a model named on the command line wins over the session's choice
    third = chat_on(Orchestrator(provider="openai", model="gpt-4o", working_dir=tmp_path,
                                 env=env), session_id)
    assert third.orchestrator.settings.model == "gpt-4o"


def test_checkpoint_restore_brings_back_that_checkpoints_todos(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], tmp_path: Path
) -> None:
    scripted_openai.add(
        Reply.call("todowrite", todos(("step one", "in_progress"))), Reply.say("one"),
        Reply.call("todowrite", todos(("step one", "completed"), ("step two", "in_progress"))),
        Reply.say("two"),
    )
    orchestrator = Orchestrator(provider="openai", working_dir=tmp_path, env=env)
    orchestrator.run_sync("first")
    session_id = orchestrator.session_id
    assert session_id is not None
    save_checkpoint(orchestrator, "after-one")
    orchestrator.run_sync("second", session_id=session_id)
    assert len(orchestrator.state["todos"]) == 2

    restore_checkpoint(orchestrator, "after-one")
    assert [t["content"] for t in orchestrator.state["todos"]] == ["step one"]

    # the store was rewound too: a new process sees the checkpoint's list
    scripted_openai.add(Reply.call("todoread", {}), Reply.say("read"))
    Orchestrator(provider="openai", working_dir=tmp_path, env=env).run_sync(
        "where are we?", session_id=session_id)
    shown = tool_output(scripted_openai.requests[-1])
    assert "[>] 1. step one" in shown and "step two" not in shown


def test_checkpoints_saved_outside_a_chat_keep_the_stored_todos(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], tmp_path: Path
) -> None:
    """`moco checkpoints save` has no orchestrator: the session's stored list is kept."""
    scripted_openai.add(Reply.call("todowrite", todos(("keep me", "pending"))), Reply.say("ok"))
    orchestrator = Orchestrator(provider="openai", working_dir=tmp_path, env=env)
    orchestrator.run_sync("plan")
    assert orchestrator.session_id is not None
    manager = CheckpointManager(SessionLogger.open(), orchestrator.session_id)
    saved = manager.save("cli")
    assert saved.todos is not None and [t["content"] for t in saved.todos] == ["keep me"]


@pytest.mark.slow
def test_moco_run_continue_sees_the_todos_of_the_last_run(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path, moco_home: Path
) -> None:
    scripted_openai.add(Reply.call("todowrite", todos(("ship it", "in_progress"))),
                        Reply.say("planned"), Reply.call("todoread", {}), Reply.say("read"))
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(OPENAI_API_KEY="k", OPENAI_BASE_URL=scripted_openai.base_url,
               MOCO_HOME=str(moco_home))
    env.pop("MOCO_DEFAULT_PROVIDER", None)
    for args in (["-s", "work", "plan"], ["-c", "where are we?"]):
        done = subprocess.run([sys.executable, "-m", "moco", "run", *args], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    assert "[>] 1. ship it" in tool_output(scripted_openai.requests[-1])
