"""Skill tools for agents, and the system prompt section that announces the skills.

Progressive disclosure, as in Claude Code: the system prompt lists only the names and
descriptions (:func:`skills_prompt_section`); the agent calls :func:`load_skill` to read a
skill's instructions and the absolute paths of its files, then reads those files and runs its
scripts with the ordinary tools. The original MOCO's ``execute_skill`` is an alias of
``load_skill``: "executing" a skill is following its instructions, and its scripts run through
``execute_bash`` under the same permissions and sandbox as any other command.

Contract with the runtime (``ToolContext.state`` keys):

- ``"skill_registry"`` (:data:`REGISTRY_KEY`): the session's :class:`SkillRegistry`, put
  there by whoever builds the context. Without it the tools answer that no skills are
  available. It is not serialisable: rebuild it when a session is resumed.
- ``"loaded_skills"`` (:data:`LOADED_KEY`): written by :func:`load_skill` — a list, in load
  order and without duplicates, of plain dicts ``{"name", "path", "allowed_tools"}``
  (JSON-serialisable). ``allowed_tools`` holds moco tool names (Claude Code names such as
  ``Read`` or ``Bash`` mapped to ``read_file`` / ``execute_bash``); a scoped entry keeps its
  scope: ``Bash(git:*)`` -> ``execute_bash(git:*)``. Stored with the session when it changes
  (``ctx.state_changed()``), so a resumed session still has its skills loaded.

``allowed-tools`` semantics (as in Claude Code): the tools a loaded skill may use **without
asking for permission**. It is a pre-approval list, never a restriction: the agent keeps all its
tools. :func:`allowed_tools_for` gives the union for the permission layer; an entry with a
scope (``execute_bash(git:*)``) pre-approves only calls matching that scope, and a permission
layer that does not understand scopes must ignore such entries (ask, as usual).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from moco.errors import ToolError
from moco.skills.model import Skill
from moco.skills.registry import SkillRegistry
from moco.storage.session_state import SKILLS_KEY
from moco.tools.base import tool
from moco.tools.context import ToolContext

REGISTRY_KEY = "skill_registry"
LOADED_KEY = SKILLS_KEY
SEARCH_LIMIT = 10
MAX_SKILL_FILE_CHARS = 100_000
DEFAULT_PROMPT_CHARS = 6_000
_SHORT_DESCRIPTION = 160

PROMPT_HEADER = "## Skills"
PROMPT_INTRO = (
    "Skills are folders of expert instructions, scripts and reference files for particular "
    "tasks. When a task matches a skill below, call load_skill with its name before starting "
    "and follow its instructions."
)


# --------------------------------------------------------------------------- tools


@tool
def search_skills(ctx: ToolContext, query: str) -> str:
    """Find skills (folders of instructions for specialised tasks) matching a query.

    Args:
        query: Words describing the task, e.g. "pdf forms" or "slack gif".
    """
    registry = _registry(ctx)
    hits = registry.search_scored(query, limit=SEARCH_LIMIT)
    if not hits:
        return f"no skill matches '{query}' ({len(registry)} skills available)"
    lines = [f"skills matching '{query}', best first (load one with load_skill):"]
    lines += [f"- {hit.skill.name}: {hit.skill.description}" for hit in hits]
    return "\n".join(lines)


@tool(aliases=("execute_skill",))
def load_skill(ctx: ToolContext, name: str) -> str:
    """Load a skill: returns its instructions and the paths of its files. Call it before a
    task the skill covers, then follow the instructions.

    Args:
        name: The skill's name, as listed in the system prompt or by search_skills.
    """
    registry = _registry(ctx)
    skill = registry.get(name)
    if skill is None:
        raise ToolError(_unknown_skill_message(registry, name))
    _remember(ctx, skill)
    return render_loaded_skill(skill, readable_by_read_file=_inside_workdir(ctx, skill.path))


@tool
def read_skill_file(ctx: ToolContext, name: str, path: str) -> str:
    """Read a text file of a skill (for skills kept outside the working directory).

    Args:
        name: The skill's name.
        path: The file's path, relative to the skill folder or absolute.
    """
    registry = _registry(ctx)
    skill = registry.get(name)
    if skill is None:
        raise ToolError(_unknown_skill_message(registry, name))
    root = skill.path.resolve()
    candidate = Path(path).expanduser()
    target = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not target.is_relative_to(root):
        raise ToolError(f"{path} is not inside the folder of skill '{skill.name}' ({root})")
    if not target.is_file():
        raise ToolError(f"{path} does not exist in skill '{skill.name}'")
    with target.open("rb") as handle:
        data = handle.read(MAX_SKILL_FILE_CHARS * 4)
    if b"\x00" in data[:8192]:
        raise ToolError(f"{path} is a binary file; use it with execute_bash instead")
    text = data.decode("utf-8", errors="replace")
    return ctx.truncate(text, min(ctx.max_output_chars, MAX_SKILL_FILE_CHARS))


@tool
def list_loaded_skills(ctx: ToolContext) -> str:
    """List the skills loaded in this session, with the tools each one pre-approves."""
    loaded = loaded_skills(ctx)
    if not loaded:
        return "no skill is loaded"
    lines = ["loaded skills:"]
    for entry in loaded:
        tools = ", ".join(entry["allowed_tools"]) or "none"
        lines.append(f"- {entry['name']} ({entry['path']}); pre-approved tools: {tools}")
    return "\n".join(lines)


SKILL_TOOLS = (search_skills, load_skill, read_skill_file, list_loaded_skills)


# --------------------------------------------------------------------------- helpers


def loaded_skills(ctx: ToolContext) -> list[dict[str, Any]]:
    """The entries of ``ctx.state["loaded_skills"]`` (see the module docstring)."""
    value = ctx.state.get(LOADED_KEY)
    return list(value) if isinstance(value, list) else []


def allowed_tools_for(ctx: ToolContext) -> set[str] | None:
    """The moco tools pre-approved by the loaded skills' ``allowed-tools``: their union, or
    ``None`` when no loaded skill declares any. Scoped entries keep their scope
    (``execute_bash(git:*)``); see the module docstring."""
    declared = [entry.get("allowed_tools") or [] for entry in loaded_skills(ctx)]
    union = {str(name) for names in declared for name in names}
    return union or None


def moco_tool_names(allowed: tuple[str, ...] | list[str]) -> list[str]:
    """Claude Code tool names mapped to moco's (``Read`` -> ``read_file``,
    ``Bash(git:*)`` -> ``execute_bash(git:*)``); unknown names are kept as written."""
    from moco.profiles.loader import canonical_tool_name

    mapped: list[str] = []
    for entry in allowed:
        base, paren, scope = entry.partition("(")
        name = canonical_tool_name(base) + (paren + scope if paren else "")
        if name not in mapped:
            mapped.append(name)
    return mapped


def render_loaded_skill(skill: Skill, *, readable_by_read_file: bool = True) -> str:
    """What :func:`load_skill` returns: instructions, files with absolute paths, tools."""
    reader = "read_file" if readable_by_read_file else f"read_skill_file (name='{skill.name}')"
    parts = [
        f"# Skill: {skill.name}",
        f"Folder: {skill.path}",
        "Relative paths in these instructions are relative to that folder.",
        "",
        skill.body or "(this skill has no instructions beyond its description)",
        "",
    ]
    if skill.files:
        parts.append(
            f"## Files of this skill (read them with {reader} when the instructions call for "
            "them; run its scripts with execute_bash using these paths)"
        )
        parts += [f"- {path}" for path in skill.file_paths()]
        if skill.files_truncated:
            parts.append(f"- ... more files in {skill.path}")
    else:
        parts.append("## Files of this skill: none besides SKILL.md")
    if skill.allowed_tools:
        names = ", ".join(moco_tool_names(skill.allowed_tools))
        parts += ["", f"Pre-approved tools while this skill is loaded: {names}"]
    return "\n".join(parts).rstrip() + "\n"


def skills_prompt_section(
    registry: SkillRegistry | None, limit_chars: int = DEFAULT_PROMPT_CHARS
) -> str:
    """The compact list of skills for the system prompt ("" when there are none).

    Descriptions are shortened when the full list would exceed ``limit_chars``; skills that
    still do not fit are counted in a last line pointing to search_skills.
    """
    skills = registry.list() if registry is not None else []
    if not skills:
        return ""
    head = f"{PROMPT_HEADER}\n{PROMPT_INTRO}\n"
    full = [f"- {skill.name}: {_one_line(skill.description)}" for skill in skills]
    if len(head) + sum(len(line) + 1 for line in full) <= limit_chars:
        return head + "\n".join(full)
    short = [f"- {skill.name}: {_shorten(skill.description)}" for skill in skills]
    kept: list[str] = []
    used = len(head)
    for index, line in enumerate(short):
        remaining = len(short) - index
        tail = len(f"- ... and {remaining} more: call search_skills to find them") + 1
        if used + len(line) + 1 + (tail if remaining > 1 else 0) > limit_chars:
            kept.append(f"- ... and {remaining} more: call search_skills to find them")
            break
        kept.append(line)
        used += len(line) + 1
    return head + "\n".join(kept)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shorten(text: str, limit: int = _SHORT_DESCRIPTION) -> str:
    flat = _one_line(text)
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:") + "…"


def _registry(ctx: ToolContext) -> SkillRegistry:
    registry = ctx.state.get(REGISTRY_KEY)
    if not isinstance(registry, SkillRegistry):
        raise ToolError("no skills are available in this session")
    return registry


def _remember(ctx: ToolContext, skill: Skill) -> None:
    loaded = loaded_skills(ctx)
    if any(entry.get("name") == skill.name for entry in loaded):
        return
    loaded.append(
        {
            "name": skill.name,
            "path": str(skill.path),
            "allowed_tools": moco_tool_names(skill.allowed_tools),
        }
    )
    ctx.state[LOADED_KEY] = loaded
    ctx.state_changed()


def _inside_workdir(ctx: ToolContext, path: Path) -> bool:
    return ctx.allow_outside or path.resolve().is_relative_to(ctx.working_dir)


def _unknown_skill_message(registry: SkillRegistry, name: str) -> str:
    close = registry.search(name, limit=3)
    hint = f"; did you mean {', '.join(skill.name for skill in close)}?" if close else ""
    return f"no skill named '{name}'{hint} (search_skills finds skills by topic)"
