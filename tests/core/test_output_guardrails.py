"""A blocked answer appears nowhere: not streamed, not stored, not sent back to the model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from moco.core.events import Error, Event, RunFinished, TextDelta
from moco.core.guardrails import GuardrailAction, GuardrailResult, Guardrails
from moco.core.orchestrator import Orchestrator
from moco.errors import GuardrailBlocked
from moco.testing import Reply, RoutedScript, ScriptedOpenAIServer, ToolCall

SECRET = "hunter2"


def block_sensitive_data(text: str) -> GuardrailResult:
    if "password" in text.lower():
        return GuardrailResult(action=GuardrailAction.BLOCK, message="Sensitive data detected")
    return GuardrailResult(action=GuardrailAction.ALLOW)


def guarded(server: ScriptedOpenAIServer, workdir: Path, **options: object) -> Orchestrator:
    guardrails = Guardrails(**options)  # type: ignore[arg-type]
    guardrails.add_output_validator(block_sensitive_data)
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url, "HOME": os.environ["HOME"]}
    return Orchestrator(provider="openai", working_dir=workdir, env=env, guardrails=guardrails)


async def collect(orch: Orchestrator, task: str, session_id: str | None = None) -> list[Event]:
    return [event async for event in orch.events(task, session_id=session_id)]


async def test_a_blocked_answer_is_never_streamed_stored_or_resent(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    scripted_openai.add(Reply.say(f"the password is {SECRET}", chunk_delay=0.001),
                        Reply.say("I cannot share that."))
    orch = guarded(scripted_openai, tmp_path)
    events = await collect(orch, "what is the password?")
    assert not any(SECRET in repr(event) for event in events)
    assert not [e for e in events if isinstance(e, TextDelta)]
    blocked = [e for e in events if isinstance(e, Error) and e.kind == "guardrail"]
    assert blocked and "Sensitive data detected" in blocked[0].message
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "blocked"
    assert finished.output == "[answer blocked by guardrails: Sensitive data detected]"
    assert orch.session_id is not None
    stored = orch.sessions.export_session(orch.session_id, "md")
    assert SECRET not in stored and "answer blocked by guardrails" in stored
    await collect(orch, "then say something else", session_id=orch.session_id)
    resent = scripted_openai.requests[-1].body["messages"]
    assert SECRET not in repr(resent)
    assert any("answer blocked by guardrails" in str(m.get("content")) for m in resent)


def test_run_sync_raises_and_the_cli_shows_no_secret(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted_openai.add(Reply.say(f"the password is {SECRET}"))
    orch = guarded(scripted_openai, tmp_path)
    orch.stream = True
    with pytest.raises(GuardrailBlocked, match="Sensitive data"):
        orch.run_sync("tell me")
    shown = capsys.readouterr()
    assert SECRET not in shown.out + shown.err


async def test_allowed_text_is_released_whole_and_narration_is_checked(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    scripted_openai.add(
        Reply(text="Reading the password file first.",
              tool_calls=(ToolCall("list_dir", {"path": "."}),)),
        Reply.say("All clear here.", chunk_delay=0.001),
    )
    orch = guarded(scripted_openai, tmp_path)
    events = await collect(orch, "look around")
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas == ["All clear here."], "allowed text comes in one piece after the check"
    narration = [e for e in events if isinstance(e, Error) and e.kind == "guardrail"]
    assert len(narration) == 1, "text before a tool call is checked too"
    second = scripted_openai.requests[1].body["messages"]
    assistant = next(m for m in second if m["role"] == "assistant")
    assert "password" not in str(assistant.get("content"))
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "completed"


async def test_sub_agent_answers_are_checked_before_the_lead_sees_them(tmp_path: Path) -> None:
    folder = tmp_path / ".moco" / "profiles" / "team" / "agents"
    folder.mkdir(parents=True)
    (folder / "lead.md").write_text("---\nmode: primary\n---\nYou are lead.\n")
    (folder / "helper.md").write_text("---\nmode: subagent\n---\nYou are helper.\n")
    script = RoutedScript({
        "You are lead.": [Reply.calls(ToolCall("delegate_to_agent",
                                               {"agent_name": "helper", "task": "find it"})),
                          Reply.say("done")],
        "You are helper.": [Reply.say(f"the password is {SECRET}")],
    })
    with ScriptedOpenAIServer(script) as server:
        guardrails = Guardrails()
        guardrails.add_output_validator(block_sensitive_data)
        env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url}
        orch = Orchestrator(profile="team", provider="openai", working_dir=tmp_path, env=env,
                            guardrails=guardrails)
        events = await collect(orch, "go")
        lead_requests = [r for r in server.requests if "You are lead." in r.system_text]
    assert not any(SECRET in repr(event) for event in events)
    assert SECRET not in repr(lead_requests[-1].body["messages"])


async def test_without_output_validators_text_streams(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    scripted_openai.add(Reply.say("one two three four", chunk_delay=0.001))
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": scripted_openai.base_url}
    orch = Orchestrator(provider="openai", working_dir=tmp_path, env=env)
    events = await collect(orch, "count")
    assert len([e for e in events if isinstance(e, TextDelta)]) > 1
