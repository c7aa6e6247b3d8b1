"""Profiles: teams of agents described as data (see :mod:`moco.profiles.loader`).

The sub-folders of this package (``default/`` ...) are the built-in profiles.
"""

from __future__ import annotations

from moco.profiles.loader import (
    TOOL_NAME_ALIASES,
    AgentSpec,
    Profile,
    ProfileInfo,
    canonical_tool_name,
    list_profiles,
    load_agent,
    load_profile,
    search_roots,
)
from moco.profiles.prompt import default_variables, project_instructions, render_prompt

__all__ = [
    "TOOL_NAME_ALIASES",
    "AgentSpec",
    "Profile",
    "ProfileInfo",
    "canonical_tool_name",
    "default_variables",
    "list_profiles",
    "load_agent",
    "load_profile",
    "project_instructions",
    "render_prompt",
    "search_roots",
]
