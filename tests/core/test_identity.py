"""Run identity: every event says which agent invocation, parent and session it belongs to."""

from __future__ import annotations

from pathlib import Path

import pytest

from moco.core.events import (
    AgentDelegated,
    AgentReturned,
    Event,
    RunFinished,
    RunIdentity,
    RunStarted,
    TextDelta,
    child_path,
    leaf_name,
    path_depth,
    root_finish,
)
from moco.core.orchestrator import Orchestrator
from moco.testing import Reply, RoutedScript, ScriptedOpenAIServer, ToolCall


def agent(name: str, *, mode: str = "subagent") -> str:
    return f"---\ndescription: {name} agent\nmode: {mode}\n---\nYou are {name}.\n"


@pytest.fixture
def team(tmp_path: Path) -> Path:
    folder = tmp_path / ".moco" / "profiles" / "team" / "agents"
    folder.mkdir(parents=True)
    (folder / "lead.md").write_text(agent("lead", mode="primary"))
    (folder / "coder.md").write_text(agent("coder"))
    return tmp_path


def orchestrator(server: ScriptedOpenAIServer, workdir: Path) -> Orchestrator:
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.base_url}
    return Orchestrator(profile="team", provider="openai", working_dir=workdir, env=env)


def delegate(task: str) -> ToolCall:
    return ToolCall("delegate_to_agent", {"agent_name": "coder", "task": task})


def two_coders() -> RoutedScript:
    """The lead sends two tasks to the same sub-agent at once; the first answer is slower,
    so the runs finish in the opposite order to how they started."""
    return RoutedScript({
        "You are lead.": [Reply.calls(delegate("task A"), delegate("task B")),
                          Reply.say("both merged")],
        "You are coder.": [Reply.say("answer one", latency=0.3, input_tokens=11, output_tokens=3),
                           Reply.say("answer two", input_tokens=29, output_tokens=7)],
    })


async def collect(orch: Orchestrator, task: str, session_id: str | None = None) -> list[Event]:
    return [event async for event in orch.events(task, session_id=session_id)]


async def test_parallel_runs_of_one_agent_are_separate_runs(team: Path) -> None:
    with ScriptedOpenAIServer(two_coders()) as server:
        orch = orchestrator(server, team)
        events = await collect(orch, "split the work")
    assert orch.session_id is not None
    coder_starts = [e for e in events if isinstance(e, RunStarted) and e.agent_name == "coder"]
    assert len(coder_starts) == 2
    assert {e.agent for e in coder_starts} == {"lead > coder"}
    assert coder_starts[0].run_id != coder_starts[1].run_id
    finishes = {e.run_id: e for e in events if isinstance(e, RunFinished)}
    # each run's answer and tokens stay with that run, whichever finished first
    by_task = {e.task: finishes[e.run_id] for e in coder_starts}
    outputs = {task: (f.output, f.input_tokens, f.output_tokens) for task, f in by_task.items()}
    assert sorted(outputs.values()) == [("answer one", 11, 3), ("answer two", 29, 7)]
    runs = {run.id: run for run in orch.sessions.runs(orch.session_id)}
    assert len(runs) == 3
    for start in coder_starts:
        stored = runs[start.run_id]
        assert stored.status == "completed" and stored.task == start.task
        assert (stored.input_tokens, stored.output_tokens) == (
            finishes[start.run_id].input_tokens, finishes[start.run_id].output_tokens)
        assert stored.parent_run_id == start.parent_run_id
    delegated = [e for e in events if isinstance(e, AgentDelegated)]
    returned = [e for e in events if isinstance(e, AgentReturned)]
    assert {e.child_run_id for e in delegated} == {e.run_id for e in coder_starts}
    assert {e.child_run_id for e in returned} == {e.run_id for e in coder_starts}


async def test_every_event_names_its_run_parent_and_session(team: Path) -> None:
    with ScriptedOpenAIServer(two_coders()) as server:
        orch = orchestrator(server, team)
        session = orch.create_session(name="spine")
        events = await collect(orch, "split the work", session_id="spine")
    root = next(e for e in events if isinstance(e, RunStarted) and e.is_root)
    assert root.session_id == session and root.parent_run_id is None
    assert root.agent == root.agent_name == "lead"
    for event in events:
        assert event.run_id, f"{event.type} has no run_id"
        assert event.session_id == session, f"{event.type} has session {event.session_id}"
        if event.agent_name == "coder":
            assert event.parent_run_id == root.run_id and not event.is_root
    deltas = {e.run_id for e in events if isinstance(e, TextDelta) and e.agent_name == "coder"}
    assert len(deltas) == 2, "the two coders' text is told apart by run id"


async def test_root_finish_is_the_top_level_run_only(team: Path) -> None:
    with ScriptedOpenAIServer(two_coders()) as server:
        events = await collect(orchestrator(server, team), "split the work")
    finished = [f for f in map(root_finish, events) if f is not None]
    assert len(finished) == 1 and finished[0].output == "both merged"
    assert sum(isinstance(e, RunFinished) for e in events) == 3


async def test_a_second_run_of_one_orchestrator_gets_a_new_run_id(team: Path) -> None:
    script = RoutedScript({"You are lead.": [Reply.say("one"), Reply.say("two")]})
    with ScriptedOpenAIServer(script) as server:
        orch = orchestrator(server, team)
        first = await collect(orch, "first")
        second = await collect(orch, "second", session_id=orch.session_id)
    assert first[0].run_id != second[0].run_id
    assert first[0].session_id == second[0].session_id == orch.session_id


async def test_an_empty_task_is_refused_before_any_request(team: Path) -> None:
    from moco.errors import ConfigError

    with ScriptedOpenAIServer(RoutedScript({})) as server:
        orch = orchestrator(server, team)
        with pytest.raises(ConfigError, match="task is empty"):
            await collect(orch, "  \n ")
        assert server.requests == []


def test_paths_and_identities() -> None:
    root = RunIdentity(run_id="r1", agent_name="lead", path="lead", session_id="s")
    child = root.child("coder", "r2")
    assert child.path == child_path("lead", "coder") == "lead > coder"
    assert (child.parent_run_id, child.session_id, child.agent_name) == ("r1", "s", "coder")
    assert path_depth(child.path) == 1 and path_depth(root.path) == 0
    assert leaf_name(child.path) == "coder"
    assert child.fields()["run_id"] == "r2"
