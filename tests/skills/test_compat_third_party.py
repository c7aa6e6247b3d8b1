"""Compatibility with skills published by others (run when ``MOCO_COMPAT_SKILLS`` is set).

``MOCO_COMPAT_SKILLS`` names a folder holding one folder per skill, e.g. skills from the
public anthropics/skills repository (CI points it at ``../shared/testdata/skills``). Without
it every test here is skipped with a visible reason; the rest of the suite uses only our own
fixtures under ``tests/fixtures``. The folder is never changed: tests copy it first.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from moco.skills import SkillRegistry, load_skill_dir
from moco.skills.install import install
from moco.skills.tools import LOADED_KEY, REGISTRY_KEY, load_skill, read_skill_file
from moco.tools.base import get_tool
from moco.tools.context import ToolContext

ENV = "MOCO_COMPAT_SKILLS"


@pytest.fixture
def compat_skills() -> Path:
    value = os.environ.get(ENV, "")
    if not value:
        pytest.skip(f"{ENV} is not set: third-party skills compatibility not checked")
    folder = Path(value).resolve()
    if not folder.is_dir():
        pytest.skip(f"{ENV}={value} is not a folder")
    return folder


def skill_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if (p / "SKILL.md").is_file())


def call(ctx: ToolContext, function: Callable[..., Any], **arguments: Any) -> str:
    built = get_tool(function)
    assert built is not None
    return asyncio.run(built.invoke(ctx, arguments))


def test_every_third_party_skill_loads_and_validates(compat_skills: Path) -> None:
    folders = skill_folders(compat_skills)
    assert folders, f"no skill folders in {compat_skills}"
    registry = SkillRegistry.discover([compat_skills])
    assert registry.invalid == []
    assert registry.names == sorted(folder.name for folder in folders)
    for skill in registry.list():
        assert skill.description and skill.body
        assert skill.warnings == ()
        assert skill.path == (compat_skills / skill.name).resolve()
        assert "SKILL.md" not in skill.files
        assert all(path.is_file() for path in skill.file_paths())


def test_files_listed_are_what_exists(compat_skills: Path) -> None:
    for folder in skill_folders(compat_skills):
        skill = load_skill_dir(folder)
        on_disk = sorted(
            str(p.relative_to(folder)) for p in folder.rglob("*")
            if p.is_file() and p.name != "SKILL.md"
        )
        assert list(skill.files) == on_disk


def test_every_third_party_skill_loads_through_the_tool(
    compat_skills: Path, tmp_path: Path
) -> None:
    registry = SkillRegistry.discover([compat_skills])
    for skill in registry.list():
        ctx = ToolContext(working_dir=tmp_path, state={REGISTRY_KEY: registry})
        result = call(ctx, load_skill, name=skill.name)
        assert result.startswith(f"# Skill: {skill.name}\nFolder: {skill.path}\n")
        assert [entry["name"] for entry in ctx.state[LOADED_KEY]] == [skill.name]
        for relative in skill.files[:3]:
            text = call(ctx, read_skill_file, name=skill.name, path=relative)
            assert text == (skill.path / relative).read_text(encoding="utf-8", errors="replace")


def test_third_party_skills_install(
    compat_skills: Path, tmp_path: Path, moco_home: Path
) -> None:
    source = tmp_path / "copy"
    shutil.copytree(compat_skills, source)
    result = install(str(source), assume_yes=True)
    names = sorted(item.name for item in result.installed)
    assert names == [folder.name for folder in skill_folders(compat_skills)]
    assert SkillRegistry.discover([moco_home / "skills"]).invalid == []
