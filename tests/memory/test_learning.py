"""Recall and learning through the orchestrator, against scripted servers and the real store
(keyword-only on Anthropic, which has no embedding endpoint)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from moco.core.orchestrator import Orchestrator
from moco.errors import MocoError
from moco.events import Event, MemoryLearned, MemoryRecalled, RunFinished, Warning
from moco.storage.db import open_database
from moco.testing import Reply
from moco.testing.anthropic_server import ScriptedAnthropicServer
from tests.memory.conftest import NOTHING, learned

TANAKA = "Tanaka-san is the person to ask about expense reports."


class Events:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def run(server: ScriptedAnthropicServer, folder: Path, task: str, **options: Any) -> Events:
    sink = Events()
    env = {"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": server.base_url,
           "MOCO_HOME": os.environ["MOCO_HOME"]}
    Orchestrator(provider="anthropic", working_dir=folder, env=env, renderer=sink,
                 **options).run_sync(task)
    return sink


def user_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content)


def memories(include_superseded: bool = True) -> list[Any]:
    db = open_database()
    sql = "SELECT * FROM memories" + ("" if include_superseded else
                                      " WHERE superseded_by IS NULL")
    return db.query(sql + " ORDER BY id")


def test_a_run_teaches_the_next_one(scripted_anthropic: ScriptedAnthropicServer,
                                    project: Path) -> None:
    scripted_anthropic.add(Reply.say("I will ask Tanaka-san."), learned(TANAKA),
                           Reply.say("You should ask Tanaka-san."), NOTHING)
    first = run(scripted_anthropic, project, "Ask Tanaka-san about expense reports.")
    second = run(scripted_anthropic, project, "Who should I ask about expense reports?")
    learn_request = scripted_anthropic.requests[1].body
    assert "Ask Tanaka-san about expense reports." in user_text(learn_request)
    assert "JSON" in str(learn_request["system"]) and "tools" not in learn_request
    assert [e.added for e in first.of(MemoryLearned)] == [1]
    assert [e.type for e in first.events[-3:]] == ["usage", "memory_learned", "run_finished"]
    recalled = second.of(MemoryRecalled)
    assert len(recalled) == 1 and TANAKA in recalled[0].text
    sent = user_text(scripted_anthropic.requests[2].body)
    assert TANAKA in sent and sent.endswith("Who should I ask about expense reports?")
    assert "(fact, session:" in sent
    row = memories()[0]
    assert row["profile"] == "default" and row["project"] == str(project.resolve())


def test_the_block_is_not_stored_with_the_session(scripted_anthropic: ScriptedAnthropicServer,
                                                  project: Path) -> None:
    scripted_anthropic.add(Reply.say("Noted."), learned(TANAKA),
                           Reply.say("Tanaka-san."), NOTHING)
    run(scripted_anthropic, project, "Ask Tanaka-san about expense reports.")
    run(scripted_anthropic, project, "Who should I ask about expense reports?")
    stored = [row["content"] for row in open_database().query("SELECT content FROM messages")]
    assert stored and not any("Memory from earlier sessions" in text for text in stored)


def test_an_unrelated_question_recalls_nothing(scripted_anthropic: ScriptedAnthropicServer,
                                               project: Path) -> None:
    scripted_anthropic.add(Reply.say("Noted."), learned(TANAKA),
                           Reply.say("Paris."), NOTHING)
    run(scripted_anthropic, project, "Ask Tanaka-san about expense reports.")
    second = run(scripted_anthropic, project, "What is the capital of France?")
    assert second.of(MemoryRecalled) == []
    assert user_text(scripted_anthropic.requests[2].body) == "What is the capital of France?"


def test_the_same_fact_again_is_merged(scripted_anthropic: ScriptedAnthropicServer,
                                       project: Path) -> None:
    scripted_anthropic.add(Reply.say("Noted."), learned(TANAKA),
                           Reply.say("Noted again."), learned(TANAKA.upper()))
    run(scripted_anthropic, project, "Ask Tanaka-san about expense reports.")
    before = memories()[0]["updated_at"]
    second = run(scripted_anthropic, project, "Remember: Tanaka-san does expense reports.")
    rows = memories()
    assert len(rows) == 1 and rows[0]["updated_at"] > before
    assert [(e.added, e.merged) for e in second.of(MemoryLearned)] == [(0, 1)]


def test_a_contradiction_supersedes_the_old_memory(scripted_anthropic: ScriptedAnthropicServer,
                                                   project: Path) -> None:
    suzuki = "Suzuki-san is now the person to ask about expense reports."
    scripted_anthropic.add(Reply.say("Noted."), learned(TANAKA),
                           Reply.say("Understood."), learned(suzuki, replaces={suzuki: 1}))
    run(scripted_anthropic, project, "Ask Tanaka-san about expense reports.")
    second = run(scripted_anthropic, project,
                 "Tanaka-san moved to sales; expense reports go to Suzuki-san now.")
    assert "[1] " + TANAKA in user_text(scripted_anthropic.requests[3].body)
    old, new = memories()
    assert old["text"] == TANAKA and old["superseded_by"] == new["id"]
    assert new["text"] == suzuki
    assert [e.superseded for e in second.of(MemoryLearned)] == [1]
    assert [row["text"] for row in memories(include_superseded=False)] == [suzuki]


def test_a_trivial_run_makes_no_learning_call(scripted_anthropic: ScriptedAnthropicServer,
                                              project: Path) -> None:
    scripted_anthropic.add(Reply.say("Hello!"))
    events = run(scripted_anthropic, project, "hi")
    assert len(scripted_anthropic.requests) == 1 and events.of(Warning) == []


def test_a_failing_learning_call_is_a_warning(scripted_anthropic: ScriptedAnthropicServer,
                                              project: Path) -> None:
    scripted_anthropic.add(Reply.say("Noted."), Reply.say("Sure! Here is what I learned."))
    events = run(scripted_anthropic, project, "Ask Tanaka-san about expense reports.")
    warnings = [e.message for e in events.of(Warning)]
    assert len(warnings) == 1 and warnings[0].startswith("nothing learned from this run")
    assert memories() == []


def test_a_server_error_in_learning_does_not_fail_the_run(
        scripted_anthropic: ScriptedAnthropicServer, project: Path) -> None:
    scripted_anthropic.add(Reply.say("Noted."), Reply.error(400, "bad request"))
    events = run(scripted_anthropic, project, "Ask Tanaka-san about expense reports.")
    warning, finished = events.events[-2:]
    assert isinstance(warning, Warning) and "bad request" in warning.message
    assert isinstance(finished, RunFinished) and finished.status == "completed"


def profile(tmp_path: Path, memory_yaml: str) -> Path:
    folder = tmp_path / "profiles" / "remembering"
    (folder / "agents").mkdir(parents=True)
    (folder / "agents" / "assistant.md").write_text("---\nmode: primary\n---\nYou help.\n")
    (folder / "profile.yaml").write_text(memory_yaml)
    return folder


def test_memory_false_in_the_profile(scripted_anthropic: ScriptedAnthropicServer,
                                     project: Path, tmp_path: Path) -> None:
    scripted_anthropic.add(Reply.say("Noted."))
    run(scripted_anthropic, project, "Ask Tanaka-san about expense reports.",
        profile=profile(tmp_path, "memory: false\n"))
    assert len(scripted_anthropic.requests) == 1
    tools = {tool["name"] for tool in scripted_anthropic.requests[0].body["tools"]}
    assert "memory_search" not in tools and "read_file" in tools


def test_recall_without_learning(scripted_anthropic: ScriptedAnthropicServer, project: Path,
                                 tmp_path: Path) -> None:
    scripted_anthropic.add(Reply.say("Noted."), learned(TANAKA), Reply.say("Tanaka-san."))
    run(scripted_anthropic, project, "Ask Tanaka-san about expense reports.")
    folder = profile(tmp_path, "memory:\n  learn: false\n  recall: true\n  scope: profile\n")
    events = run(scripted_anthropic, project, "Who should I ask about expense reports?",
                 profile=folder)
    # the first run's memory was of the default profile: not this one's
    assert events.of(MemoryRecalled) == [] and len(scripted_anthropic.requests) == 3


def test_the_memory_setting_of_the_orchestrator(scripted_anthropic: ScriptedAnthropicServer,
                                                project: Path) -> None:
    scripted_anthropic.add(Reply.say("Noted."))
    run(scripted_anthropic, project, "Ask Tanaka-san about expense reports.", memory=False)
    assert len(scripted_anthropic.requests) == 1


def test_a_failed_run_is_not_learned_from(scripted_anthropic: ScriptedAnthropicServer,
                                          project: Path) -> None:
    scripted_anthropic.add(Reply.error(400, "context too long"))
    sink = Events()
    env = {"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": scripted_anthropic.base_url,
           "MOCO_HOME": os.environ["MOCO_HOME"]}
    orchestrator = Orchestrator(provider="anthropic", working_dir=project, env=env,
                                renderer=sink)
    with pytest.raises(MocoError, match="context too long"):
        orchestrator.run_sync("Ask Tanaka-san about expense reports.")
    assert len(scripted_anthropic.requests) == 1 and sink.of(MemoryLearned) == []


def test_the_learning_model_is_the_profiles(scripted_anthropic: ScriptedAnthropicServer,
                                            project: Path, tmp_path: Path) -> None:
    scripted_anthropic.add(Reply.say("Noted."), learned(TANAKA))
    run(scripted_anthropic, project, "Ask Tanaka-san about expense reports.",
        profile=profile(tmp_path, "memory:\n  model: claude-haiku-5-5\n"))
    agent, learning = (request.body["model"] for request in scripted_anthropic.requests)
    assert agent != learning and learning == "claude-haiku-5-5"


def test_a_session_does_not_recall_what_it_learned_itself(
        scripted_anthropic: ScriptedAnthropicServer, project: Path) -> None:
    scripted_anthropic.add(Reply.say("Noted."), learned(TANAKA),
                           Reply.say("Tanaka-san, as you said."), NOTHING)
    env = {"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": scripted_anthropic.base_url,
           "MOCO_HOME": os.environ["MOCO_HOME"]}
    sink = Events()
    orchestrator = Orchestrator(provider="anthropic", working_dir=project, env=env,
                                renderer=sink)
    session = orchestrator.create_session()
    orchestrator.run_sync("Ask Tanaka-san about expense reports.", session_id=session)
    orchestrator.run_sync("Who should I ask about expense reports?", session_id=session)
    # the history holds the first turn: recalling it again would only cost tokens
    assert sink.of(MemoryRecalled) == []
    assert memories()[0]["source"] == f"session:{session}"


def test_a_later_turn_may_contradict_what_the_session_learned(
        scripted_anthropic: ScriptedAnthropicServer, project: Path, tmp_path: Path) -> None:
    suzuki = "Suzuki-san handles expense reports now."
    scripted_anthropic.add(Reply.say("Noted."), learned(TANAKA),
                           Reply.say("Understood."), learned(suzuki, replaces={suzuki: 1}))
    env = {"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": scripted_anthropic.base_url,
           "MOCO_HOME": os.environ["MOCO_HOME"]}
    orchestrator = Orchestrator(provider="anthropic", working_dir=project, env=env,
                                profile=profile(tmp_path, "memory: {recall: false}\n"))
    session = orchestrator.create_session()
    orchestrator.run_sync("Ask Tanaka-san about expense reports.", session_id=session)
    orchestrator.run_sync("No wait, expense reports go to Suzuki-san now.", session_id=session)
    assert f"[1] {TANAKA}" in user_text(scripted_anthropic.requests[3].body)
    assert [row["text"] for row in memories(include_superseded=False)] == [suzuki]
