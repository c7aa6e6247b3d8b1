"""What one orchestrator may use of the project it runs in.

:class:`ProjectTrust` answers, item by item (:mod:`moco.trust.items`), whether the project's
things may be used, and collects one warning per skipped item naming the file and how to
trust it. Untrusted items are handled like this:

- ``.mcp.json`` / ``mcp.json``: its servers are not started;
- ``.moco/profiles/<name>``: a project profile never replaces a user, environment or built-in
  profile of the same name; one that is used anyway (no other of that name) keeps its agents'
  prompts, but its ``tools/*.py`` are not imported and its ``mcp_servers``, ``permissions``
  (also in agents' front matter), ``sandbox``, ``guardrails.shell_allow`` and
  ``guardrails.enable_dangerous_pattern_check: false`` are ignored. A *trusted* profile that
  switches the danger check off is still said, as a warning, at every start;
- ``.claude/agents``, ``.opencode/agent(s)``: those agents do not join the team;
- ``AGENTS.md`` / ``CLAUDE.md`` / ``MOCO.md``: not put in the prompt;
- a skill with ``allowed-tools`` (``.moco/skills``, ``.claude/skills``, a project profile's
  ``skills/``): usable, but its ``allowed-tools`` pre-approve nothing (each use asks).

``MOCO_TRUST_ALL=1`` in the *process* environment (never read from ``.env`` files or an
``env`` mapping given to the orchestrator) trusts every project: an explicit opt-in for CI and
test suites.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moco.trust.store import TrustReport, check_project

if TYPE_CHECKING:
    from moco.profiles import Profile
    from moco.skills.registry import SkillRegistry

TRUST_ALL_VAR = "MOCO_TRUST_ALL"
ALLOW_ENV_VAR = "MOCO_MCP_ALLOW_ENV"
HOW_TO_TRUST = ("trust the project with `moco trust`, or run with --trust-project "
                "(Python: Orchestrator(trust_project=True))")
_DANGER_OFF = "guardrails.enable_dangerous_pattern_check: false"


def loosening_settings(settings: Mapping[str, Any]) -> list[str]:
    """The keys of profile.yaml settings that run programs or loosen policy."""
    keys = [key for key in ("mcp_servers", "permissions", "sandbox")
            if settings.get(key) not in (None, {}, [])]
    guardrails = settings.get("guardrails")
    if isinstance(guardrails, Mapping):
        if guardrails.get("enable_dangerous_pattern_check") is False:
            keys.append(_DANGER_OFF)
        if guardrails.get("shell_allow"):
            keys.append("guardrails.shell_allow")
    return keys


def allowed_env_names(env: Mapping[str, str]) -> frozenset[str]:
    """``MOCO_MCP_ALLOW_ENV=VAR1,VAR2``: the variables a project's MCP files may use."""
    return frozenset(name.strip() for name in env.get(ALLOW_ENV_VAR, "").split(",")
                     if name.strip())


@dataclass
class ProjectTrust:
    """The trust decision for one working directory (``report`` None: everything trusted)."""

    working_dir: Path
    report: TrustReport | None
    #: variables ``${VAR}`` in the project's MCP files may expand
    allow_env: frozenset[str] = frozenset()
    warnings: list[str] = field(default_factory=list)
    _said: set[str] = field(default_factory=set)

    @classmethod
    def resolve(cls, working_dir: Path, env: Mapping[str, str] | None,
                trust_project: bool | None) -> ProjectTrust:
        """``trust_project`` True trusts the project for this orchestrator, False trusts
        nothing of it, None asks the trust store; ``env`` is the caller's environment
        (``os.environ`` when None), never the ``.env`` files a project may bring."""
        caller = os.environ if env is None else env
        allow = allowed_env_names(caller)
        if trust_project or os.environ.get(TRUST_ALL_VAR, "").lower() in ("1", "true", "yes"):
            return cls(working_dir, None, allow)
        report = check_project(working_dir, caller)
        if trust_project is False:
            report.status = {item.key: "new" for item in report.items}
        return cls(working_dir, report, allow)

    def allows(self, key: str) -> bool:
        return self.report is None or self.report.is_trusted(key)

    def allows_path(self, path: Path) -> bool:
        """Whether the item at ``path`` may be used (paths outside the project may)."""
        try:
            relative = Path(path).resolve().relative_to(self.working_dir)
        except ValueError:
            return True
        return any(self.allows(part.as_posix()) for part in (relative, *relative.parents)
                   if part != Path("."))

    def skip(self, key: str, what: str) -> None:
        """Note, once per item, that ``key`` is not used and why."""
        if key in self._said:
            return
        self._said.add(key)
        changed = self.report is not None and self.report.status.get(key) == "changed"
        state = "changed since you trusted it" if changed else "not trusted"
        self.warnings.append(f"{key} is {state}: {what} — {HOW_TO_TRUST}")

    def take_warnings(self) -> list[str]:
        warnings, self.warnings = self.warnings, []
        return warnings

    # -- what the orchestrator asks -----------------------------------------------------------
    def use_mcp_file(self, path: Path) -> bool:
        if self.allows_path(path):
            return True
        self.skip(path.name, "its MCP servers are not started")
        return False

    def use_agent_folder(self, folder: Path) -> bool:
        if self.allows(folder.as_posix()):
            return True
        self.skip(folder.as_posix(), "its agents do not join the team")
        return False

    def use_instructions(self, name: str) -> bool:
        return self.allows(name)

    def guard_skills(self, registry: SkillRegistry) -> SkillRegistry:
        """``registry`` with the ``allowed-tools`` of untrusted project skills emptied."""
        from moco.skills.registry import SkillRegistry

        skills = []
        for skill in registry.list():
            if skill.allowed_tools and not self.allows_path(skill.path):
                key = skill.path.resolve().relative_to(self.working_dir).as_posix()
                self.skip(key, "its allowed-tools pre-approve nothing (each use asks)")
                skill = dataclasses.replace(skill, allowed_tools=())
            skills.append(skill)
        guarded = SkillRegistry(skills)
        guarded.invalid, guarded.shadowed = registry.invalid, registry.shadowed
        guarded.locations = registry.locations
        return guarded

    def load_team(self, name: str | Path, env: Mapping[str, str]) -> tuple[Profile, list[str]]:
        """The profile (guarded as the module docstring says) with the project's external
        agents; warnings for what is skipped are collected in :attr:`warnings`."""
        from moco.profiles import load_profile
        from moco.profiles.external import with_external_agents
        from moco.profiles.prompt import PROJECT_INSTRUCTION_FILES

        loaded = load_profile(name, working_dir=self.working_dir, env=env,
                              trusted=self.allows_path)
        loaded = self.guard_profile(loaded, name)
        for file in PROJECT_INSTRUCTION_FILES:
            if (self.working_dir / file).is_file() and not self.allows(file):
                self.skip(file, "its instructions are not put in the prompt")
        return with_external_agents(loaded, self.working_dir, use=self.use_agent_folder)

    def guard_profile(self, profile: Profile, name: str | Path) -> Profile:
        """``profile`` without what its project may not bring (see the module docstring)."""
        shadow = self.working_dir / ".moco" / "profiles" / str(name)
        if (profile.source != "project" and isinstance(name, str) and "/" not in name
                and (shadow / "agents").is_dir()
                and not self.allows_path(shadow)):
            where = {"builtin": "built-in", "env": "MOCO_PROFILES_PATH"}.get(profile.source,
                                                                            profile.source)
            self.skip(f".moco/profiles/{name}", f"it does not replace the {where} profile "
                      f"'{name}', which is used instead")
        if profile.source != "project" or profile.path is None:
            return profile
        key = profile.path.resolve().relative_to(self.working_dir).as_posix()
        if self.allows(key):
            if _DANGER_OFF in loosening_settings(profile.settings):
                self.warnings.append(f"{key}/profile.yaml switches the dangerous-pattern check "
                                     "off (guardrails: enable_dangerous_pattern_check: false)")
            return profile
        return self._without_loosening(profile, key)

    def _without_loosening(self, profile: Profile, key: str) -> Profile:
        dropped = loosening_settings(profile.settings)
        settings = {k: v for k, v in profile.settings.items()
                    if k not in ("mcp_servers", "permissions", "sandbox")}
        guardrails = settings.get("guardrails")
        if isinstance(guardrails, Mapping):
            settings["guardrails"] = {k: v for k, v in guardrails.items() if k != "shell_allow"
                                      and (k, v) != ("enable_dangerous_pattern_check", False)}
        agents = {}
        for agent_name, spec in profile.agents.items():
            if "permissions" in spec.extra:
                dropped.append(f"permissions of agent '{agent_name}'")
                extra = {k: v for k, v in spec.extra.items() if k != "permissions"}
                spec = dataclasses.replace(spec, extra=extra)
            agents[agent_name] = spec
        tools_dir = profile.path / "tools" if profile.path else None
        if tools_dir is not None and any(tools_dir.glob("[!_]*.py")):
            dropped.insert(0, "tools/*.py (not imported)")
        if dropped:
            self.skip(key, f"its prompts are used but {', '.join(dropped)} are ignored")
        return dataclasses.replace(profile, settings=settings, agents=agents, tools=())
