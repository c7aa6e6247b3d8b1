"""Skills and MCP servers reach the agents through the Orchestrator."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from moco.core.orchestrator import Orchestrator
from moco.testing import Reply, ScriptedOpenAIServer


def test_claude_skills_are_listed_and_loadable(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path, fixtures: Path
) -> None:
    skills = tmp_path / ".claude" / "skills"
    shutil.copytree(fixtures / "skills" / "release-notes", skills / "release-notes")
    scripted_openai.add(Reply.call("load_skill", {"name": "release-notes"}), Reply.say("ok"))
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": scripted_openai.base_url}
    orch = Orchestrator(provider="openai", working_dir=tmp_path, env=env)
    orch.run_sync("write a status update")
    first = scripted_openai.requests[0].body
    assert "release-notes" in first["messages"][0]["content"]
    assert "load_skill" in {t["function"]["name"] for t in first["tools"]}
    loaded = scripted_openai.requests[1].body["messages"][-1]["content"]
    body = (skills / "release-notes" / "SKILL.md").read_text().split("---", 2)[2].strip()
    assert body[:200] in loaded
    assert orch.state["loaded_skills"][0]["name"] == "release-notes"


def test_no_skills_means_no_skill_tools(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    scripted_openai.add(Reply.say("ok"))
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": scripted_openai.base_url}
    Orchestrator(provider="openai", working_dir=tmp_path, env=env).run_sync("hi")
    names = {t["function"]["name"] for t in scripted_openai.requests[0].body["tools"]}
    assert "load_skill" not in names


@pytest.mark.slow
def test_mcp_server_from_mcp_json_is_called(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    pytest.importorskip("mcp_server_time")
    config = {"mcpServers": {"time": {"command": sys.executable,
                                      "args": ["-m", "mcp_server_time"]}}}
    (tmp_path / ".mcp.json").write_text(json.dumps(config))
    scripted_openai.add(
        Reply.call("mcp__time__get_current_time", {"timezone": "Europe/Paris"}),
        Reply.say("It is late in Paris."))
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": scripted_openai.base_url}
    orch = Orchestrator(provider="openai", working_dir=tmp_path, env=env)
    assert orch.run_sync("What time is it in Paris?") == "It is late in Paris."
    tools = {t["function"]["name"] for t in scripted_openai.requests[0].body["tools"]}
    assert "mcp__time__get_current_time" in tools
    result = scripted_openai.requests[1].body["messages"][-1]["content"]
    assert "Europe/Paris" in result and "datetime" in result
