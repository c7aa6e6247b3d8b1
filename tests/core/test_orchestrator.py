"""The Python API: Orchestrator(...).run_sync / run / events."""

from __future__ import annotations

from pathlib import Path

import pytest

from moco.core.events import RunFinished, ToolCallFinished
from moco.core.orchestrator import Orchestrator
from moco.core.runtime import LLMProvider
from moco.errors import ConfigError, MaxTurnsExceeded, ProviderError
from moco.testing import Reply, ScriptedOpenAIServer


@pytest.fixture
def env(scripted_openai: ScriptedOpenAIServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": scripted_openai.base_url}


def write_profile(root: Path, agents: dict[str, str], yaml: str = "") -> None:
    folder = root / ".moco" / "profiles" / "team"
    (folder / "agents").mkdir(parents=True)
    (folder / "profile.yaml").write_text(yaml or "name: team\ndescription: test team\n")
    for name, text in agents.items():
        (folder / "agents" / f"{name}.md").write_text(text)


def test_run_sync_returns_the_answer(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "data.txt").write_text("42\n")
    scripted_openai.add(Reply.call("read", {"path": "data.txt"}), Reply.say("The answer is 42."))
    orchestrator = Orchestrator(
        profile="default", provider=LLMProvider.OPENAI, working_dir=tmp_path, env=env
    )
    assert orchestrator.run_sync("What is in data.txt?") == "The answer is 42."
    assert "42" in scripted_openai.requests[1].body["messages"][-1]["content"]


async def test_events_stream_and_async_run(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], tmp_path: Path
) -> None:
    scripted_openai.add(Reply.call("list_dir", {}), Reply.say("listed"), Reply.say("again"))
    orchestrator = Orchestrator(provider="openai/gpt-4.1", working_dir=tmp_path, env=env)
    events = [event async for event in orchestrator.events("list")]
    assert any(isinstance(e, ToolCallFinished) and e.name == "list_dir" for e in events)
    assert isinstance(events[-1], RunFinished) and events[-1].output == "listed"
    assert await orchestrator.run("again") == "again"
    assert {r.body["model"] for r in scripted_openai.requests} == {"gpt-4.1"}


def test_project_instructions_and_variables_in_prompt(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "CLAUDE.md").write_text("Use tabs.\n")
    scripted_openai.add(Reply.say("ok"), Reply.say("ok"))
    Orchestrator(provider="openai", working_dir=tmp_path, env=env).run_sync("hi")
    system = scripted_openai.requests[0].body["messages"][0]["content"]
    assert "Use tabs." in system and str(tmp_path) in system and "{{" not in system
    (tmp_path / "AGENTS.md").write_text("Use spaces.\n")
    Orchestrator(provider="openai", working_dir=tmp_path, env=env).run_sync("hi")
    system = scripted_openai.requests[1].body["messages"][0]["content"]
    assert "Use spaces." in system and "Use tabs." not in system


def test_agent_front_matter_selects_tools_and_model(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], tmp_path: Path
) -> None:
    write_profile(
        tmp_path,
        {
            "reader": "---\ndescription: reads\nmode: primary\ntools: Read, Grep\n"
            "model: gpt-4o-mini\n---\nYou read files in {{WORKING_DIRECTORY}}.\n",
        },
    )
    scripted_openai.add(Reply.say("done"))
    Orchestrator(profile="team", provider="openai", working_dir=tmp_path, env=env).run_sync("x")
    body = scripted_openai.requests[0].body
    assert sorted(t["function"]["name"] for t in body["tools"]) == ["grep", "read_file"]
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"][0]["content"] == f"You read files in {tmp_path}."


def test_profile_tools_are_offered_and_run(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], tmp_path: Path
) -> None:
    write_profile(
        tmp_path,
        {"main": "---\nmode: primary\n---\nHelp.\n"},
        yaml="name: team\ninclude_base_tools: false\n",
    )
    tools = tmp_path / ".moco" / "profiles" / "team" / "tools"
    tools.mkdir()
    (tools / "shout.py").write_text(
        "from moco.tools.base import tool\n\n"
        "@tool\ndef shout(text: str) -> str:\n"
        '    """Upper-case text.\n\n    Args:\n        text: Words.\n    """\n'
        "    return text.upper()\n\n"
        "def helper():\n    return 1\n"
    )
    scripted_openai.add(Reply.call("shout", {"text": "hey"}), Reply.say("HEY"))
    orchestrator = Orchestrator(profile="team", provider="openai", working_dir=tmp_path, env=env)
    assert orchestrator.run_sync("shout hey") == "HEY"
    body = scripted_openai.requests[0].body
    assert [t["function"]["name"] for t in body["tools"]] == ["shout"]
    assert scripted_openai.requests[1].body["messages"][-1]["content"] == "HEY"


def test_errors_raise_from_run_sync(
    scripted_openai: ScriptedOpenAIServer, env: dict[str, str], tmp_path: Path
) -> None:
    scripted_openai.add(Reply.error(401))
    with pytest.raises(ProviderError, match="rejected"):
        Orchestrator(provider="openai", working_dir=tmp_path, env=env).run_sync("x")
    scripted_openai.add(Reply.call("list_dir", {}), Reply.call("list_dir", {}))
    with pytest.raises(MaxTurnsExceeded):
        Orchestrator(provider="openai", working_dir=tmp_path, env=env, max_turns=2).run_sync("x")


def test_configuration_errors(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="no model provider"):
        Orchestrator(working_dir=tmp_path, env={})
    with pytest.raises(ConfigError, match="has no agent 'ghost'"):
        Orchestrator(working_dir=tmp_path, env=env, agent="ghost")
    with pytest.raises(ConfigError, match="does not exist"):
        Orchestrator(working_dir=tmp_path / "missing", env=env)
