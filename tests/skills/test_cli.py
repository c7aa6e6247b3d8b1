"""``moco skills ...`` through typer's CliRunner on the sub-app."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from moco.cli import skills as skills_cli
from moco.cli.skills import skills_app
from moco.skills.model import SkillError

from . import FIXTURE_SKILLS, copy_fixture_skills, make_repo, write_skill

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path, fixtures: Path) -> Path:
    """A project folder with the fixture skills in .claude/skills and one invalid skill."""
    work = tmp_path / "project"
    skills = copy_fixture_skills(fixtures, work / ".claude" / "skills")
    write_skill(skills, "broken", "<b>bold</b>")
    return work


@pytest.fixture
def repo(tmp_path: Path, fixtures: Path) -> Path:
    source = tmp_path / "repo"
    copy_fixture_skills(fixtures, source / "skills")
    return make_repo(source)


def test_list_shows_valid_and_invalid_skills(project: Path) -> None:
    result = runner.invoke(skills_app, ["list", "-w", str(project)])
    assert result.exit_code == 0, result.output
    for name in FIXTURE_SKILLS:
        assert name in result.output
    assert "skipped 1 invalid skill(s):" in result.output
    assert "XML tags" in result.output


def test_list_without_skills(tmp_path: Path) -> None:
    result = runner.invoke(skills_app, ["list", "-w", str(tmp_path)])
    assert result.exit_code == 0
    assert "no skills found" in result.output


def test_info_and_search(project: Path) -> None:
    info = runner.invoke(skills_app, ["info", "release-notes", "-w", str(project)])
    assert info.exit_code == 0, info.output
    assert "license:       Complete terms in LICENSE.txt" in info.output
    assert "files (5):" in info.output and "  examples/faq-answers.md" in info.output
    missing = runner.invoke(skills_app, ["info", "ascii-banner", "-w", str(project)])
    assert isinstance(missing.exception, SkillError)
    assert "similar: ascii-banner-creator" in str(missing.exception)
    found = runner.invoke(skills_app, ["search", "curl endpoints", "-w", str(project)])
    assert found.exit_code == 0
    assert found.output.splitlines()[1].startswith("api-smoke-testing")
    none = runner.invoke(skills_app, ["search", "zebra", "-w", str(project)])
    assert "no skill matches 'zebra'" in none.output


def test_install_with_yes_then_info_and_uninstall(moco_home: Path, repo: Path) -> None:
    result = runner.invoke(skills_app, ["install", f"file://{repo}", "--yes"])
    assert result.exit_code == 0, result.output
    assert "installed 4 into" in result.output
    assert "new" in result.output
    info = runner.invoke(skills_app, ["info", "cli-builder"])
    assert f"from file://{repo}" in info.output
    removed = runner.invoke(skills_app, ["uninstall", "cli-builder"])
    assert removed.exit_code == 0 and "removed cli-builder" in removed.output
    assert not (moco_home / "skills" / "cli-builder").exists()
    again = runner.invoke(skills_app, ["uninstall", "cli-builder"])
    assert isinstance(again.exception, SkillError)


def test_install_refuses_without_yes_when_not_interactive(moco_home: Path, repo: Path) -> None:
    result = runner.invoke(skills_app, ["install", f"file://{repo}"])
    assert result.exit_code == 1
    assert "pass --yes" in result.output
    assert "ascii-banner-creator" in result.output  # the plan was shown
    assert not (moco_home / "skills").exists()


def test_install_dry_run(moco_home: Path, repo: Path) -> None:
    result = runner.invoke(skills_app, ["install", f"file://{repo}", "--dry-run"])
    assert result.exit_code == 0
    assert "dry run: nothing installed" in result.output
    assert not (moco_home / "skills").exists()


def test_install_asks_when_interactive(
    moco_home: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(skills_cli, "_interactive", lambda: True)
    declined = runner.invoke(skills_app, ["install", f"file://{repo}"], input="n\n")
    assert declined.exit_code == 1 and "cancelled" in declined.output
    assert not (moco_home / "skills").exists()
    accepted = runner.invoke(skills_app, ["install", f"file://{repo}"], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "Install 4 skills?" in accepted.output
    assert sorted(p.name for p in (moco_home / "skills").iterdir()) == sorted(FIXTURE_SKILLS)
    overwrite = runner.invoke(skills_app, ["install", f"file://{repo}", "--dry-run"])
    assert "overwrite" in overwrite.output


def test_sync_a_registry(moco_home: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCO_SKILLS_REGISTRY_LOCAL", f"file://{repo}")
    result = runner.invoke(skills_app, ["sync", "local", "--yes"])
    assert result.exit_code == 0, result.output
    assert "source: file://" in result.output
    assert len(list((moco_home / "skills").iterdir())) == 4
    unknown = runner.invoke(skills_app, ["sync", "nowhere", "--yes"])
    assert "unknown skills registry 'nowhere'" in str(unknown.exception)
    assert "anthropics" in str(unknown.exception) and "community" in str(unknown.exception)


def test_help_lists_the_commands() -> None:
    result = runner.invoke(skills_app, ["--help"])
    for command in ("list", "info", "search", "sync", "install", "uninstall"):
        assert command in result.output
