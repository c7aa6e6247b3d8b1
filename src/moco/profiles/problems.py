"""What a profile names but cannot have: tools that do not exist, skills that fail validation;
and what loading had to guess: an agent file's front matter without its opening ``---``,
``tools/*.py`` functions offered as tools without ``@tool``.

Such names are dropped, never fatal, but never silently either: each becomes one line of
warning — one per agent, listing all of its unknown tools — shown by ``moco list-profiles``,
emitted as ``warning`` events when a run starts, and kept in :attr:`Profile.problems`.

Only plain names are checked: a wildcard (``mcp_*``) may match tools that appear later, and
MCP tools (``mcp__server__tool``) are only known once their servers are listed, so the load
time check leaves those to the check at run start.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from moco.profiles.loader import AgentSpec
    from moco.tools.base import Tool

_WILDCARD = frozenset("*?[")
MCP_PREFIX = "mcp__"


def tool_names(tools: Iterable[Tool]) -> set[str]:
    """Every name the tools answer to (names and aliases)."""
    return {name for t in tools for name in (t.name, *t.aliases)}


def moco_tool_names(include_base_tools: bool) -> set[str]:
    """The names of moco's own tools: the base tools (when the profile includes them), the
    skill tools and ``delegate_to_agent``, which moco offers whenever they apply."""
    from moco.skills.tools import SKILL_TOOLS
    from moco.tools.base import get_tool
    from moco.tools.delegate import DELEGATE_TOOL

    names = {DELEGATE_TOOL}
    names |= tool_names(t for f in SKILL_TOOLS if (t := get_tool(f)) is not None)
    if include_base_tools:
        from moco.tools import builtin

        names |= tool_names(builtin.BASE_TOOLS)
        # the tools offered only to agents that name them (the process tools), where present
        names |= tool_names(getattr(builtin, "NAMED_TOOLS", ()))
        names |= tool_names(getattr(builtin, "MEMORY_TOOLS", ()))  # when memory is on
    return names


def unknown_tools(spec: AgentSpec, known: set[str], *, skip_mcp: bool = False) -> list[str]:
    """The plain names of ``spec.tools`` that no known tool answers to."""
    return [
        name for name in spec.tools or ()
        if not _WILDCARD & set(name) and name not in known
        and not (skip_mcp and name.startswith(MCP_PREFIX))
    ]


def tool_problems(agents: Mapping[str, AgentSpec], known: set[str] | None, *,
                  skip_mcp: bool = False) -> list[str]:
    """The agents' load notes (:func:`agent_notes`), then one line per agent whose ``tools``
    name tools that do not exist (not checked when ``known`` is None)."""
    lines = agent_notes(agents)
    if known is None or not any(spec.tools for spec in agents.values()):
        return lines
    for name, spec in agents.items():
        unknown = unknown_tools(spec, known, skip_mcp=skip_mcp)
        if unknown:
            lines.append(f"agent '{name}': unknown tools dropped: {', '.join(unknown)} "
                         f"(known tools: {', '.join(sorted(known))})")
    return lines


def agent_notes(agents: Mapping[str, AgentSpec]) -> list[str]:
    """One line per note of an agent file (:attr:`AgentSpec.notes`)."""
    return [f"agent '{name}' ({spec.path or name}): {note}"
            for name, spec in agents.items() for note in spec.notes]


def undecorated_note(path: Path, names: Iterable[str]) -> str:
    """The note for functions of ``tools/<file>.py`` offered as tools without ``@tool``."""
    listed = ", ".join(names)
    return (f"{path.parent.name}/{path.name}: {listed} offered as tools without @tool; mark "
            "them '@tool' (from moco.tools.base import tool) to choose names, aliases and "
            "mutates=True for tools that change things")


def undecorated_notes(tools_dir: Path) -> list[str]:
    """:func:`undecorated_note` for each ``tools/*.py`` with no ``@tool`` but public functions
    with a docstring, read without importing them."""
    lines = []
    for path, tree in _tool_modules(tools_dir):
        names = _undecorated_names(tree)
        if names:
            lines.append(undecorated_note(path, names))
    return lines


def skill_problems(invalid: Iterable[tuple[Path, str]]) -> list[str]:
    """One line per skill that failed validation (and is therefore not offered)."""
    return [f"skill {_skill_name(path)} skipped, it fails validation: {reason} "
            "(see 'moco skills list')" for path, reason in invalid]


def invalid_profile_skills(skills_dir: Path | None) -> list[tuple[Path, str]]:
    """The invalid skills of a profile's own ``skills/`` folder."""
    if skills_dir is None:
        return []
    from moco.skills.registry import SkillRegistry

    return SkillRegistry.discover([skills_dir]).invalid


def declared_tool_names(tools_dir: Path) -> set[str] | None:
    """The names of the ``@tool`` functions in ``tools/*.py``, read without importing them
    (``moco list-profiles`` runs no profile code); None when a file cannot be read."""
    if not tools_dir.is_dir():
        return set()
    names: set[str] = set()
    modules = _tool_modules(tools_dir)
    if any(tree is None for _, tree in modules):
        return None
    for _, tree in modules:
        assert tree is not None
        names |= _decorated(tree) or set(_undecorated_names(tree))
    return names


def _tool_modules(tools_dir: Path) -> list[tuple[Path, ast.Module | None]]:
    """Each ``tools/*.py`` (not ``_*.py``) parsed; None for a file that cannot be read."""
    if not tools_dir.is_dir():
        return []
    modules: list[tuple[Path, ast.Module | None]] = []
    for path in sorted(tools_dir.glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            modules.append((path, ast.parse(path.read_text(encoding="utf-8"),
                                            filename=str(path))))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            modules.append((path, None))
    return modules


def _decorated(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                names |= _decorated_names(decorator, node.name)
    return names


def _undecorated_names(tree: ast.Module | None) -> list[str]:
    """A module without ``@tool``: its top-level public functions that have a docstring."""
    if tree is None or _decorated(tree):
        return []
    return [node.name for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and not node.name.startswith("_") and ast.get_docstring(node)]


def _decorated_names(decorator: ast.expr, function_name: str) -> set[str]:
    """The names ``@tool`` / ``@tool(name=..., aliases=[...])`` gives a function."""
    call = decorator if isinstance(decorator, ast.Call) else None
    target = call.func if call is not None else decorator
    named = target.id if isinstance(target, ast.Name) else getattr(target, "attr", None)
    if named != "tool":
        return set()
    names = {function_name}
    for keyword in call.keywords if call is not None else []:
        if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
            names = {str(keyword.value.value)}
    for keyword in call.keywords if call is not None else []:
        if keyword.arg == "aliases" and isinstance(keyword.value, ast.List | ast.Tuple):
            names |= {str(e.value) for e in keyword.value.elts if isinstance(e, ast.Constant)}
    return names


def _skill_name(path: Path) -> str:
    folder = path.parent if path.name.upper() == "SKILL.MD" else path
    return f"'{folder.name}' ({folder})"


def load_problems(directory: Path, agents: Mapping[str, AgentSpec], include_base_tools: bool,
                  tools: tuple[Tool, ...] | None, tool_notes: tuple[str, ...] = ()
                  ) -> tuple[str, ...]:
    """Agents' load notes, unknown tools per agent, notes on ``tools/*.py`` and invalid skills
    of ``skills/`` (``tools`` None: the profile's tools were not imported; their names and
    notes are read from the files)."""
    known: set[str] | None = None
    if any(spec.tools for spec in agents.values()):
        own = (tool_names(tools) if tools is not None
               else declared_tool_names(directory / "tools"))
        if own is not None:
            known = moco_tool_names(include_base_tools) | own
    lines = tool_problems(agents, known, skip_mcp=True)
    lines += (list(tool_notes) if tools is not None
              else undecorated_notes(directory / "tools"))
    skills_dir = directory / "skills"
    if skills_dir.is_dir():
        lines += skill_problems(invalid_profile_skills(skills_dir))
    return tuple(lines)
