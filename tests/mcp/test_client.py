"""MCPClient against the official reference servers (server-everything, mcp-server-time), plus
the parts that need no server: naming, result conversion, start-up failures."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import mcp_types as types
import pytest

from moco.core.mcp_client import MCPClient, MCPConfig, MCPServerConfig, MCPToolOutput
from moco.errors import ToolError
from moco.mcp.connection import is_connection_lost
from moco.mcp.results import convert_result
from moco.mcp.tools import MAX_TOOL_NAME, tool_name, trim_description, unique_tool_name
from moco.tools.base import Tool
from moco.tools.context import ToolContext
from tests.mcp import (
    child_processes,
    children_running,
    everything_over_http,
    everything_path,
    pid_alive,
    require_time_server,
    wait_until,
)

STDIO_MARK = "index.js stdio"  # how a stdio server-everything started by these tests looks


def everything(name: str = "every", **options: object) -> MCPServerConfig:
    return MCPServerConfig(name=name, command="node", args=[str(everything_path()), "stdio"],
                           **options)  # type: ignore[arg-type]


def client_for(*servers: MCPServerConfig) -> MCPClient:
    return MCPClient(MCPConfig(enabled=True, servers=list(servers)))


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    with everything_over_http() as url:
        yield url


# --------------------------------------------------------------------------- no server needed


def test_tool_names_are_namespaced_sanitised_and_capped() -> None:
    assert tool_name("time", "get_current_time") == "mcp__time__get_current_time"
    assert tool_name("my server", "do.it/now") == "mcp__my_server__do_it_now"
    long = tool_name("s" * 40, "t" * 40)
    assert len(long) == MAX_TOOL_NAME and long.startswith("mcp__sss")
    assert long != tool_name("s" * 40, "t" * 39 + "u")
    taken: set[str] = set()
    first = unique_tool_name("a", "x.y", taken)
    second = unique_tool_name("a", "x_y", taken)
    assert first == "mcp__a__x_y" and second != first and len(taken) == 2


def test_descriptions_are_trimmed_to_about_a_kilobyte() -> None:
    assert trim_description("  short  ") == "short"
    trimmed = trim_description("word " * 1000)
    assert len(trimmed) <= 1024 and trimmed.endswith("…")


def test_result_conversion_covers_every_content_kind() -> None:
    png = base64.b64encode(b"\x89PNG" + b"\0" * 96).decode()
    raw = types.CallToolResult(content=[
        types.TextContent(text="hello"),
        types.ImageContent(data=png, mime_type="image/png"),
        types.EmbeddedResource(resource=types.TextResourceContents(
            uri="file:///a.txt", mime_type="text/plain", text="inside")),
        types.EmbeddedResource(resource=types.BlobResourceContents(
            uri="file:///b.bin", mime_type="application/zip",
            blob=base64.b64encode(b"12345").decode())),
        types.ResourceLink(name="c", uri="file:///c.md"),
    ])
    result = convert_result(raw, server="s", tool="t")
    assert result.text.splitlines() == [
        "hello", "[image: image/png, 100 bytes]", "inside",
        "[resource file:///b.bin (application/zip), 5 bytes]", "file:///c.md",
    ]
    assert result.images[0].decode().startswith(b"\x89PNG") and not result.is_error

    structured = convert_result(types.CallToolResult(content=[], structured_content={"n": 1}))
    assert structured.text == '{"n": 1}' and structured.structured == {"n": 1}

    failed = convert_result(types.CallToolResult(content=[types.TextContent(text="bad")],
                                                 is_error=True))
    with pytest.raises(ToolError, match=r"^bad$"):
        failed.raise_for_error()


def test_which_errors_count_as_a_lost_connection() -> None:
    from mcp.shared.exceptions import MCPError

    assert is_connection_lost(MCPError(types.CONNECTION_CLOSED, "Connection closed"))
    assert is_connection_lost(MCPError(types.INVALID_REQUEST, "Session terminated"))
    assert is_connection_lost(ExceptionGroup("transport", [BrokenPipeError()]))
    assert not is_connection_lost(MCPError(types.INVALID_PARAMS, "bad arguments"))
    assert not is_connection_lost(ToolError("MCP server 'x' did not answer within 1 s"))


async def test_unknown_and_disabled_servers_are_tool_errors() -> None:
    client = client_for(MCPServerConfig(name="off", command="true", enabled=False))
    assert client.list_servers() == []
    with pytest.raises(ToolError, match="unknown MCP server 'nope'"):
        await client.list_tools("nope")
    with pytest.raises(ToolError, match="'off' is disabled"):
        await client.call_tool("off", "x", {})


async def test_a_missing_command_fails_in_one_line() -> None:
    async with client_for(MCPServerConfig(name="ghost", command="no-such-mcp-server-xyz")) as c:
        with pytest.raises(ToolError, match="could not start: command not found: no-such"):
            await c.list_tools("ghost")
        assert await c.tools() == [] and "ghost" in c.errors
        with pytest.raises(ToolError):
            await c.tools(strict=True)


async def test_a_server_dying_at_start_shows_its_stderr() -> None:
    crash = MCPServerConfig(name="crash", command=sys.executable,
                            args=["-c", "import sys; sys.stderr.write('kaput: no token\\n'); "
                                        "sys.exit(3)"])
    async with client_for(crash) as client:
        with pytest.raises(ToolError, match=r"could not start.*kaput: no token"):
            await client.list_tools("crash")
    assert not children_running("kaput")


# --------------------------------------------------------------------------- real servers


@pytest.mark.slow
async def test_stdio_lists_and_calls_echo_and_sum() -> None:
    async with client_for(everything()) as client:
        names = [info.name for info in await client.list_tools("every")]
        assert {"echo", "get-sum", "get-tiny-image"} <= set(names)
        echoed = await client.call_tool("every", "echo", {"message": "over stdio"})
        assert echoed.text == "Echo: over stdio" and not echoed.is_error
        total = await client.call_tool("every", "get-sum", {"a": 2, "b": 40})
        assert "42" in total.text
        parallel = await asyncio.gather(*(client.call_tool("every", "echo", {"message": str(n)})
                                          for n in range(5)))
        assert [result.text for result in parallel] == [f"Echo: {n}" for n in range(5)]


@pytest.mark.slow
async def test_streamable_http_lists_and_calls(http_url: str) -> None:
    server = MCPServerConfig(name="web", url=http_url, headers={"X-Moco-Test": "1"})
    assert server.kind == "http"
    async with client_for(server) as client:
        assert "echo" in [info.name for info in await client.list_tools("web")]
        assert (await client.call_tool("web", "echo", {"message": "over http"})).text == (
            "Echo: over http")
        assert "7" in (await client.call_tool("web", "get-sum", {"a": 3, "b": 4})).text


@pytest.mark.slow
async def test_time_server_answers_in_the_asked_timezone() -> None:
    command, *args = require_time_server()
    async with client_for(MCPServerConfig(name="time", command=command, args=args)) as client:
        result = await client.call_tool("time", "get_current_time", {"timezone": "Asia/Tokyo"})
    data = json.loads(result.text)
    assert data["timezone"] == "Asia/Tokyo" and data["datetime"].endswith("+09:00")
    assert result.structured["timezone"] == "Asia/Tokyo"


@pytest.mark.slow
async def test_error_results_raise_tool_error_and_images_become_placeholders() -> None:
    async with client_for(everything()) as client:
        failed = await client.call_tool("every", "echo", {})
        assert failed.is_error and "message" in failed.text
        image = await client.call_tool("every", "get-tiny-image", {})
    assert "[image: image/png, " in image.text
    assert image.images and image.images[0].decode().startswith(b"\x89PNG")
    assert f"{image.images[0].size} bytes]" in image.text


@pytest.mark.slow
async def test_tools_are_moco_tools_with_real_schemas(tmp_path: Path) -> None:
    async with client_for(everything()) as client:
        tools = {tool.name: tool for tool in await client.tools()}
        echo = tools["mcp__every__echo"]
        assert isinstance(echo, Tool) and echo.is_async and not echo.mutates
        assert echo.parameters["properties"]["message"]["type"] == "string"
        assert echo.parameters["required"] == ["message"]
        assert echo.metadata["mcp_tool"] == "echo" and echo.description.startswith("Echoes")
        context = ToolContext(tmp_path)
        assert await echo.invoke(context, {"message": "via invoke"}) == "Echo: via invoke"
        assert "5" in await tools["mcp__every__get-sum"].invoke(context, {"a": 2, "b": 3})
        image = await tools["mcp__every__get-tiny-image"].invoke(context, {})
        assert isinstance(image, MCPToolOutput) and image.result.images
        with pytest.raises(ToolError, match="message"):
            await echo.invoke(context, {})


@pytest.mark.slow
async def test_servers_start_lazily_and_close_without_orphans() -> None:
    command, *args = require_time_server()
    client = client_for(everything(), MCPServerConfig(name="time", command=command, args=args))
    assert not children_running(STDIO_MARK) and not children_running("mcp_server_time")
    await client.list_tools("every")
    started = children_running(STDIO_MARK)
    assert len(started) == 1 and not children_running("mcp_server_time")
    await client.tools()
    started += children_running("mcp_server_time")
    assert len(started) == 2
    await client.aclose()
    assert wait_until(lambda: not any(pid_alive(pid) for pid in started))
    assert not any(mark in cmd for cmd in child_processes().values()
                   for mark in (STDIO_MARK, "mcp_server_time"))


@pytest.mark.slow
async def test_a_killed_server_is_restarted_and_the_call_retried() -> None:
    async with client_for(everything()) as client:
        await client.call_tool("every", "echo", {"message": "first"})
        (first_pid,) = children_running(STDIO_MARK)
        os.kill(first_pid, signal.SIGKILL)
        assert wait_until(lambda: not pid_alive(first_pid))
        again = await client.call_tool("every", "echo", {"message": "second"})
        assert again.text == "Echo: second"
        (second_pid,) = children_running(STDIO_MARK)
        assert second_pid != first_pid
    assert not pid_alive(second_pid)


@pytest.mark.slow
async def test_a_server_that_dies_twice_is_a_tool_error(tmp_path: Path) -> None:
    script = tmp_path / "fragile.py"
    script.write_text(textwrap.dedent("""
        import os
        from mcp.server.mcpserver import MCPServer

        server = MCPServer("fragile")

        @server.tool()
        def die() -> str:
            \"\"\"Exit at once.\"\"\"
            os._exit(1)

        server.run()
    """))
    fragile = MCPServerConfig(name="fragile", command=sys.executable, args=[str(script)])
    async with client_for(fragile) as client:
        with pytest.raises(ToolError, match="'fragile' stopped again after a restart"):
            await client.call_tool("fragile", "die", {})
    assert not children_running(str(script))


@pytest.mark.slow
async def test_a_slow_call_times_out_and_the_server_keeps_working() -> None:
    async with client_for(everything(timeout=1)) as client:
        await client.list_tools("every")
        (pid,) = children_running(STDIO_MARK)
        with pytest.raises(ToolError, match=r"^MCP server 'every' did not answer within 1 s$"):
            await client.call_tool("every", "trigger-long-running-operation",
                                   {"duration": 10, "steps": 2})
        assert (await client.call_tool("every", "echo", {"message": "still here"})).text == (
            "Echo: still here")
        assert children_running(STDIO_MARK) == [pid]


@pytest.mark.slow
async def test_aclose_during_a_call_ends_it_and_starts_nothing_again() -> None:
    client = client_for(everything())
    await client.list_tools("every")
    (pid,) = children_running(STDIO_MARK)
    call = asyncio.create_task(client.call_tool(
        "every", "trigger-long-running-operation", {"duration": 10, "steps": 2}))
    await asyncio.sleep(0.2)
    await client.aclose()
    with pytest.raises(ToolError, match="'every' was shut down during the call"):
        await call
    assert not pid_alive(pid) and not children_running(STDIO_MARK)
