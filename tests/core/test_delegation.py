"""Delegation: sub-agents as tools, parallel fan-out, hierarchies, guards, @mentions."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from moco.core.events import (
    AgentDelegated,
    AgentReturned,
    Event,
    RunFinished,
    ToolCallFinished,
)
from moco.core.orchestrator import Orchestrator
from moco.testing import Reply, RoutedScript, ScriptedOpenAIServer, ToolCall


def agent(name: str, *, mode: str = "subagent", tools: str = "", model: str = "",
          description: str = "") -> str:
    lines = ["---", f"description: {description or name + ' agent'}", f"mode: {mode}"]
    if tools:
        lines.append(f"tools: {tools}")
    if model:
        lines.append(f"model: {model}")
    return "\n".join([*lines, "---", f"You are {name}.", ""])


@pytest.fixture
def team(tmp_path: Path) -> Path:
    folder = tmp_path / ".moco" / "profiles" / "team" / "agents"
    folder.mkdir(parents=True)
    (folder / "lead.md").write_text(agent("lead", mode="primary"))
    (folder / "architect.md").write_text(
        agent("architect", tools="[read_file, delegate_to_agent]"))
    (folder / "api-designer.md").write_text(agent("api-designer", model="gpt-4o-mini"))
    (folder / "coder.md").write_text(agent("coder"))
    return tmp_path


def orchestrator(server: ScriptedOpenAIServer, workdir: Path, **options: object) -> Orchestrator:
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.base_url}
    return Orchestrator(profile="team", provider="openai", working_dir=workdir, env=env,
                        **options)  # type: ignore[arg-type]


async def collect(orch: Orchestrator, task: str) -> list[Event]:
    return [event async for event in orch.events(task)]


def assert_ran_at_once(events: list[Event], children: Iterable[str]) -> None:
    """Every one of ``children`` (paths) was delegated before any of them returned: run one
    after another, the first would return before the second is delegated. (The scripted
    latency of the children is only a margin for this order, never a measured bound.)"""
    wanted = set(children)
    order = [(type(e).__name__, e.child) for e in events
             if isinstance(e, AgentDelegated | AgentReturned) and e.child in wanted]
    starts = [i for i, (kind, _) in enumerate(order) if kind == "AgentDelegated"]
    ends = [i for i, (kind, _) in enumerate(order) if kind == "AgentReturned"]
    assert len(starts) == len(ends) == len(wanted), order
    assert max(starts) < min(ends), order


def delegate(name: str, task: str) -> ToolCall:
    return ToolCall("delegate_to_agent", {"agent_name": name, "task": task})


async def test_parallel_delegations_overlap_and_return(team: Path) -> None:
    script = RoutedScript({
        "You are lead.": [Reply.calls(delegate("coder", "write a"), delegate("architect", "plan")),
                          Reply.say("Both done.")],
        "You are coder.": [Reply.say("code written", latency=0.2)],
        "You are architect.": [Reply.say("plan made", latency=0.2)],
    })
    with ScriptedOpenAIServer(script) as server:
        events = await collect(orchestrator(server, team), "build it")
        lead_request = next(r for r in server.requests if "You are lead." in r.system_text
                            and any(m["role"] == "tool" for m in r.body["messages"]))
    assert_ran_at_once(events, ["lead > coder", "lead > architect"])
    results = {m["content"] for m in lead_request.body["messages"] if m["role"] == "tool"}
    assert results == {"code written", "plan made"}
    delegated = [e for e in events if isinstance(e, AgentDelegated)]
    assert {e.child for e in delegated} == {"lead > coder", "lead > architect"}
    returned = [e for e in events if isinstance(e, AgentReturned)]
    assert {e.output for e in returned} == {"code written", "plan made"}
    child_finish = [e for e in events if isinstance(e, RunFinished) and e.agent == "lead > coder"]
    assert child_finish and child_finish[0].input_tokens == 10
    assert isinstance(events[-1], RunFinished) and events[-1].output == "Both done."


async def test_delegate_tool_lists_agents_and_subagents_have_none(team: Path) -> None:
    script = RoutedScript({
        "You are lead.": [Reply.calls(delegate("coder", "x")), Reply.say("ok")],
        "You are coder.": [Reply.say("done")],
    })
    with ScriptedOpenAIServer(script) as server:
        await collect(orchestrator(server, team), "go")
        lead = next(r for r in server.requests if "You are lead." in r.system_text)
        coder = next(r for r in server.requests if "You are coder." in r.system_text)
    tool = next(t["function"] for t in lead.body["tools"]
                if t["function"]["name"] == "delegate_to_agent")
    for name in ("architect", "api-designer", "coder"):
        assert f"- {name}: {name} agent" in tool["description"]
    assert "- lead" not in tool["description"]
    assert "delegate_to_agent" not in {t["function"]["name"] for t in coder.body["tools"]}
    assert coder.body["messages"][1] == {"role": "user", "content": "x"}


async def test_hierarchy_paths_and_model_override(team: Path) -> None:
    script = RoutedScript({
        "You are lead.": [Reply.calls(delegate("architect", "design")), Reply.say("shipped")],
        "You are architect.": [Reply.calls(delegate("api-designer", "endpoints")),
                               Reply.say("architecture with endpoints")],
        "You are api-designer.": [Reply.say("GET /items")],
    })
    with ScriptedOpenAIServer(script) as server:
        events = await collect(orchestrator(server, team), "go")
        designer = next(r for r in server.requests if "You are api-designer." in r.system_text)
    assert designer.body["model"] == "gpt-4o-mini"
    paths = {e.agent for e in events}
    assert "lead > architect > api-designer" in paths
    finished = [e for e in events if isinstance(e, ToolCallFinished)
                and e.agent == "lead > architect"]
    assert finished[0].result == "GET /items"


def refusals(events: list[Event], agent: str) -> list[str]:
    """The error results of ``agent``'s tool calls, in order."""
    return [e.result for e in events
            if isinstance(e, ToolCallFinished) and e.is_error and e.agent == agent]


async def test_unknown_agent_and_depth_are_refused(team: Path) -> None:
    script = RoutedScript({
        "You are lead.": [Reply.calls(delegate("architect", "a"), delegate("ghost", "b")),
                          Reply.say("done")],
        "You are architect.": [Reply.calls(delegate("lead", "primary, not delegable")),
                               Reply.calls(delegate("api-designer", "deeper")),
                               Reply.say("gave up")],
    })
    with ScriptedOpenAIServer(script) as server:
        events = await collect(orchestrator(server, team, max_depth=1), "go")
    [ghost] = refusals(events, "lead")
    assert "unknown agent 'ghost'" in ghost and "coder" in ghost
    primary, depth = refusals(events, "lead > architect")
    assert "unknown agent 'lead'" in primary  # a primary agent is not a sub-agent
    assert "refused: the delegation depth limit (1) is reached" in depth


async def test_delegating_to_an_agent_already_in_the_chain_is_a_cycle(team: Path) -> None:
    """architect (a sub-agent) asks for architect again: refused by the cycle check, which
    comes before the depth check, even when the depth limit would allow the call."""
    script = RoutedScript({
        "You are lead.": [Reply.calls(delegate("architect", "plan")), Reply.say("done")],
        "You are architect.": [Reply.calls(delegate("architect", "plan it again")),
                               Reply.say("planned alone")],
    })
    with ScriptedOpenAIServer(script) as server:
        events = await collect(orchestrator(server, team, max_depth=5), "go")
        architect_requests = [r for r in server.requests if "You are architect." in r.system_text]
    [cycle] = refusals(events, "lead > architect")
    assert cycle.startswith("Error: refused: delegating to architect would form a cycle (")
    assert "lead > architect > architect" in cycle
    assert "depth limit" not in cycle
    assert len(architect_requests) == 2  # no second architect was started
    assert not any(isinstance(e, AgentDelegated) and e.child.endswith("architect > architect")
                   for e in events)


async def test_at_mention_task_goes_straight_to_the_agent(team: Path) -> None:
    script = RoutedScript({"You are coder.": [Reply.say("direct answer")]})
    with ScriptedOpenAIServer(script) as server:
        orch = orchestrator(server, team)
        assert await orch.run("@coder fix the bug") == "direct answer"
        assert server.requests[0].body["messages"][1]["content"] == "fix the bug"


async def test_mention_lines_fan_out_and_come_back(team: Path) -> None:
    answer = ("I'll ask the team.\n@coder implement the parser\nuse the stdlib\n"
              "@architect review the design\n")
    script = RoutedScript({
        "You are lead.": [Reply.say(answer), Reply.say("Synthesis: parser + review.")],
        "You are coder.": [Reply.say("parser done", latency=0.2)],
        "You are architect.": [Reply.say("design ok", latency=0.2)],
    })
    with ScriptedOpenAIServer(script) as server:
        events = await collect(orchestrator(server, team), "go")
        coder = next(r for r in server.requests if "You are coder." in r.system_text)
        final = [r for r in server.requests if "You are lead." in r.system_text][-1]
    assert_ran_at_once(events, ["lead > coder", "lead > architect"])
    assert coder.body["messages"][1]["content"] == "implement the parser\nuse the stdlib"
    report = final.body["messages"][-1]["content"]
    assert "## @coder\nparser done" in report and "## @architect\ndesign ok" in report
    assert isinstance(events[-1], RunFinished)
    assert events[-1].output == "Synthesis: parser + review."


async def test_child_runs_are_stored_in_the_session(team: Path) -> None:
    script = RoutedScript({
        "You are lead.": [Reply.calls(delegate("coder", "task for coder")), Reply.say("ok")],
        "You are coder.": [Reply.say("coded", input_tokens=7, output_tokens=3)],
    })
    with ScriptedOpenAIServer(script) as server:
        orch = orchestrator(server, team)
        await collect(orch, "go")
    assert orch.session_id is not None
    runs = orch.sessions.runs(orch.session_id)
    child = next(r for r in runs if r.agent == "lead > coder")
    root = next(r for r in runs if r.agent == "lead")
    assert child.parent_run_id == root.id
    assert (child.input_tokens, child.output_tokens, child.status) == (7, 3, "completed")
    records = orch.sessions.load_records(orch.session_id)
    assert [r.agent for r in records if r.agent == "lead > coder"] == ["lead > coder"] * 2
    main = orch.sessions.load_messages(orch.session_id)
    assert [m.role for m in main] == ["user", "assistant", "tool", "assistant"]


async def test_claude_code_and_opencode_agents_join_the_team(team: Path) -> None:
    claude = team / ".claude" / "agents"
    claude.mkdir(parents=True)
    (claude / "db-expert.md").write_text(
        "---\nname: db-expert\ndescription: Knows databases\ntools: Read, Grep\n"
        "model: sonnet\n---\nYou are db-expert.\n")
    opencode = team / ".opencode" / "agent"
    opencode.mkdir(parents=True)
    (opencode / "docs.md").write_text(
        "---\ndescription: Writes docs\nmode: subagent\ntools:\n  write: false\n---\n"
        "You are docs.\n")
    (opencode / "broken.md").write_text("---\ndescription: [oops\n---\nx\n")
    script = RoutedScript({
        "You are lead.": [Reply.calls(delegate("db-expert", "index?"), delegate("docs", "doc")),
                          Reply.say("ok")],
        "You are db-expert.": [Reply.say("add an index")],
        "You are docs.": [Reply.say("documented")],
    })
    with ScriptedOpenAIServer(script) as server:
        events = await collect(orchestrator(server, team), "go")
        expert = next(r for r in server.requests if "You are db-expert." in r.system_text)
        docs = next(r for r in server.requests if "You are docs." in r.system_text)
    assert sorted(t["function"]["name"] for t in expert.body["tools"]) == ["grep", "read_file"]
    assert expert.body["model"] == "gpt-4o"  # a Claude alias means nothing on OpenAI
    assert "write_file" not in {t["function"]["name"] for t in docs.body["tools"]}
    results = {e.result for e in events if isinstance(e, ToolCallFinished)}
    assert {"add an index", "documented"} <= results
    assert any(e.type == "warning" and "broken.md" in getattr(e, "message", "") for e in events)


async def test_hierarchy_under_a_parallel_limit_of_one_does_not_deadlock(team: Path) -> None:
    import asyncio

    script = RoutedScript({
        "You are lead.": [Reply.calls(delegate("architect", "design")), Reply.say("shipped")],
        "You are architect.": [Reply.calls(delegate("api-designer", "endpoints")),
                               Reply.say("designed")],
        "You are api-designer.": [Reply.say("GET /items")],
    })
    with ScriptedOpenAIServer(script) as server:
        orch = orchestrator(server, team, max_parallel_agents=1)
        assert await asyncio.wait_for(orch.run("go"), timeout=20) == "shipped"
