"""Agents written for other tools join the team.

Markdown agents in the working directory's ``.claude/agents/`` (Claude Code) and
``.opencode/agent/`` or ``.opencode/agents/`` (OpenCode) are added to the current profile
as sub-agents; their front matter (``description``, ``tools``, ``model``) is read with the
same loader as moco's own agents. A profile agent of the same name wins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from moco.errors import ConfigError
from moco.profiles.loader import AgentSpec, Profile, load_agent

AGENT_FOLDERS = (
    Path(".claude") / "agents",
    Path(".opencode") / "agent",
    Path(".opencode") / "agents",
)


def external_agents(
    working_dir: Path, use: Callable[[Path], bool] | None = None
) -> tuple[dict[str, AgentSpec], list[str]]:
    """The agents found in the working directory, and one line per file that failed.

    ``use`` (None: every folder) says whether a folder of :data:`AGENT_FOLDERS` holding agents
    may be used (the project's trust, :mod:`moco.trust`)."""
    found: dict[str, AgentSpec] = {}
    problems: list[str] = []
    for folder in AGENT_FOLDERS:
        directory = working_dir / folder
        files = sorted(directory.glob("*.md")) if directory.is_dir() else []
        if not files or (use is not None and not use(folder)):
            continue
        for path in files:
            try:
                spec = load_agent(path)
            except ConfigError as error:
                problems.append(str(error))
                continue
            if spec.mode == "primary":
                spec = dataclasses.replace(spec, mode="all")
            found.setdefault(spec.name, spec)
    return found, problems


def with_external_agents(
    profile: Profile, working_dir: Path, use: Callable[[Path], bool] | None = None
) -> tuple[Profile, list[str]]:
    """``profile`` with the working directory's Claude Code / OpenCode agents added."""
    found, problems = external_agents(working_dir, use)
    extra = {name: spec for name, spec in found.items() if name not in profile.agents}
    if not extra:
        return profile, problems
    return dataclasses.replace(profile, agents={**profile.agents, **extra}), problems
