"""Prompt variables and project instructions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from moco.profiles import default_variables, project_instructions, render_prompt
from moco.profiles.prompt import MAX_INSTRUCTIONS_CHARS


def test_render_prompt_replaces_known_variables() -> None:
    template = "Dir {{WORKING_DIRECTORY}}, date {{ CURRENT_DATE }}, {{UNKNOWN}} and {{ bad name }}"
    rendered = render_prompt(template, {"WORKING_DIRECTORY": "/w", "CURRENT_DATE": "2025-01-02"})
    assert rendered == "Dir /w, date 2025-01-02, {{UNKNOWN}} and {{ bad name }}"


def test_render_prompt_does_not_recurse() -> None:
    assert render_prompt("{{A}}", {"A": "{{B}}", "B": "no"}) == "{{B}}"


def test_default_variables(tmp_path: Path) -> None:
    now = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    env = {"USER": "ada", "HOME": "/home/ada"}
    variables = default_variables(tmp_path, now=now, env=env)
    assert variables["CURRENT_DATETIME"] == "2025-03-04T05:06:07+02:00"
    assert variables["CURRENT_DATE"] == "2025-03-04"
    assert variables["WORKING_DIRECTORY"] == str(tmp_path.resolve())
    assert (variables["USER"], variables["HOME"]) == ("ada", "/home/ada")
    assert variables["OS"] and variables["PYTHON_VERSION"].count(".") == 2


def test_default_variables_now_has_a_timezone(tmp_path: Path) -> None:
    stamp = default_variables(tmp_path)["CURRENT_DATETIME"]
    parsed = datetime.fromisoformat(stamp)
    assert parsed.tzinfo is not None
    assert abs(parsed - datetime.now(UTC)) < timedelta(minutes=1)


def test_agents_md_beats_claude_md(tmp_path: Path) -> None:
    assert project_instructions(tmp_path) is None
    (tmp_path / "CLAUDE.md").write_text("claude rules\n")
    assert project_instructions(tmp_path) == "claude rules"
    (tmp_path / "AGENTS.md").write_text("agents rules\n")
    assert project_instructions(tmp_path) == "agents rules"


def test_empty_agents_md_falls_back(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_text("  \n")
    (tmp_path / "CLAUDE.md").write_text("claude rules")
    assert project_instructions(tmp_path) == "claude rules"


def test_long_instructions_are_truncated_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_text("x" * (MAX_INSTRUCTIONS_CHARS + 500))
    text = project_instructions(tmp_path)
    assert text is not None
    assert text.startswith("x" * 100)
    assert len(text) < MAX_INSTRUCTIONS_CHARS + 300
    assert "AGENTS.md is truncated" in text
