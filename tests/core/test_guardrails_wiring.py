"""Guardrails on every agent of a run: input, output, tool calls, the danger check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from moco.core.events import Error, RunFinished, ToolCallFinished
from moco.core.guardrails import GuardrailAction, GuardrailResult, Guardrails
from moco.core.orchestrator import Orchestrator
from moco.errors import GuardrailBlocked
from moco.testing import Reply, RoutedScript, ScriptedOpenAIServer, ToolCall


def block_sensitive_data(text: str) -> GuardrailResult:
    if "password" in text.lower():
        return GuardrailResult(action=GuardrailAction.BLOCK, message="Sensitive data detected")
    return GuardrailResult(action=GuardrailAction.ALLOW)


def env_for(server: ScriptedOpenAIServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url,
            "HOME": os.environ["HOME"]}


def test_seed_example_blocks_input_before_any_request(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    guardrails = Guardrails(max_input_length=50000, max_tool_calls_per_turn=20,
                            enable_dangerous_pattern_check=True)
    guardrails.add_input_validator(block_sensitive_data)
    orch = Orchestrator(profile="default", provider="openai", working_dir=tmp_path,
                        env=env_for(scripted_openai), guardrails=guardrails)
    with pytest.raises(GuardrailBlocked, match="Sensitive data detected"):
        orch.run_sync("my password is hunter2")
    assert scripted_openai.requests == []


async def test_dangerous_command_is_refused_and_the_model_told(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    home = Path(os.environ["HOME"])
    (home / "precious.txt").write_text("keep me")
    scripted_openai.add(Reply.call("execute_bash", {"command": "cd /tmp && rm -rf ~"}),
                        Reply.call("bash", {"command": "bash -c 'rm -rf $HOME/*'"}),
                        Reply.say("I will not do that."))
    orch = Orchestrator(provider="openai", working_dir=tmp_path, env=env_for(scripted_openai))
    events = [e async for e in orch.events("clean up")]
    assert (home / "precious.txt").exists()
    results = [m["content"] for r in scripted_openai.requests[1:]
               for m in r.body["messages"][-1:] if m["role"] == "tool"]
    assert all(r.startswith("Error: blocked by guardrails:") for r in results), results
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"


async def test_tool_and_output_validators_and_profile_rules(tmp_path: Path) -> None:
    folder = tmp_path / ".moco" / "profiles" / "guarded"
    (folder / "agents").mkdir(parents=True)
    (folder / "profile.yaml").write_text(
        "name: guarded\nguardrails:\n  shell_deny: ['npm publish*']\n"
        "  blocked_tools: ['tree']\n")
    (folder / "agents" / "lead.md").write_text("---\nmode: primary\n---\nYou are lead.\n")
    (folder / "agents" / "helper.md").write_text("---\nmode: subagent\n---\nYou are helper.\n")
    script = RoutedScript({
        "You are lead.": [Reply.calls(ToolCall("delegate_to_agent",
                                               {"agent_name": "helper", "task": "ship it"})),
                          Reply.say("secret plan")],
        "You are helper.": [Reply.calls(ToolCall("execute_bash", {"command": "npm publish"}),
                                        ToolCall("tree", {})),
                            Reply.say("could not publish")],
    })
    with ScriptedOpenAIServer(script) as server:
        orch = Orchestrator(profile="guarded", provider="openai", working_dir=tmp_path,
                            env=env_for(server))

        def no_secrets(text: str) -> GuardrailResult:
            if "secret" in text:
                return GuardrailResult.block("the answer mentions a secret")
            return GuardrailResult.allow()

        orch.guardrails.add_output_validator(no_secrets)
        events = [e async for e in orch.events("release")]
        helper_results = [m["content"] for r in server.requests
                          if "You are helper." in r.system_text
                          for m in r.body["messages"] if m["role"] == "tool"]
    assert any("npm publish" in r and "blocked" in r for r in helper_results)
    assert any("tree" in r and "blocked" in r for r in helper_results)
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "blocked"
    assert any(isinstance(e, Error) and e.kind == "guardrail" for e in events)


def test_unknown_guardrail_setting_is_a_config_error(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    folder = tmp_path / ".moco" / "profiles" / "typo"
    (folder / "agents").mkdir(parents=True)
    (folder / "profile.yaml").write_text("name: typo\nguardrails:\n  shell_denny: [x]\n")
    (folder / "agents" / "a.md").write_text("Hi.\n")
    from moco.errors import ConfigError

    with pytest.raises(ConfigError, match="shell_denny"):
        Orchestrator(profile="typo", provider="openai", working_dir=tmp_path,
                     env=env_for(scripted_openai))


async def test_max_tool_calls_per_turn_is_enforced_in_a_run(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    """The model asks for four reads in one turn with a limit of two: the first two run, the
    other two are answered with the limit and never run; the run goes on."""
    for name in "abcd":
        (tmp_path / f"{name}.txt").write_text(f"contents of {name}")
    scripted_openai.add(
        Reply.calls(*(ToolCall("read_file", {"path": f"{name}.txt"}) for name in "abcd")),
        Reply.say("read two of them"))
    orch = Orchestrator(provider="openai", working_dir=tmp_path, env=env_for(scripted_openai),
                        guardrails=Guardrails(max_tool_calls_per_turn=2))
    events = [e async for e in orch.events("read all four")]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    by_call = {e.call_id: e for e in finished}
    sent = [m for m in scripted_openai.requests[1].body["messages"] if m["role"] == "tool"]
    assert len(sent) == 4
    assert "contents of a" in sent[0]["content"] and "contents of b" in sent[1]["content"]
    for refused in sent[2:]:
        assert refused["content"] == ("Error: not run — at most 2 tool calls per turn are "
                                      "allowed; make fewer calls at once")
        assert by_call[refused["tool_call_id"]].is_error
    assert not any("contents of" in m["content"] for m in sent[2:])
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"
    assert events[-1].output == "read two of them"
