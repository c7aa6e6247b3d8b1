"""``moco mcp list | tools <server> | call <server> <tool> '<json>'``: inspect and try the MCP
servers moco is configured with (see :mod:`moco.mcp.config` for where they are defined)."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from moco.core.mcp_client import MCPConfig, MCPToolInfo, MCPToolResult

T = TypeVar("T")

mcp_app = typer.Typer(
    help="Inspect and call the MCP servers moco is configured with.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

WorkdirOption = Annotated[
    Path | None,
    typer.Option("--working-dir", "-w", help="Project folder (default: current)."),
]
ProfileOption = Annotated[
    str, typer.Option("--profile", "-p", help="Profile whose mcp_servers are included."),
]


@mcp_app.command("list")
def list_command(working_dir: WorkdirOption = None, profile: ProfileOption = "default") -> None:
    """List the configured MCP servers: name, transport, command or URL, where defined."""
    config = _load(working_dir, profile)
    if not config.servers:
        typer.echo("no MCP servers configured — define them in .mcp.json (\"mcpServers\") or "
                   "under mcp_servers: in profile.yaml")
        return
    rows = [(server.name + ("" if server.enabled else " (disabled)"), server.kind,
             server.target, server.source) for server in config.servers]
    _print_table(("name", "transport", "command / url", "defined in"), rows)


@mcp_app.command("tools")
def tools_command(
    server: Annotated[str, typer.Argument(help="Server name (see `moco mcp list`).")],
    working_dir: WorkdirOption = None,
    profile: ProfileOption = "default",
) -> None:
    """List a server's tools: name, arguments (* = required), description."""
    from moco.core.mcp_client import MCPClient, tool_name

    config = _load(working_dir, profile)

    async def fetch() -> list[MCPToolInfo]:
        async with MCPClient(config) as client:
            return await client.list_tools(server)

    for info in _run(fetch()):
        required = set(info.required)
        args = ", ".join(name + ("*" if name in required else "") for name in info.argument_names)
        summary = (info.description.strip().splitlines() or [""])[0]
        typer.echo(f"{info.name}({args})  [{tool_name(server, info.name)}]")
        if summary:
            typer.echo(f"    {summary}")


@mcp_app.command("call")
def call_command(
    server: Annotated[str, typer.Argument(help="Server name.")],
    tool: Annotated[str, typer.Argument(help="Tool name, as the server lists it.")],
    arguments: Annotated[str, typer.Argument(help="Arguments as a JSON object.")] = "{}",
    working_dir: WorkdirOption = None,
    profile: ProfileOption = "default",
) -> None:
    """Call one tool and print its result text; exit 1 when the tool reports an error."""
    import json

    from moco.core.mcp_client import MCPClient
    from moco.errors import ToolError

    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as error:
        _fail(f"the arguments are not valid JSON ({error.msg} at column {error.colno}); "
              "give an object such as '{\"message\": \"hi\"}'")
    if not isinstance(parsed, dict):
        _fail("the arguments must be a JSON object such as '{\"message\": \"hi\"}'")
    config = _load(working_dir, profile)

    async def call() -> MCPToolResult:
        async with MCPClient(config) as client:
            names = [info.name for info in await client.list_tools(server)]
            if tool not in names:
                raise ToolError(f"unknown tool '{tool}' on MCP server '{server}'; available: "
                                + (", ".join(names) or "none"))
            return await client.call_tool(server, tool, parsed)

    result = _run(call())
    if result.is_error:
        _fail(" ".join(result.text.split())[:1000] or "the tool reported an error")
    typer.echo(result.text)


# --------------------------------------------------------------------------- helpers


def _load(working_dir: Path | None, profile: str) -> MCPConfig:
    from moco.config import load_environment, moco_home
    from moco.core.mcp_client import load_mcp_config
    from moco.errors import MocoError
    from moco.profiles import load_profile

    directory = (working_dir or Path.cwd()).expanduser().resolve()
    try:
        env = load_environment(directory)
        settings = load_profile(profile, working_dir=directory, env=env).settings
        return load_mcp_config(directory, moco_home(env), settings, env)
    except MocoError as error:
        _fail(str(error), error.exit_code)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` in a new event loop; a moco error becomes one line and an exit code."""
    import asyncio

    from moco.errors import MocoError

    try:
        return asyncio.run(coroutine)
    except MocoError as error:
        _fail(str(error), error.exit_code)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        typer.echo("  ".join([*cells, row[-1]]).rstrip())
