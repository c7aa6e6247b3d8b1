"""Gemini and Anthropic through the whole run (orchestrator, runtime, tools, SDK, wire)."""

from __future__ import annotations

from pathlib import Path

from moco.core.orchestrator import Orchestrator
from moco.testing import Reply, ScriptedAnthropicServer, ScriptedGeminiServer


def test_gemini_run_with_a_tool_round_trip(
    scripted_gemini: ScriptedGeminiServer, tmp_path: Path
) -> None:
    (tmp_path / "notes.md").write_text("gemini was here\n")
    scripted_gemini.add(Reply.call("read_file", {"path": "notes.md"}), Reply.say("It says hi."))
    env = {"GEMINI_API_KEY": "g-key", "GEMINI_BASE_URL": scripted_gemini.base_url}
    orch = Orchestrator(provider="gemini/gemini-2.5-flash", working_dir=tmp_path, env=env)
    assert orch.run_sync("What do the notes say?") == "It says hi."
    first, second = scripted_gemini.requests
    assert "gemini-2.5-flash" in first.path
    assert "systemInstruction" in first.body or "system_instruction" in first.body
    response = second.body["contents"][-1]["parts"][0]["functionResponse"]
    assert response["name"] == "read_file"
    assert "gemini was here" in str(response["response"])


def test_anthropic_run_with_a_tool_round_trip(
    scripted_anthropic: ScriptedAnthropicServer, tmp_path: Path
) -> None:
    scripted_anthropic.add(Reply.call("write_file", {"path": "a.txt", "content": "x"}),
                           Reply.say("Written."))
    env = {"ANTHROPIC_API_KEY": "a-key", "ANTHROPIC_BASE_URL": scripted_anthropic.base_url}
    orch = Orchestrator(provider="anthropic", working_dir=tmp_path, env=env)
    assert orch.run_sync("write a") == "Written."
    assert (tmp_path / "a.txt").read_text() == "x"
    first, second = scripted_anthropic.requests
    assert first.body["model"] == "claude-sonnet-5-5"
    assert "You are moco" in str(first.body["system"])
    result = second.body["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and "a.txt" in str(result["content"])
