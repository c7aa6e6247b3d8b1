"""Tools agents can call: the ``@tool`` decorator, the registry and the base tools."""

from moco.tools.base import Tool, ToolRegistry, get_tool, tool
from moco.tools.context import ToolContext

__all__ = ["Tool", "ToolContext", "ToolRegistry", "get_tool", "tool"]
