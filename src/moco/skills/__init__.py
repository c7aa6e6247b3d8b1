"""Agent Skills (Claude-compatible ``SKILL.md`` folders): loading, discovery, agent tools,
and installing from git repositories, archives and registries.

Light imports only: the install machinery (:mod:`moco.skills.install`) and the agent tools
(:mod:`moco.skills.tools`) are imported from their modules.
"""

from __future__ import annotations

from moco.skills.model import (
    InvalidSkillError,
    Skill,
    SkillError,
    load_skill_dir,
    validate_description,
    validate_name,
)
from moco.skills.registry import (
    SkillRegistry,
    discover_skills,
    installed_skills_dir,
    skill_locations,
)

__all__ = [
    "InvalidSkillError",
    "Skill",
    "SkillError",
    "SkillRegistry",
    "discover_skills",
    "installed_skills_dir",
    "load_skill_dir",
    "skill_locations",
    "validate_description",
    "validate_name",
]
