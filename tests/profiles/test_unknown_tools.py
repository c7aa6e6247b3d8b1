"""An agent's ``tools:`` naming tools that do not exist, and skills that fail validation,
give one warning per agent (per skill) — on the loaded profile, in the listing, and as
``warning`` events when a run starts — instead of being dropped without a word."""

from __future__ import annotations

from pathlib import Path

import pytest

from moco.core.orchestrator import Orchestrator
from moco.events import RunStarted, Warning
from moco.profiles import list_profiles, load_profile
from moco.testing import Reply, ScriptedOpenAIServer

RESEARCHER = """---
description: finds things out
mode: primary
tools: Read, NotebookEdit, summon_dragon, Grep, my_lookup, mcp_*
---
You research.
"""
WRITER = """---
description: writes
tools: [write_file, conjure_text, mcp__docs__search]
---
You write.
"""
FINE = """---
description: reads
tools: [read_file, delegate_to_agent, load_skill]
---
You read.
"""
OWN_TOOL = '''
from moco.tools.base import tool


@tool(aliases=["lookup"])
def my_lookup(word: str) -> str:
    """Look a word up.

    Args:
        word: The word.
    """
    return word
'''
BAD_SKILL = "---\nname: Not_Valid\ndescription: a skill whose name breaks the rules\n---\nBody\n"


@pytest.fixture
def team(tmp_path: Path) -> Path:
    """A project whose .moco/profiles/team has agents naming unknown tools and a bad skill."""
    project = tmp_path / "project"
    profile = project / ".moco" / "profiles" / "team"
    (profile / "agents").mkdir(parents=True)
    (profile / "profile.yaml").write_text("description: a team\n")
    for name, text in {"researcher": RESEARCHER, "writer": WRITER, "reader": FINE}.items():
        (profile / "agents" / f"{name}.md").write_text(text)
    (profile / "tools").mkdir()
    (profile / "tools" / "own.py").write_text(OWN_TOOL)
    (profile / "skills" / "not-valid").mkdir(parents=True)
    (profile / "skills" / "not-valid" / "SKILL.md").write_text(BAD_SKILL)
    return project


def _agent_lines(problems: tuple[str, ...] | list[str]) -> dict[str, str]:
    return {line.split("'")[1]: line for line in problems if line.startswith("agent '")}


def test_loaded_profile_lists_one_problem_per_agent(team: Path) -> None:
    profile = load_profile("team", working_dir=team, env={"HOME": str(team)})
    agents = _agent_lines(profile.problems)
    assert set(agents) == {"researcher", "writer"}
    # an MCP tool is only known once its servers are listed: checked at run start
    assert "unknown tools dropped: conjure_text (" in agents["writer"]
    line = agents["researcher"]
    assert line.startswith("agent 'researcher': unknown tools dropped: NotebookEdit, "
                           "summon_dragon (known tools: ")
    assert "read_file" in line and "my_lookup" in line  # the hint lists what does exist
    [skill] = [p for p in profile.problems if p.startswith("skill ")]
    assert "'not-valid'" in skill and "Not_Valid" in skill and "moco skills list" in skill


def test_listing_reads_the_same_problems_without_importing_profile_tools(team: Path) -> None:
    [info] = [i for i in list_profiles(working_dir=team, env={"HOME": str(team)})
              if i.name == "team"]
    loaded = load_profile("team", working_dir=team, env={"HOME": str(team)})
    assert info.problems == loaded.problems


def test_builtin_profiles_have_no_problems() -> None:
    for name in ("default", "code", "development"):
        assert load_profile(name).problems == ()


async def test_run_start_warns_once_per_agent_and_per_skill(
    team: Path, moco_home: Path, scripted_openai: ScriptedOpenAIServer
) -> None:
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": scripted_openai.base_url,
           "MOCO_HOME": str(moco_home), "HOME": str(team)}
    scripted_openai.add(Reply.say("done"), Reply.say("again"))
    orchestrator = Orchestrator(profile="team", provider="openai", working_dir=team, env=env)
    try:
        events = [e async for e in orchestrator.events("look into it")]
        again = [e async for e in orchestrator.events("and again")]
    finally:
        await orchestrator.aclose()
    started = next(i for i, e in enumerate(events) if isinstance(e, RunStarted))
    warnings = [e.message for e in events[:started] if isinstance(e, Warning)]
    agents = _agent_lines(warnings)
    assert set(agents) == {"researcher", "writer"}  # no MCP server: mcp__docs__search is unknown
    assert "unknown tools dropped: NotebookEdit, summon_dragon (" in agents["researcher"]
    assert "unknown tools dropped: conjure_text, mcp__docs__search (" in agents["writer"]
    assert len([m for m in warnings if m.startswith("skill 'not-valid'")]) == 1
    assert not [e for e in again if isinstance(e, Warning)]  # said once, not every turn
