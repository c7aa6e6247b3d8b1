"""``moco mcp serve``: the official MCP SDK client against a real ``python -m moco mcp serve``
(stdio and streamable HTTP), with a scripted OpenAI-compatible server as the model; plus the
parts that need no subprocess (tool names, progress lines, argument checks, host and token
rules, the bearer-token middleware)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TextIO

import httpx2
import mcp_types as types
import pytest
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from typer.testing import CliRunner

from moco.cli.mcp import mcp_app
from moco.core.events import AgentDelegated, AgentReturned, ToolCallFinished, ToolCallStarted
from moco.errors import ConfigError
from moco.mcp.http_server import BearerTokenGuard, bearer_token, is_loopback
from moco.mcp.server import AgentService, ServeOptions, agent_tool_names, build_server
from moco.mcp.server import progress_message as line
from moco.storage.session_logger import SessionLogger
from moco.testing import Reply, ScriptedOpenAIServer
from tests.mcp import free_port, wait_until

TOKEN = "s3cret-token-for-the-tests"
REJECTED = "OPENAI_API_KEY was rejected (401) — check the key or choose another provider with -P"

NOISY_TOOL = '''
import os
from moco.tools.base import tool


@tool
def noisy(text: str) -> str:
    """Print to stdout, the way a careless tool would.

    Args:
        text: what to print
    """
    print("NOISE " + text, flush=True)
    os.write(1, b"RAW NOISE\\n")
    return "printed " + text
'''


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def llm() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer([]) as server:
        yield server


@pytest.fixture
def env(llm: ScriptedOpenAIServer, moco_home: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.endswith(("_API_KEY", "_BASE_URL")) and k != "MOCO_MCP_TOKEN"}
    clean.pop("MOCO_DEFAULT_PROVIDER", None)
    return {**clean, "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": llm.base_url,
            "MOCO_HOME": str(moco_home)}


@asynccontextmanager
async def over_stdio(env: dict[str, str], project: Path, errlog: TextIO | None = None,
                     *flags: str) -> AsyncIterator[Client]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "moco", "mcp", "serve", "-w", str(project), *flags],
        env=env, cwd=str(project))
    transport = stdio_client(params, errlog=errlog) if errlog else stdio_client(params)
    async with Client(transport, read_timeout_seconds=30) as client:
        yield client


@contextmanager
def http_server(env: dict[str, str], project: Path, *flags: str) -> Iterator[str]:
    """``moco mcp serve --transport http`` on a free port; yields its /mcp URL (without a
    token unless the test sets one: tests/mcp/test_http_token.py tests the default)."""
    port = free_port()
    if "MOCO_MCP_TOKEN" not in env:
        flags = ("--no-token", *flags)
    process = subprocess.Popen(
        [sys.executable, "-m", "moco", "mcp", "serve", "--transport", "http", "--port", str(port),
         "-w", str(project), *flags],
        env=env, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        if not wait_until(lambda: _port_open(port) or process.poll() is not None, 15):
            pytest.fail("moco mcp serve --transport http did not open its port in 15 s")
        if process.poll() is not None:
            pytest.fail(f"moco mcp serve exited with {process.returncode}: "
                        f"{process.stderr.read() if process.stderr else ''}")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def _port_open(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


class Progress:
    """A progress callback that keeps the messages."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.messages.append(message or "")


def text(result: types.CallToolResult, index: int = 0) -> str:
    block = result.content[index]
    assert isinstance(block, types.TextContent)
    return block.text


def post(url: str, headers: dict[str, str]) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "content-type": "application/json", "accept": "application/json, text/event-stream",
        **headers})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def assert_stored(home: Path, session_id: str, project: Path) -> None:
    """The session is in the store, with both calls' messages."""
    store = SessionLogger.open(env={"MOCO_HOME": str(home)})
    record = store.require_session(session_id)
    assert record.profile == "default" and record.working_dir == str(project.resolve())
    assert len(store.load_records(session_id)) >= 4


def write_team(project: Path) -> None:
    """A project profile: a primary ``lead`` that delegates, a ``helper`` with a noisy tool."""
    profile = project / ".moco" / "profiles" / "team"
    (profile / "agents").mkdir(parents=True)
    (profile / "tools").mkdir()
    (profile / "profile.yaml").write_text("name: team\ndefault_agent: lead\n")
    (profile / "agents" / "lead.md").write_text(
        "---\ndescription: Leads the work and hands parts to helper.\nmode: primary\n---\n"
        "You are lead.\n")
    (profile / "agents" / "helper.md").write_text(
        "---\ndescription: Does what lead asks.\nmode: subagent\ntools: [noisy]\n---\n"
        "You are helper.\n")
    (profile / "tools" / "noisy.py").write_text(NOISY_TOOL)


# --------------------------------------------------------------------------- over stdio


@pytest.mark.slow
async def test_stdio_lists_agents_runs_them_and_reports_progress(
    llm: ScriptedOpenAIServer, env: dict[str, str], project: Path, moco_home: Path
) -> None:
    llm.add(
        Reply.call("write_file", {"path": "hello.txt", "content": "hi\n"}),
        Reply.say("Wrote hello.txt."),
        Reply.say("Second answer."),
        Reply.error(401, "Incorrect API key provided"),
    )
    progress = Progress()
    async with over_stdio(env, project) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {"assistant", "run_agent"}
        assistant = tools["assistant"]
        assert assistant.description is not None
        assert assistant.description.startswith("General assistant for software engineering")
        assert assistant.input_schema["required"] == ["task"]
        assert set(assistant.input_schema["properties"]) == {"task", "session"}
        assert tools["run_agent"].input_schema["properties"]["agent"]["enum"] == ["assistant"]

        first = await client.call_tool("assistant", {"task": "Create hello.txt"},
                                       progress_callback=progress)
        assert not first.is_error, first
        assert text(first) == "Wrote hello.txt."
        session_id = first.structured_content["session"]
        assert text(first, -1) == f"moco session: {session_id}"
        assert progress.messages == ["assistant → write_file", "assistant ← write_file"]
        assert (project / "hello.txt").read_text() == "hi\n"

        again = await client.call_tool(
            "run_agent", {"agent": "assistant", "task": "And now?", "session": session_id})
        assert text(again) == "Second answer." and again.structured_content["session"] == (
            session_id)
        sent = [m.get("content") for m in llm.requests[2].body["messages"]]
        assert "Create hello.txt" in sent and "And now?" in sent

        failed = await client.call_tool("assistant", {"task": "hello"})
        assert failed.is_error and text(failed) == REJECTED and len(failed.content) == 1

    assert_stored(moco_home, session_id, project)


@pytest.mark.slow
async def test_stdio_stays_clean_when_tools_print_and_reports_delegation(
    llm: ScriptedOpenAIServer, env: dict[str, str], project: Path, tmp_path: Path,
    moco_home: Path
) -> None:
    write_team(project)
    llm.add(
        Reply.call("delegate_to_agent", {"agent_name": "helper", "task": "Say hi loudly"}),
        Reply.call("noisy", {"text": "hi"}),
        Reply.say("helper printed hi"),
        Reply.say("All done."),
    )
    progress = Progress()
    errlog = tmp_path / "stderr.txt"
    with errlog.open("w") as handle:
        async with over_stdio(env, project, handle, "-p", "team") as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names == {"lead", "helper", "run_agent"}
            result = await client.call_tool("lead", {"task": "Go", "session": "my-work"},
                                            progress_callback=progress)
    assert not result.is_error, result
    assert text(result) == "All done."
    assert progress.messages == [
        "lead → delegate_to_agent", "lead → @helper: Say hi loudly", "helper → noisy",
        "helper ← noisy", "lead ← @helper (completed)", "lead ← delegate_to_agent",
    ]
    printed = errlog.read_text()
    assert "NOISE hi" in printed and "RAW NOISE" in printed  # on stderr, not on the protocol
    named = SessionLogger.open(env={"MOCO_HOME": str(moco_home)}).require_session("my-work")
    assert result.structured_content["session"] == named.id


# --------------------------------------------------------------------------- over HTTP


@pytest.mark.slow
async def test_streamable_http_runs_an_agent(
    llm: ScriptedOpenAIServer, env: dict[str, str], project: Path
) -> None:
    llm.add(Reply.call("list_dir", {"path": "."}), Reply.say("Listed."))
    progress = Progress()
    with http_server(env, project) as url:
        async with Client(url, read_timeout_seconds=30) as client:
            result = await client.call_tool("assistant", {"task": "List files"},
                                            progress_callback=progress)
    assert not result.is_error and text(result) == "Listed."
    assert progress.messages[0] == "assistant → list_dir"


@pytest.mark.slow
async def test_http_with_a_token_refuses_requests_without_it(
    llm: ScriptedOpenAIServer, env: dict[str, str], project: Path
) -> None:
    llm.add(Reply.call("execute_bash", {"command": "echo token=${MOCO_MCP_TOKEN:-unset}"}),
            Reply.say("Authorized answer."))
    env["MOCO_MCP_TOKEN"] = TOKEN
    with http_server(env, project, "--host", "127.0.0.1", "--allow-remote") as url:
        assert post(url, {}) == 401
        assert post(url, {"Authorization": "Bearer wrong-token-of-some-length"}) == 401
        assert post(url, {"Authorization": TOKEN}) == 401
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            result = await client.call_tool("assistant", {"task": "hi"})
    assert text(result) == "Authorized answer."
    shell_output = llm.requests[1].body["messages"][-1]["content"]
    assert "token=unset" in shell_output  # the agents' commands do not see the token


# --------------------------------------------------------------------------- start-up refusals


def serve(*args: str) -> Any:
    return CliRunner().invoke(mcp_app, ["serve", *args])


def test_a_public_host_needs_allow_remote_and_a_token(
    monkeypatch: pytest.MonkeyPatch, project: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    monkeypatch.delenv("MOCO_MCP_TOKEN", raising=False)
    refused = serve("--transport", "http", "--host", "0.0.0.0", "-w", str(project))
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: refusing to listen on 0.0.0.0: it is not a "
                                     "loopback address")
    assert refused.stderr.strip().count("\n") == 0 and "--allow-remote" in refused.stderr
    no_token = serve("--transport", "http", "--host", "0.0.0.0", "--allow-remote",
                     "-w", str(project))
    assert no_token.exit_code == 2 and "set MOCO_MCP_TOKEN" in no_token.stderr
    monkeypatch.setenv("MOCO_MCP_TOKEN", "short")
    short = serve("--transport", "http", "--host", "0.0.0.0", "--allow-remote",
                  "-w", str(project))
    assert short.exit_code == 2 and "at least 16 characters" in short.stderr


def test_configuration_errors_exit_2_in_one_line(project: Path) -> None:
    no_key = serve("-w", str(project))
    assert no_key.exit_code == 2 and no_key.stderr.count("\n") == 1
    assert no_key.stderr.startswith("error: no model provider is configured")
    assert no_key.stdout == ""
    transport = serve("--transport", "sse", "-w", str(project))
    assert transport.exit_code == 2 and "use stdio or http" in transport.stderr


def test_started_in_the_filesystem_root_needs_a_working_dir(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    monkeypatch.chdir("/")
    result = serve()
    assert result.exit_code == 2 and "pass --working-dir/-w" in result.stderr


def test_a_busy_port_is_one_line(monkeypatch: pytest.MonkeyPatch, project: Path) -> None:
    import socket

    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve("--transport", "http", "--port", str(port), "-w", str(project))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")


# --------------------------------------------------------------------------- in process


@pytest.fixture
def service(llm: ScriptedOpenAIServer, env: dict[str, str], project: Path) -> AgentService:
    return AgentService(ServeOptions(working_dir=project, env=env, provider="openai"))


async def test_arguments_are_checked_before_anything_runs(
    service: AgentService, llm: ScriptedOpenAIServer
) -> None:
    async with Client(build_server(service)) as client:
        empty = await client.call_tool("assistant", {"task": "  "})
        assert empty.is_error and "'task' must be a non-empty string" in text(empty)
        wrong = await client.call_tool("run_agent", {"agent": "nobody", "task": "x"})
        assert wrong.is_error and text(wrong) == "'agent' must be one of: assistant"
        bad_session = await client.call_tool("assistant", {"task": "x", "session": 3})
        assert bad_session.is_error and "'session' must be a string" in text(bad_session)
        with pytest.raises(MCPError, match="unknown tool 'nope' — tools: assistant, run_agent"):
            await client.call_tool("nope", {"task": "x"})
    assert llm.requests == []


async def test_a_cancelled_call_closes_its_run_and_frees_the_session(
    service: AgentService, llm: ScriptedOpenAIServer
) -> None:
    llm.add(Reply.say("too late", latency=1), Reply.say("Next answer."))

    async def quiet(message: str) -> None:
        return None

    call = asyncio.create_task(service.run("assistant", "slow one", "mine", quiet))
    for _ in range(500):
        if llm.requests:
            break
        await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    (run,) = service.sessions.runs(service.sessions.require_session("mine").id)
    assert run.status == "cancelled"
    after = await asyncio.wait_for(service.run("assistant", "next", "mine", quiet), 10)
    assert text(after) == "Next answer."


def test_tool_names_are_sanitized_unique_and_short() -> None:
    names = agent_tool_names(["code-reviewer", "data.analyst", "data analyst", "run_agent",
                              "x" * 80, "x" * 81, ""])
    assert list(names) == ["code-reviewer", "data_analyst", "data_analyst_2", "run_agent_2",
                           "x" * 64, "x" * 62 + "_2", "agent"]
    assert list(names.values())[1:3] == ["data.analyst", "data analyst"]


def test_progress_lines_are_short() -> None:
    assert line(ToolCallStarted(agent="lead", call_id="1", name="read_file")) == (
        "lead → read_file")
    assert line(ToolCallFinished(agent="lead > coder", call_id="1", name="edit_file",
                                 result="x", is_error=True)) == "coder ← edit_file (failed)"
    delegated = line(AgentDelegated(agent="lead", child="lead > coder", task="word " * 30))
    assert delegated is not None and delegated.startswith("lead → @coder: word word")
    assert len(delegated) < 80 and delegated.endswith("…")
    assert line(AgentReturned(agent="lead", child="lead > coder", output="x",
                              status="max_turns")) == "lead ← @coder (max_turns)"


def test_hosts_and_tokens() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.com"):
        assert not is_loopback(host), host
    assert bearer_token("127.0.0.1", False, {}) is None
    assert bearer_token("127.0.0.1", False, {"MOCO_MCP_TOKEN": "t"}) == "t"  # enforced if set
    assert bearer_token("0.0.0.0", True, {"MOCO_MCP_TOKEN": TOKEN}) == TOKEN
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0"):
        bearer_token("0.0.0.0", False, {"MOCO_MCP_TOKEN": TOKEN})


async def test_the_token_guard_checks_the_authorization_header() -> None:
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["type"])

    guard = BearerTokenGuard(app, TOKEN)

    async def status(headers: list[tuple[bytes, bytes]], kind: str = "http") -> int:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await guard({"type": kind, "headers": headers}, None, send)  # type: ignore[arg-type]
        return int(sent[0]["status"]) if sent else 200

    assert await status([]) == 401
    assert await status([(b"authorization", b"Bearer " + TOKEN.encode() + b"x")]) == 401
    assert await status([(b"authorization", b"Basic " + TOKEN.encode())]) == 401
    assert await status([(b"Authorization", b"bearer " + TOKEN.encode())]) == 200
    assert await status([], kind="lifespan") == 200
    assert reached == ["http", "lifespan"]
