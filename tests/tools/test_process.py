"""Background processes: real servers and pipes, killing checked on real processes via /proc.

No wall-clock asserts: every wait is a bounded polling loop or a tool's own timeout.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from moco.core.orchestrator import Orchestrator
from moco.errors import ConfigError, ToolError
from moco.events import ToolCallFinished
from moco.profiles.loader import AgentSpec
from moco.tools.base import ToolRegistry
from moco.tools.builtin import BASE_TOOLS, NAMED_TOOLS
from moco.tools.context import ToolContext
from moco.tools.process import (
    OutputBuffer,
    list_processes,
    manager_for,
    read_output,
    send_input,
    start_background,
    stop_process,
    wait_for_pattern,
)
from moco.tools.selection import select_tools
from moco.tools.shared_state import SharedState
from tests.tools.conftest import Runner

SERVER = """
import http.server
server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
print(f"ready on {server.server_address[1]}", flush=True)
server.serve_forever()
"""
#: a group of two: the shell and a child it left in the background
FAMILY = "sleep 300 & echo child $!; wait"


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return bytes(answer.read())


async def until(condition: object, attempts: int = 600) -> bool:
    """Poll up to ~30 s (a guard against hanging, not a measure of speed)."""
    for _ in range(attempts):
        if callable(condition) and condition():
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.fixture(autouse=True)
async def _stop_left_over(ctx: ToolContext) -> object:
    yield None
    await manager_for(ctx).stop_all()


async def test_a_server_reports_ready_serves_and_its_output_is_readable(
        run: Runner, workdir: Path) -> None:
    (workdir / "server.py").write_text(SERVER)
    started = await run(start_background, command="python3 -u server.py", name="web")
    assert started.startswith("started p1 'web'")
    line = await run(wait_for_pattern, name_or_id="web", pattern=r"ready on \d+", timeout=30)
    assert line.startswith("ready on ")
    port = int(line.split()[-1])
    assert b"serve_forever" in await asyncio.to_thread(fetch, f"http://127.0.0.1:{port}/server.py")

    async def logged() -> str:
        return await run(read_output, name_or_id="p1", lines=10)

    for _ in range(600):
        if '"GET /server.py' in (output := await logged()):
            break
        await asyncio.sleep(0.05)
    assert output.startswith("p1 'web' (running):") and "ready on" in output
    assert "p1 web [running" in await run(list_processes)
    assert "stopped p1 'web' (was running)" in await run(stop_process, name_or_id="web")
    assert "p1 web [stopped" in await run(list_processes)


async def test_send_input_reaches_a_line_echo_and_waits_start_after_the_last_match(
        run: Runner) -> None:
    await run(start_background, command="cat")
    assert "sent 6 bytes" in await run(send_input, name_or_id="cat", text="hello")
    assert await run(wait_for_pattern, name_or_id="cat", pattern="hel+o") == "hello"
    await run(send_input, name_or_id="cat", text="hello again\n")
    assert await run(wait_for_pattern, name_or_id="cat", pattern="hel+o") == "hello again"
    again = await run(wait_for_pattern, name_or_id="cat", pattern="hel+o", timeout=0.2)
    assert again.startswith("[timed out after 0.2s; p1 is running")


async def test_stopping_kills_the_whole_group(run: Runner) -> None:
    await run(start_background, command=FAMILY, name="family")
    line = await run(wait_for_pattern, name_or_id="family", pattern=r"child \d+")
    child = int(line.split()[1])
    assert alive(child)
    await run(stop_process, name_or_id="family")
    assert await until(lambda: not alive(child)), "the background child outlived stop_process"
    with pytest.raises(ToolError, match="is stopped"):
        await run(send_input, name_or_id="family", text="x")


async def test_a_process_that_exits_ends_the_wait_and_keeps_its_output(run: Runner) -> None:
    await run(start_background, command="echo first; echo second >&2; exit 3", name="short")
    answer = await run(wait_for_pattern, name_or_id="short", pattern="never", timeout=30)
    assert answer.startswith("[p1 'short' is exited (code 3); no line matched 'never']")
    assert "first" in answer and "second" in answer
    assert await run(wait_for_pattern, name_or_id="short", pattern="sec") == "second"


async def test_a_wait_honours_cancellation(run: Runner, ctx: ToolContext) -> None:
    await run(start_background, command="sleep 300", name="idle")
    assert isinstance(ctx.cancelled, asyncio.Event)
    asyncio.get_running_loop().call_later(0.1, ctx.cancelled.set)
    answer = await run(wait_for_pattern, name_or_id="idle", pattern="x", timeout=600)
    assert answer == "[cancelled by the user while waiting]"


async def test_names_ids_and_mistakes(run: Runner) -> None:
    await run(start_background, command="sleep 300", name="one")
    with pytest.raises(ToolError, match="a process named 'one' is running"):
        await run(start_background, command="sleep 300", name="one")
    with pytest.raises(ToolError, match=r"no background process 'two'; known: p1 \(one\)"):
        await run(read_output, name_or_id="two")
    with pytest.raises(ToolError, match="invalid regex"):
        await run(wait_for_pattern, name_or_id="p1", pattern="(")
    assert await run(read_output, name_or_id="one") == "p1 'one' (running):\n(no output yet)"


def test_the_output_buffer_is_bounded_and_keeps_partial_lines() -> None:
    buffer = OutputBuffer(max_lines=3, max_bytes=1000)
    buffer.feed(b"a\nb\nc\nd\npart")
    assert buffer.tail(10) == ["b", "c", "d", "part"]
    assert buffer.dropped == 1 and buffer.end == 4
    lines, partial = buffer.since(2)
    assert lines == [(2, "c"), (3, "d")] and partial == "part"
    buffer.feed("ial \u00e9".encode()[:-1])  # a character cut between two reads
    buffer.feed("\u00e9\r\n".encode()[-3:], final=True)
    assert buffer.tail(1) == ["partial \u00e9"]
    small = OutputBuffer(max_lines=100, max_bytes=10)
    small.feed(b"123456\n789012\n")
    assert small.tail(5) == ["789012"]


def test_process_tools_are_offered_only_when_named() -> None:
    names = {tool.name for tool in NAMED_TOOLS}
    assert names == {"start_background", "list_processes", "stop_process", "send_input",
                     "wait_for_pattern", "read_output"}
    assert not names & {tool.name for tool in BASE_TOOLS}
    registry = ToolRegistry((*BASE_TOOLS, *NAMED_TOOLS))
    every = select_tools(registry, AgentSpec(name="a"))
    assert not names & {tool.name for tool in every}
    wildcard = select_tools(registry, AgentSpec(name="a", tools=("*",)))
    assert not names & {tool.name for tool in wildcard}
    named = select_tools(registry, AgentSpec(name="a", tools=("start_background", "read_*")))
    assert {tool.name for tool in named} == {"start_background", "read_file"}
    assert {t.name for t in NAMED_TOOLS if t.mutates} == {"start_background", "stop_process",
                                                        "send_input"}


async def test_the_orchestrator_stops_the_sessions_processes_at_aclose(
        tmp_path: Path, scripted_openai: object) -> None:
    from moco.testing import Reply, ScriptedOpenAIServer

    assert isinstance(scripted_openai, ScriptedOpenAIServer)
    project = tmp_path / "project"
    agents = project / ".moco" / "profiles" / "devs" / "agents"
    agents.mkdir(parents=True)
    (agents / "dev.md").write_text("---\ndescription: runs servers\nmode: primary\n"
                                   "tools: [start_background, wait_for_pattern]\n---\nYou run.\n")
    scripted_openai.add(
        Reply.call("start_background", {"command": FAMILY, "name": "family"}),
        Reply.call("wait_for_pattern", {"name_or_id": "family", "pattern": r"child \d+"}),
        Reply.say("running"))
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": scripted_openai.base_url,
           "MOCO_SANDBOX": "off"}
    orchestrator = Orchestrator(profile="devs", provider="openai", working_dir=project, env=env,
                                persist=False, yes=True)
    try:
        events = [e async for e in orchestrator.events("start it")]
    except BaseException:
        await orchestrator.aclose()
        raise
    finished = [e.result for e in events if isinstance(e, ToolCallFinished)]
    assert finished[0].startswith("started p1 'family'"), finished
    child = int(finished[1].split()[1])
    assert isinstance(orchestrator.state, SharedState)
    [process] = orchestrator.state.processes.running()  # the run ended; the process did not
    await orchestrator.aclose()
    assert await until(lambda: not alive(child) and not alive(process.pgid))
    assert len(orchestrator.state.processes) == 0


@pytest.fixture
def outside_tmp() -> Iterator[Path]:
    """A folder outside ``/tmp`` (bubblewrap gives commands a private ``/tmp``)."""
    base = Path(tempfile.mkdtemp(prefix="moco-process-test-", dir="/var/tmp")).resolve()
    yield base
    shutil.rmtree(base, ignore_errors=True)


async def test_a_process_under_bubblewrap_cannot_write_outside(outside_tmp: Path) -> None:
    from moco.sandbox.base import SandboxPolicy
    from moco.sandbox.select import choose_sandbox

    work, outside = outside_tmp / "work", outside_tmp / "outside"
    work.mkdir()
    outside.mkdir()
    try:
        sandbox = choose_sandbox(SandboxPolicy(working_dir=work), "bwrap").sandbox
    except ConfigError as error:
        pytest.skip(f"bubblewrap is not usable here: {error}")
    ctx = ToolContext(working_dir=work, sandbox=sandbox, state=SharedState())
    target = outside / "poisoned"
    command = f"echo x > {target} || echo refused; echo inside > ok.txt; echo written; sleep 300"
    try:
        await start_background(ctx, command, "boxed")
        answer = await wait_for_pattern(ctx, "boxed", "written")
        assert answer == "written", read_output(ctx, "boxed")
        assert "refused" in read_output(ctx, "boxed")
        process = manager_for(ctx).find("boxed")
    finally:
        await manager_for(ctx).stop_all()
    assert not target.exists()
    assert (work / "ok.txt").read_text() == "inside\n"
    assert await until(lambda: not alive(process.pgid))


KEEP_RUNNING = """
import asyncio, sys
from pathlib import Path
from moco.tools.context import ToolContext
from moco.tools.process import start_background

async def main() -> None:
    ctx = ToolContext(working_dir=Path.cwd())
    print(await start_background(ctx, sys.argv[1], "kept"), flush=True)
    await asyncio.sleep(300)

asyncio.run(main())
"""


@pytest.mark.slow
def test_a_killed_moco_leaves_no_background_process(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    command = f"echo $$ > {pids}; sleep 300 & echo $! >> {pids}; wait"
    moco = subprocess.Popen([sys.executable, "-c", KEEP_RUNNING, command], cwd=tmp_path,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert moco.stdout is not None and moco.stdout.readline()  # start_background returned
        for _ in range(1200):
            if pids.exists() and len(pids.read_text().split()) == 2:
                break
            time.sleep(0.05)
        shell, child = map(int, pids.read_text().split())
        assert alive(shell) and alive(child)
        os.kill(moco.pid, signal.SIGKILL)
        moco.wait(10)
        for _ in range(1200):
            if not alive(shell) and not alive(child):
                break
            time.sleep(0.05)
        assert not alive(shell) and not alive(child), "a background process outlived moco"
    finally:
        moco.kill()
        moco.wait()


async def test_the_danger_check_sees_start_backgrounds_command(tmp_path: Path) -> None:
    from moco.core.guardrails import GuardrailAction, Guardrails

    guardrails = Guardrails()
    verdict = await guardrails.validate_tool_call(
        "start_background", {"command": "rm -rf ~ & python3 -m http.server"}, tmp_path)
    assert verdict.action is GuardrailAction.BLOCK
    fine = await guardrails.validate_tool_call(
        "start_background", {"command": "python3 -m http.server 0"}, tmp_path)
    assert fine.action is GuardrailAction.ALLOW
