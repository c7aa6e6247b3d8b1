"""The agent's skill tools, called the way the runtime calls them, and the prompt section."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from moco.errors import ToolError
from moco.skills import SkillRegistry
from moco.skills.tools import (
    LOADED_KEY,
    REGISTRY_KEY,
    SKILL_TOOLS,
    allowed_tools_for,
    list_loaded_skills,
    load_skill,
    read_skill_file,
    search_skills,
    skills_prompt_section,
)
from moco.tools.base import get_tool
from moco.tools.context import ToolContext

from . import FIXTURE_SKILLS, copy_fixture_skills, write_skill


def call(ctx: ToolContext, function: Callable[..., Any], **arguments: Any) -> str:
    built = get_tool(function)
    assert built is not None
    return asyncio.run(built.invoke(ctx, arguments))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture
def registry(fixtures: Path) -> SkillRegistry:
    return SkillRegistry.discover([fixtures / "skills"])


@pytest.fixture
def ctx(workdir: Path, registry: SkillRegistry) -> ToolContext:
    return ToolContext(working_dir=workdir, state={REGISTRY_KEY: registry})


def test_tool_schemas_hide_the_context() -> None:
    built = [get_tool(function) for function in SKILL_TOOLS]
    schemas = {tool.name: tool.schema() for tool in built if tool is not None}
    assert set(schemas) == {"search_skills", "load_skill", "read_skill_file", "list_loaded_skills"}
    assert list(schemas["load_skill"]["parameters"]["properties"]) == ["name"]
    assert list(schemas["search_skills"]["parameters"]["properties"]) == ["query"]
    assert schemas["list_loaded_skills"]["parameters"].get("properties", {}) == {}


@pytest.mark.parametrize("name", FIXTURE_SKILLS)
def test_every_fixture_skill_loads_through_the_tool(
    ctx: ToolContext, fixtures: Path, name: str
) -> None:
    result = call(ctx, load_skill, name=name)
    folder = (fixtures / "skills" / name).resolve()
    assert result.startswith(f"# Skill: {name}\nFolder: {folder}\n")
    assert f"- {folder / 'LICENSE.txt'}" in result
    allowed = ["execute_bash(curl:*)", "read_file"] if name == "api-smoke-testing" else []
    assert ctx.state[LOADED_KEY] == [{"name": name, "path": str(folder), "allowed_tools": allowed}]


def test_load_skill_returns_body_and_absolute_file_paths(
    ctx: ToolContext, fixtures: Path
) -> None:
    result = call(ctx, load_skill, name="release-notes")
    folder = (fixtures / "skills" / "release-notes").resolve()
    assert "## When to use this skill" in result
    for relative in ("examples/highlights.md", "examples/faq-answers.md"):
        assert f"- {folder / relative}" in result
    # the fixtures live outside the working directory: the model is pointed at read_skill_file
    assert "read_skill_file (name='release-notes')" in result
    assert "execute_bash" in result


def test_loaded_skills_are_ordered_without_duplicates(ctx: ToolContext) -> None:
    for name in ("cli-builder", "api-smoke-testing", "cli-builder"):
        call(ctx, load_skill, name=name)
    loaded = [entry["name"] for entry in ctx.state[LOADED_KEY]]
    assert loaded == ["cli-builder", "api-smoke-testing"]
    listing = call(ctx, list_loaded_skills)
    assert listing.splitlines()[0] == "loaded skills:"
    assert "- cli-builder (" in listing and "pre-approved tools: none" in listing


def test_unknown_skill_and_missing_registry(ctx: ToolContext, workdir: Path) -> None:
    with pytest.raises(ToolError,
                       match="no skill named 'ascii-banners'; did you mean ascii-banner"):
        call(ctx, load_skill, name="ascii-banners")
    bare = ToolContext(working_dir=workdir)
    with pytest.raises(ToolError, match="no skills are available"):
        call(bare, search_skills, query="pdf")
    assert call(bare, list_loaded_skills) == "no skill is loaded"
    assert allowed_tools_for(bare) is None


def test_search_skills_ranks(ctx: ToolContext) -> None:
    result = call(ctx, search_skills, query="ascii art banner for the terminal")
    lines = result.splitlines()
    assert lines[1].startswith("- ascii-banner-creator: Knowledge and utilities")
    assert "no skill matches" in call(ctx, search_skills, query="zebra")


def test_allowed_tools_are_a_union_of_preapprovals(tmp_path: Path, workdir: Path) -> None:
    root = tmp_path / "skills"
    write_skill(root, "git-helper", front="allowed-tools: Read Grep Bash(git:*)\n")
    write_skill(root, "writer", front="allowed-tools:\n  - Write\n  - Read\n  - mcp_custom\n")
    write_skill(root, "plain")
    ctx = ToolContext(working_dir=workdir, state={REGISTRY_KEY: SkillRegistry.discover([root])})
    call(ctx, load_skill, name="plain")
    assert allowed_tools_for(ctx) is None
    result = call(ctx, load_skill, name="git-helper")
    assert "Pre-approved tools while this skill is loaded: read_file, grep, execute_bash(git:*)" \
        in result
    call(ctx, load_skill, name="writer")
    assert allowed_tools_for(ctx) == {
        "read_file", "grep", "execute_bash(git:*)", "write_file", "mcp_custom",
    }
    assert ctx.state[LOADED_KEY][1]["allowed_tools"] == ["read_file", "grep", "execute_bash(git:*)"]


def test_skills_inside_the_working_directory_use_read_file(
    fixtures: Path, workdir: Path
) -> None:
    root = copy_fixture_skills(fixtures, workdir / ".claude" / "skills")
    ctx = ToolContext(working_dir=workdir, state={REGISTRY_KEY: SkillRegistry.discover([root])})
    result = call(ctx, load_skill, name="cli-builder")
    assert "read them with read_file when" in result
    assert f"- {(root / 'cli-builder' / 'reference' / 'evaluation.md').resolve()}" in result


def test_read_skill_file_stays_inside_the_skill(ctx: ToolContext, fixtures: Path) -> None:
    text = call(ctx, read_skill_file, name="cli-builder", path="reference/evaluation.md")
    assert text == (fixtures / "skills/cli-builder/reference/evaluation.md").read_text()
    absolute = (fixtures / "skills/release-notes/examples/faq-answers.md").resolve()
    assert call(ctx, read_skill_file, name="release-notes", path=str(absolute))
    with pytest.raises(ToolError, match="not inside the folder"):
        call(ctx, read_skill_file, name="cli-builder", path="../release-notes/SKILL.md")
    with pytest.raises(ToolError, match="does not exist"):
        call(ctx, read_skill_file, name="api-smoke-testing", path="scripts/run_checks.py")


def test_prompt_section_lists_names_and_descriptions(registry: SkillRegistry) -> None:
    section = skills_prompt_section(registry)
    assert section.startswith("## Skills\n")
    assert "call load_skill" in section
    for skill in registry.list():
        assert f"- {skill.name}: {' '.join(skill.description.split())}" in section
    assert skills_prompt_section(SkillRegistry()) == ""
    assert skills_prompt_section(None) == ""


def test_prompt_section_fits_its_budget(tmp_path: Path) -> None:
    root = tmp_path / "skills"
    for index in range(40):
        write_skill(root, f"skill-{index:02}", "A long description of this skill. " * 20)
    registry = SkillRegistry.discover([root])
    section = skills_prompt_section(registry, limit_chars=2000)
    assert len(section) <= 2000
    assert "- skill-00: A long description" in section
    assert section.endswith("more: call search_skills to find them")
    assert "…" in section
