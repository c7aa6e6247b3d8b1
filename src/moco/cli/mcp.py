"""``moco mcp list | tools <server> | call <server> <tool> '<json>'``: inspect and try the MCP
servers moco is configured with (see :mod:`moco.mcp.config` for where they are defined).
``moco mcp serve``: the other way round — serve a profile's agents as MCP tools
(see :mod:`moco.mcp.server`)."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    import socket

    from moco.core.mcp_client import MCPConfig, MCPToolInfo, MCPToolResult
    from moco.mcp.server import AgentService

T = TypeVar("T")

mcp_app = typer.Typer(
    help="Inspect and call the MCP servers moco is configured with, or serve moco's agents "
         "over MCP.",
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


@mcp_app.command("serve")
def serve_command(
    profile: Annotated[str, typer.Option("--profile", "-p", help="Profile whose agents are served.")
                       ] = "default",
    provider: Annotated[str | None, typer.Option(
        "--provider", "-P", help="Provider, optionally with model: zai, zai/glm-4.7, openai/gpt-5.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model name.")] = None,
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="OpenAI-compatible endpoint (Ollama, vLLM, LM Studio...).")] = None,
    working_dir: Annotated[Path | None, typer.Option(
        "--working-dir", "-w", help="Folder the agents work in (default: current).")] = None,
    transport: Annotated[str, typer.Option(
        "--transport", help="stdio (for Claude Desktop, Cursor, Claude Code) or http "
                            "(streamable HTTP at /mcp).")] = "stdio",
    host: Annotated[str, typer.Option("--host", help="HTTP: address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="HTTP: port to bind.")] = 8765,
    allow_remote: Annotated[bool, typer.Option(
        "--allow-remote", help="HTTP: allow a non-loopback --host (needs MOCO_MCP_TOKEN).")
    ] = False,
    token: Annotated[str | None, typer.Option(
        "--token", help="HTTP: the token requests must carry (default: $MOCO_MCP_TOKEN, "
                        "else a random one, printed).")] = None,
    no_token: Annotated[bool, typer.Option(
        "--no-token", help="HTTP on loopback: require no token.")] = False,
) -> None:
    """Serve the profile's agents as MCP tools: one tool per agent plus run_agent(agent, task).

    Each call runs the agent and returns its final answer, with the moco session id on the
    last line (pass it back as `session` to continue). Over HTTP every request needs the
    token (--token, MOCO_MCP_TOKEN, or a random one printed at start) as `Authorization:
    Bearer <token>` or `?token=<token>`.
    """
    import contextlib
    import sys

    from moco.errors import MocoError

    if transport not in ("stdio", "http"):
        _fail(f"unknown transport '{transport}' — use stdio or http", 2)
    try:
        # nothing may reach stdout before the stdio protocol starts
        with contextlib.redirect_stdout(sys.stderr):
            service, listener = _serve_setup(profile, provider, model, base_url, working_dir,
                                             transport, host, port, allow_remote,
                                             (token, no_token))
    except MocoError as error:
        _fail(str(error), 2)
    if listener is None:
        from moco.mcp.server import serve_stdio

        _run(serve_stdio(service))
        return
    from moco.mcp.http_server import serve_http

    sock, required, generated = listener
    _run(serve_http(service, sock, host, required, generated=generated))


def _serve_setup(
    profile: str, provider: str | None, model: str | None, base_url: str | None,
    working_dir: Path | None, transport: str, host: str, port: int, allow_remote: bool,
    token_flags: tuple[str | None, bool] = (None, False),
) -> tuple[AgentService, tuple[socket.socket, str | None, bool] | None]:
    """Check the flags, build the agent service and (HTTP) bind the port; raises MocoError."""
    from moco.config import load_environment
    from moco.errors import ConfigError
    from moco.mcp.server import AgentService, ServeOptions

    listener: tuple[socket.socket, str | None, bool] | None = None
    token: str | None = None
    generated = False
    if working_dir is None and Path.cwd() == Path(Path.cwd().anchor):
        # desktop clients start servers in "/": the agents must not work on the whole disk
        raise ConfigError(f"moco mcp serve was started in {Path.cwd()} — pass --working-dir/-w "
                          "with the folder the agents should work in")
    if transport == "http":
        from moco.mcp.http_server import choose_token

        directory = (working_dir or Path.cwd()).expanduser().resolve()
        token, generated = choose_token(host, allow_remote, load_environment(directory),
                                        token=token_flags[0], no_token=token_flags[1])
    service = AgentService(ServeOptions(profile=profile, provider=provider, model=model,
                                        base_url=base_url, working_dir=working_dir))
    if transport == "http":
        from moco.mcp.http_server import listen

        listener = (listen(host, port), token, generated)
    return service, listener


# --------------------------------------------------------------------------- helpers


def _load(working_dir: Path | None, profile: str) -> MCPConfig:
    from moco.config import load_environment, moco_home
    from moco.core.mcp_client import load_mcp_config
    from moco.errors import MocoError
    from moco.profiles import load_profile
    from moco.trust.gate import ProjectTrust

    directory = (working_dir or Path.cwd()).expanduser().resolve()
    try:
        env = load_environment(directory)
        settings = load_profile(profile, working_dir=directory, env=env).settings
        trust = ProjectTrust.resolve(directory, None, None)  # the project's files need trust
        config = load_mcp_config(directory, moco_home(env), settings, env,
                                 allow_env=trust.allow_env,
                                 use_project_file=trust.use_mcp_file)
        for warning in (*trust.take_warnings(), *config.warnings):
            typer.echo(f"warning: {warning}", err=True)
        return config
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
