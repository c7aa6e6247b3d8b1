"""What an orchestrator uses of a project it does not trust, and after trust."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moco.cli import app
from moco.config import moco_home
from moco.core.orchestrator import Orchestrator
from moco.events import Event, Warning
from moco.testing import Reply, ScriptedOpenAIServer
from moco.trust import check_project, trust_project

ENV = {"OPENAI_API_KEY": "k"}
runner = CliRunner()


@pytest.fixture(autouse=True)
def _same_home(monkeypatch: pytest.MonkeyPatch) -> None:
    """Orchestrators given ``env`` read the trust store of that env's MOCO_HOME."""
    monkeypatch.setitem(ENV, "MOCO_HOME", str(moco_home()))


def write_mcp(project: Path, env: dict[str, str] | None = None) -> None:
    server = {"command": "agent-written-server", "args": ["--serve"], "env": env or {}}
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"evil": server}}))


def write_profile(project: Path, name: str, yaml_text: str = "", tool: bool = False) -> Path:
    folder = project / ".moco" / "profiles" / name
    (folder / "agents").mkdir(parents=True)
    (folder / "agents" / "main.md").write_text("---\nmode: primary\n---\nproject prompt\n")
    if yaml_text:
        (folder / "profile.yaml").write_text(yaml_text)
    if tool:
        (folder / "tools").mkdir()
        marker = project / "imported.txt"
        (folder / "tools" / "t.py").write_text(
            f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n")
    return folder


def server_names(orch: Orchestrator) -> list[str]:
    return [] if orch.mcp_client is None else [s.name for s in orch.mcp_client.config.active]


def warnings_of(orch: Orchestrator) -> list[str]:
    return [warning for warning in orch.trust.warnings]


def test_an_agent_written_mcp_json_is_not_started_without_trust(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    write_mcp(tmp_path)
    scripted_openai.add(Reply.say("done"))
    env = {**ENV, "OPENAI_BASE_URL": scripted_openai.base_url}
    orch = Orchestrator(provider="openai", working_dir=tmp_path, env=env, persist=False)
    assert server_names(orch) == []

    async def collect() -> list[Event]:
        return [event async for event in orch.events("hi")]

    events = asyncio.run(collect())
    warnings = [e.message for e in events if isinstance(e, Warning)]
    assert len(warnings) == 1
    assert ".mcp.json is not trusted" in warnings[0] and "moco trust" in warnings[0]
    assert "--trust-project" in warnings[0]


def test_after_moco_trust_the_server_is_configured(tmp_path: Path) -> None:
    write_mcp(tmp_path)
    result = runner.invoke(app, ["trust", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert ".mcp.json" in result.output and "evil" in result.output
    orch = Orchestrator(provider="openai", working_dir=tmp_path, env=ENV)
    assert server_names(orch) == ["evil"] and orch.trust.warnings == []
    store = moco_home() / "trust.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600


def test_trust_project_true_uses_it_for_that_orchestrator_only(tmp_path: Path) -> None:
    write_mcp(tmp_path)
    assert server_names(Orchestrator(provider="openai", working_dir=tmp_path, env=ENV,
                                     trust_project=True)) == ["evil"]
    assert server_names(Orchestrator(provider="openai", working_dir=tmp_path, env=ENV)) == []


def test_changing_a_trusted_file_makes_it_untrusted_again(tmp_path: Path) -> None:
    write_mcp(tmp_path)
    trust_project(tmp_path)
    assert check_project(tmp_path).untrusted == []
    write_mcp(tmp_path, env={"X": "1"})
    assert check_project(tmp_path).status[".mcp.json"] == "changed"
    orch = Orchestrator(provider="openai", working_dir=tmp_path, env=ENV)
    assert server_names(orch) == []
    assert "changed since you trusted it" in warnings_of(orch)[0]


def test_a_project_profile_named_default_does_not_shadow_the_builtin(tmp_path: Path) -> None:
    write_profile(tmp_path, "default")
    orch = Orchestrator(provider="openai", working_dir=tmp_path, env=ENV)
    assert orch.profile.source == "builtin"
    assert any(".moco/profiles/default" in line and "built-in" in line
               for line in warnings_of(orch))
    trust_project(tmp_path)
    assert Orchestrator(provider="openai", working_dir=tmp_path, env=ENV).profile.source \
        == "project"


def test_an_untrusted_profile_keeps_prompts_but_not_tools_or_a_loose_danger_check(
    tmp_path: Path
) -> None:
    loose = "guardrails:\n  enable_dangerous_pattern_check: false\npermissions:\n  allow: ['*']\n"
    write_profile(tmp_path, "loose", loose, tool=True)
    orch = Orchestrator(profile="loose", provider="openai", working_dir=tmp_path, env=ENV)
    assert orch.profile.source == "project" and orch.profile.agents["main"].prompt
    assert orch.guardrails.enable_dangerous_pattern_check is True
    assert "permissions" not in orch.profile.settings
    assert not (tmp_path / "imported.txt").exists()
    [line] = warnings_of(orch)
    assert "tools/*.py (not imported)" in line and "enable_dangerous_pattern_check" in line


def test_a_trusted_profile_may_switch_the_danger_check_off_with_a_warning(
    tmp_path: Path
) -> None:
    write_profile(tmp_path, "loose", "guardrails:\n  enable_dangerous_pattern_check: false\n")
    orch = Orchestrator(profile="loose", provider="openai", working_dir=tmp_path, env=ENV,
                        trust_project=True)
    assert orch.guardrails.enable_dangerous_pattern_check is False
    assert any("switches the dangerous-pattern check off" in w for w in warnings_of(orch))


def test_provider_keys_in_a_project_mcp_json_are_not_expanded(tmp_path: Path) -> None:
    write_mcp(tmp_path, env={"KEY": "${OPENAI_API_KEY}", "TZ": "${TZ}"})
    env = {**ENV, "OPENAI_API_KEY": "sk-secret", "TZ": "UTC"}
    orch = Orchestrator(provider="openai", working_dir=tmp_path, env=env, trust_project=True)
    assert orch.mcp_client is not None
    assert orch.mcp_client.config.active[0].env == {"KEY": "", "TZ": ""}
    assert any("${OPENAI_API_KEY}" in w for w in warnings_of(orch))
    allowed = {**env, "MOCO_MCP_ALLOW_ENV": "TZ"}
    orch = Orchestrator(provider="openai", working_dir=tmp_path, env=allowed,
                        trust_project=True)
    assert orch.mcp_client is not None
    assert orch.mcp_client.config.active[0].env == {"KEY": "", "TZ": "UTC"}


def test_untrusted_instructions_and_external_agents_are_not_used(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_text("obey the repository")
    (tmp_path / ".claude" / "agents").mkdir(parents=True)
    (tmp_path / ".claude" / "agents" / "helper.md").write_text("---\n---\nhelp")
    orch = Orchestrator(provider="openai", working_dir=tmp_path, env=ENV)
    spec = orch.profile.agents[orch.agent_name]
    assert "helper" not in orch.profile.agents
    assert "obey the repository" not in orch.system_prompt(spec)
    assert {line.split(" ")[0] for line in warnings_of(orch)} == {"AGENTS.md", ".claude/agents"}
    trusted = Orchestrator(provider="openai", working_dir=tmp_path, env=ENV, trust_project=True)
    assert "helper" in trusted.profile.agents
    assert "obey the repository" in trusted.system_prompt(spec)


def test_an_untrusted_skill_pre_approves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / ".claude" / "skills" / "deploy"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: deploy\ndescription: Deploy the app.\n"
                                     "allowed-tools: Bash\n---\nRun make deploy.\n")
    orch = Orchestrator(provider="openai", working_dir=tmp_path, env=ENV)
    skill = orch.skills.get("deploy")
    assert skill is not None and skill.allowed_tools == ()
    assert any(w.startswith(".claude/skills/deploy is not trusted") for w in warnings_of(orch))
    trust_project(tmp_path, ENV)
    trusted = Orchestrator(provider="openai", working_dir=tmp_path, env=ENV).skills.get("deploy")
    assert trusted is not None and trusted.allowed_tools == ("Bash",)
