"""MCP tools as moco :class:`~moco.tools.base.Tool` objects.

Names follow Claude Code's scheme, ``mcp__<server>__<tool>``: characters outside
``[A-Za-z0-9_-]`` become ``_``, and a name longer than 64 characters (the limit of the OpenAI
and Anthropic APIs) is cut and ends with a short hash of the original names, which keeps it
unique. Agents select them like any tool, with wildcards: ``mcp__time__*``, ``mcp__*``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from moco.mcp.results import MCPToolOutput, MCPToolResult
from moco.tools.base import Tool

MAX_TOOL_NAME = 64
MAX_DESCRIPTION = 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

Caller = Callable[[str, str, dict[str, Any]], Awaitable[MCPToolResult]]


@dataclass(frozen=True)
class MCPToolInfo:
    """A tool as a server lists it."""

    server: str
    name: str
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=dict)
    title: str | None = None
    #: the server's ``readOnlyHint``: ``True`` when the tool changes nothing
    read_only: bool | None = None

    @property
    def argument_names(self) -> list[str]:
        return list((self.input_schema.get("properties") or {}).keys())

    @property
    def required(self) -> list[str]:
        return [str(name) for name in self.input_schema.get("required") or []]

    @classmethod
    def from_sdk(cls, server: str, tool: Any) -> MCPToolInfo:
        annotations = getattr(tool, "annotations", None)
        return cls(
            server=server,
            name=tool.name,
            description=tool.description or "",
            input_schema=dict(tool.input_schema or {}),
            title=getattr(tool, "title", None) or getattr(annotations, "title", None),
            read_only=getattr(annotations, "read_only_hint", None),
        )


class MCPArguments(BaseModel):
    """Accepts any arguments and hands them on whole: MCP servers validate their own input
    against the schema they published, so moco does not check them twice."""

    model_config = ConfigDict(extra="allow")

    arguments: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _wrap(cls, data: Any) -> Any:
        return {"arguments": dict(data) if isinstance(data, Mapping) else {}}


def tool_name(server: str, tool: str) -> str:
    """``mcp__<server>__<tool>``, sanitised and at most 64 characters."""
    name = f"mcp__{_UNSAFE.sub('_', server)}__{_UNSAFE.sub('_', tool)}"
    if len(name) <= MAX_TOOL_NAME:
        return name
    return _with_hash(name, server, tool)


def unique_tool_name(server: str, tool: str, taken: set[str]) -> str:
    """:func:`tool_name`, with a hash suffix when another tool already has that name."""
    name = tool_name(server, tool)
    if name in taken:
        name = _with_hash(name, server, tool)
    taken.add(name)
    return name


def _with_hash(name: str, server: str, tool: str) -> str:
    digest = hashlib.sha1(f"{server}\0{tool}".encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{name[: MAX_TOOL_NAME - len(digest) - 1]}_{digest}"


def trim_description(text: str, limit: int = MAX_DESCRIPTION) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def tool_schema(input_schema: Mapping[str, Any]) -> dict[str, Any]:
    """The server's input schema as the model will see it: an object schema, without the
    ``$schema`` marker some servers add."""
    schema = {key: value for key, value in input_schema.items() if key != "$schema"}
    schema.setdefault("type", "object")
    if schema.get("type") == "object":
        schema.setdefault("properties", {})
    return schema


def build_mcp_tool(info: MCPToolInfo, caller: Caller, name: str | None = None) -> Tool:
    """A moco tool that calls ``info``'s server through ``caller``; an error result raises
    :class:`~moco.errors.ToolError` with the server's text."""

    async def call_mcp_tool(arguments: dict[str, Any]) -> MCPToolOutput:
        result = await caller(info.server, info.name, arguments)
        result.raise_for_error()
        return MCPToolOutput(result)

    description = (info.description or info.title
                   or f"Tool '{info.name}' of MCP server '{info.server}'.")
    return Tool(
        name=name or tool_name(info.server, info.name),
        description=trim_description(description),
        parameters=tool_schema(info.input_schema),
        function=call_mcp_tool,
        arguments_model=MCPArguments,
        is_async=True,
        mutates=info.read_only is not True,
        metadata={"source": "mcp", "mcp_server": info.server, "mcp_tool": info.name},
    )
