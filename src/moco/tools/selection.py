"""Which of the available tools an agent gets, from its front matter's ``tools``."""

from __future__ import annotations

from typing import Protocol

from moco.tools.base import ToolRegistry


class ToolSelector(Protocol):
    def allows_tool(self, name: str) -> bool: ...


def select_tools(available: ToolRegistry, spec: ToolSelector) -> ToolRegistry:
    """The tools ``spec`` allows, matched by name or by any alias (wildcards allowed)."""
    return ToolRegistry(
        tool for tool in available
        if spec.allows_tool(tool.name) or any(spec.allows_tool(a) for a in tool.aliases)
    )
