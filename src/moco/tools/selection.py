"""Which of the available tools an agent gets, from its front matter's ``tools``."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Protocol

from moco.tools.base import ToolRegistry


class ToolSelector(Protocol):
    @property
    def excluded_tools(self) -> tuple[str, ...]: ...

    def allows_tool(self, name: str) -> bool: ...


def select_tools(available: ToolRegistry, spec: ToolSelector) -> ToolRegistry:
    """The tools ``spec`` allows, matched by name or by any alias (wildcards allowed).
    An exclusion of any of a tool's names removes it (``{write: false}`` removes
    ``write_file``). A tool of :data:`~moco.tools.builtin.NAMED_TOOLS` is chosen only when
    ``spec.tools`` names it exactly (no wildcard, not "every tool")."""
    from moco.tools.builtin import NAMED_TOOL_NAMES

    named = set(getattr(spec, "tools", None) or ())
    chosen = []
    for tool in available:
        names = (tool.name, *tool.aliases)
        excluded = any(fnmatchcase(name, pattern) for name in names
                       for pattern in spec.excluded_tools)
        if tool.name in NAMED_TOOL_NAMES and not named.intersection(names):
            continue
        if not excluded and any(spec.allows_tool(name) for name in names):
            chosen.append(tool)
    return ToolRegistry(chosen)
