"""The optimizer offers the primary agent only the sub-agents relevant to the task."""

from __future__ import annotations

import json
from pathlib import Path

from moco.core.events import AgentsSelected, Event, UsageReported
from moco.core.optimizer import lexical_selection
from moco.core.orchestrator import Orchestrator
from moco.profiles import load_profile
from moco.testing import Reply, RoutedScript, ScriptedOpenAIServer


def development_candidates() -> dict[str, str]:
    profile = load_profile("development")
    primary = profile.primary_agent().name
    return {n: a.description for n, a in profile.agents.items() if n != primary}


def test_lexical_selection_picks_matching_agents() -> None:
    candidates = development_candidates()
    selection = lexical_selection("Write unit tests for the payment module", candidates)
    assert "unit-tester" in selection.agents
    assert len(selection.agents) < len(candidates)
    security = lexical_selection("Audit the login flow for security vulnerabilities",
                                 candidates)
    assert "security-reviewer" in security.agents


def test_nothing_matching_keeps_everyone() -> None:
    candidates = {"a": "alpha things", "b": "beta things"}
    assert lexical_selection("zzz qqq", candidates).agents == ("a", "b")


def delegate_tool_description(body: dict[str, object]) -> str:
    tools = body["tools"]
    assert isinstance(tools, list)
    return next(t["function"]["description"] for t in tools
                if t["function"]["name"] == "delegate_to_agent")


async def run(server: ScriptedOpenAIServer, workdir: Path, method: str) -> list[Event]:
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url}
    orch = Orchestrator(profile="development", provider="openai", working_dir=workdir,
                        env=env, optimizer=True, optimizer_method=method)
    return [event async for event in orch.events("Write unit tests for the parser")]


async def test_model_selection_shrinks_the_delegate_tool(tmp_path: Path) -> None:
    script = RoutedScript({
        "You choose which specialist agents": [
            Reply.say('["unit-tester", "test-strategist"]', input_tokens=300, output_tokens=9)],
        "": [Reply.say("done")],
    })
    with ScriptedOpenAIServer(script) as server:
        events = await run(server, tmp_path, "model")
        chooser, main = server.requests
    assert "unit-tester" in chooser.body["messages"][1]["content"]
    selected = next(e for e in events if isinstance(e, AgentsSelected))
    assert set(selected.agents) == {"unit-tester", "test-strategist"}
    assert selected.offered_before == 13 and selected.method == "model"
    description = delegate_tool_description(main.body)
    assert "- unit-tester:" in description and "- backend-coder:" not in description
    assert any(isinstance(e, UsageReported) and e.input_tokens == 300 for e in events)


async def test_unusable_answer_falls_back_to_lexical(tmp_path: Path) -> None:
    script = RoutedScript({"You choose which specialist agents": [Reply.say("no idea")],
                           "": [Reply.say("done")]})
    with ScriptedOpenAIServer(script) as server:
        events = await run(server, tmp_path, "model")
    selected = next(e for e in events if isinstance(e, AgentsSelected))
    assert selected.method == "lexical" and "unit-tester" in selected.agents


async def test_lexical_method_makes_no_extra_call(tmp_path: Path) -> None:
    with ScriptedOpenAIServer([Reply.say("done")]) as server:
        events = await run(server, tmp_path, "lexical")
        assert len(server.requests) == 1
        sent = json.dumps(server.requests[0].body)
    assert any(isinstance(e, AgentsSelected) for e in events)
    assert "frontend-coder" not in delegate_tool_description(json.loads(sent))
