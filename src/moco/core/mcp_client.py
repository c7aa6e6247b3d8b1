"""MCP client: tools of Model Context Protocol servers become moco tools.

Built on the official ``mcp`` Python SDK (major version 2), imported only when a server
starts. Usage::

    config = MCPConfig(enabled=True, servers=[
        MCPServerConfig(name="time", command="python", args=["-m", "mcp_server_time"]),
        MCPServerConfig(name="docs", url="http://127.0.0.1:3001/mcp",
                        headers={"Authorization": "Bearer ..."}),
    ])
    async with MCPClient(config) as client:
        tools = await client.tools()               # moco Tool objects
        result = await client.call_tool("time", "get_current_time", {"timezone": "UTC"})

Transports: stdio (a ``command``), streamable HTTP (a ``url``), SSE (a URL ending in ``/sse``,
or ``transport="sse"``). Configuration files: :func:`load_mcp_config`.

Behaviour:

- **Tool names** are ``mcp__<server>__<tool>``, the scheme Claude Code uses: characters
  outside ``[A-Za-z0-9_-]`` become ``_`` and names are capped at 64 characters (a cut name ends
  with a short hash). Agents pick them with wildcards (``tools: [mcp__time__*]``). The
  description is the server's, trimmed to about 1 KB; the parameters are the server's input
  schema, unchanged (the server validates its own arguments). A tool counts as mutating unless
  the server marks it ``readOnlyHint``.
- **Lazy start**: nothing runs until a server is first used (``list_tools``, ``call_tool``,
  ``tools``). Each server's connection lives in one background task that owns the SDK's
  context managers (see :mod:`moco.mcp.connection`).
- **Crash recovery**: when a server dies or its transport fails during a request, it is
  restarted once and the request is retried once; a second failure is a
  :class:`~moco.errors.ToolError`.
- **Timeouts**: a request not answered within the server's ``timeout`` (30 s by default) fails
  with ``ToolError("MCP server 'x' did not answer within 30 s")``; the request is cancelled and
  the server keeps running.
- **Results** (:mod:`moco.mcp.results`): text as text; images and audio as a placeholder line
  (``[image: image/png, 1234 bytes]``) with the data kept on :class:`MCPToolResult`;
  embedded resources as their text; resource links as their URI; structured content as JSON
  when there is no text. A result flagged ``isError`` makes the moco tool raise
  :class:`~moco.errors.ToolError` with the server's text.
- **Shutdown**: :meth:`MCPClient.aclose` (or leaving ``async with``) stops every server: stdin
  is closed, then the process group is terminated; no process is left behind.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any

from moco.errors import ToolError
from moco.mcp.config import MCPConfig, MCPServerConfig, load_mcp_config
from moco.mcp.connection import (
    Operation,
    ServerConnection,
    describe_error,
    is_connection_lost,
)
from moco.mcp.results import MCPBinary, MCPToolOutput, MCPToolResult, convert_result
from moco.mcp.tools import MCPToolInfo, build_mcp_tool, tool_name, unique_tool_name
from moco.tools.base import Tool

__all__ = [
    "MCPBinary",
    "MCPClient",
    "MCPConfig",
    "MCPServerConfig",
    "MCPToolInfo",
    "MCPToolOutput",
    "MCPToolResult",
    "load_mcp_config",
    "tool_name",
]

logger = logging.getLogger(__name__)

_MAX_PAGES = 100


class MCPClient:
    """The MCP servers of one configuration, started on first use."""

    def __init__(self, config: MCPConfig | None = None) -> None:
        self.config = config if config is not None else MCPConfig()
        self._connections = {server.name: ServerConnection(server)
                             for server in self.config.active}
        #: servers that failed while :meth:`tools` listed them: name -> one-line reason
        self.errors: dict[str, str] = {}

    def list_servers(self) -> list[str]:
        """The names of the servers that may be used (enabled ones), in configuration order."""
        return list(self._connections)

    def is_running(self, server_name: str) -> bool:
        connection = self._connections.get(server_name)
        return connection is not None and connection.running

    async def list_tools(self, server_name: str) -> list[MCPToolInfo]:
        """The tools of one server (starting it if needed); cached until it restarts."""
        connection = self._connection(server_name)
        if connection.running and connection.tool_cache is not None:
            return list(connection.tool_cache)

        async def fetch(client: Any) -> list[MCPToolInfo]:
            found: list[MCPToolInfo] = []
            cursor: str | None = None
            for _ in range(_MAX_PAGES):
                page = await client.list_tools(cursor=cursor)
                found.extend(MCPToolInfo.from_sdk(server_name, tool) for tool in page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
            return found

        tools: list[MCPToolInfo] = await self._request(server_name, fetch)
        connection.tool_cache = tools
        return list(tools)

    async def call_tool(
        self, server: str, tool: str, arguments: dict[str, Any] | None = None
    ) -> MCPToolResult:
        """Call ``tool`` on ``server``. An error *result* (``isError``) is returned with
        ``is_error=True`` — :meth:`MCPToolResult.raise_for_error` turns it into a ToolError;
        failures to get any answer raise :class:`ToolError`."""

        async def call(client: Any) -> Any:
            return await client.call_tool(tool, dict(arguments or {}))

        raw = await self._request(server, call)
        return convert_result(raw, server=server, tool=tool)

    async def tools(self, *, strict: bool = False) -> list[Tool]:
        """Every tool of every enabled server, as moco tools (servers start concurrently).

        A server that cannot start is skipped, with its reason in :attr:`errors` and in the
        log; with ``strict=True`` its error is raised instead.
        """
        names = self.list_servers()
        listings = await asyncio.gather(*(self.list_tools(name) for name in names),
                                        return_exceptions=True)
        taken: set[str] = set()
        built: list[Tool] = []
        for name, listing in zip(names, listings, strict=True):
            if isinstance(listing, BaseException):
                if strict or not isinstance(listing, Exception):
                    raise listing
                self.errors[name] = str(listing)
                logger.warning("MCP server %r skipped: %s", name, listing)
                continue
            self.errors.pop(name, None)
            for info in listing:
                built.append(build_mcp_tool(info, self.call_tool,
                                            unique_tool_name(info.server, info.name, taken)))
        return built

    async def aclose(self) -> None:
        """Stop every started server; the client may be used again afterwards."""
        await asyncio.gather(*(connection.close() for connection in self._connections.values()))

    async def __aenter__(self) -> MCPClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ internals

    def _connection(self, name: str) -> ServerConnection:
        connection = self._connections.get(name)
        if connection is None and self.config.get(name) is not None:
            raise ToolError(f"MCP server '{name}' is disabled in its configuration")
        if connection is None:
            known = ", ".join(self._connections) or "none"
            raise ToolError(f"unknown MCP server '{name}' (configured: {known})")
        return connection

    async def _request(self, name: str, operation: Operation) -> Any:
        """Run ``operation`` on the server, restarting it once if it crashed."""
        connection = self._connection(name)
        generation = await connection.ensure_started()
        try:
            return await connection.request(operation)
        except Exception as error:
            if not is_connection_lost(error):
                raise _as_tool_error(name, error, connection) from None
            logger.warning("MCP server %r stopped (%s); restarting it", name,
                           describe_error(error, connection.config))
        await connection.ensure_started(failed_generation=generation)
        try:
            return await connection.request(operation)
        except Exception as error:
            if is_connection_lost(error):
                tail = connection.stderr_tail()
                raise ToolError(
                    f"MCP server '{name}' stopped again after a restart: "
                    f"{describe_error(error, connection.config)}"
                    + (f" — its stderr ends with: {tail}" if tail else "")
                ) from None
            raise _as_tool_error(name, error, connection) from None


def _as_tool_error(name: str, error: Exception, connection: ServerConnection) -> ToolError:
    if isinstance(error, ToolError):
        return error
    return ToolError(f"MCP server '{name}': {describe_error(error, connection.config)}")
