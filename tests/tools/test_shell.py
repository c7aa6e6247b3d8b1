"""The shell tool runs real ``bash``; killing is checked on real processes via /proc."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from moco.errors import ToolError
from moco.tools import shell
from moco.tools.context import ToolContext
from moco.tools.shell import execute_bash

# the shell, then two children: one in the background, one in the foreground
SPAWN = "echo $$ > pids; sleep 60 & echo $! >> pids; sleep 60 & echo $! >> pids; echo started; wait"
#: seconds after which a test gives up waiting for the tool: a guard against hangs (a tool that
#: waited for SPAWN's children to end by themselves would take 60 s), never a measured bound
HANG_GUARD = 30


async def guarded(call: Any) -> Any:
    return await asyncio.wait_for(call, HANG_GUARD)


def _alive(pid: int) -> bool:
    """Running and not a zombie (a zombie is dead, only not reaped by its new parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _pids(workdir: Path) -> list[int]:
    return [int(line) for line in (workdir / "pids").read_text().split()]


async def test_output_exit_code_and_working_dir(run: Any, workdir: Path) -> None:
    assert await run(execute_bash, command="pwd") == str(workdir)
    result = await run(execute_bash, command="echo out; echo err >&2; exit 3")
    assert result == "out\nerr\n[exit code 3]"
    assert await run(execute_bash, command="true") == "(no output)"
    assert await run(execute_bash, command="git --version >/dev/null; echo $PAGER") == "cat"


async def test_stdin_is_closed(run: Any) -> None:
    # with stdin open, cat would wait for input until the timeout and the result would say so
    assert await run(execute_bash, command="cat; echo done", timeout=10) == "done"


async def test_context_env_is_added(ctx: ToolContext, run: Any) -> None:
    ctx.env = {"MOCO_TOOL_TEST": "42"}
    result = await run(execute_bash, command='echo "$MOCO_TOOL_TEST ${PATH:+has-path}"')
    assert result == "42 has-path"


async def test_large_output_is_truncated_with_marker(ctx: ToolContext, run: Any) -> None:
    ctx.max_output_chars = 2000
    result = await run(execute_bash, command="seq 1 200000")
    assert len(result) < 2200
    assert result.startswith("1\n2\n3\n") and result.endswith("199999\n200000")
    assert "[truncated " in result and " bytes of output] ..." in result


async def test_timeout_kills_the_whole_process_group(run: Any, workdir: Path) -> None:
    result = await guarded(run(execute_bash, command=SPAWN, timeout=1))
    assert result.startswith("started")
    assert "timed out after 1s; the command and its process group were killed" in result
    pids = _pids(workdir)
    assert len(pids) == 3
    assert not any(_alive(pid) for pid in pids)


async def test_cancellation_kills_the_process_group(ctx: ToolContext, run: Any) -> None:
    assert ctx.cancelled is not None
    loop = asyncio.get_running_loop()
    loop.call_later(0.5, ctx.cancelled.set)
    result = await guarded(run(execute_bash, command=SPAWN, timeout=120))
    assert "cancelled by the user; the command and its process group were killed" in result
    assert not any(_alive(pid) for pid in _pids(ctx.working_dir))


async def test_cancelling_the_tool_task_kills_the_group(run: Any, workdir: Path) -> None:
    task = asyncio.ensure_future(run(execute_bash, command=SPAWN, timeout=120))
    for _ in range(100):
        if (workdir / "pids").exists() and len(_pids(workdir)) == 3:
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not any(_alive(pid) for pid in _pids(workdir))


async def test_sigterm_ignored_gets_sigkill(
    run: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shell, "KILL_GRACE_SECONDS", 0.3)
    command = "trap '' TERM; echo $$ > pids; sleep 30 & echo $! >> pids; wait"
    result = await run(execute_bash, command=command, timeout=1)
    assert "timed out" in result
    assert not any(_alive(pid) for pid in _pids(workdir))


async def test_background_children_do_not_block(run: Any, workdir: Path) -> None:
    result = await guarded(run(execute_bash, command="sleep 60 & echo $! > pids; echo bg"))
    assert result.startswith("bg\n[background processes are still running")
    [background] = _pids(workdir)
    assert _alive(background), "the tool waited for the background process to end"
    os.kill(background, 15)


async def test_timeout_is_capped(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []
    real = shell._wait_for

    async def spy(collector: Any, cancelled: Any, seconds: float) -> Any:
        seen.append(seconds)
        return await real(collector, cancelled, seconds)

    monkeypatch.setattr(shell, "_wait_for", spy)
    await run(execute_bash, command="true", timeout=100_000)
    await run(execute_bash, command="true", timeout=-5)
    assert seen == [shell.MAX_TIMEOUT, 1]


async def test_build_command_is_the_seam(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def wrapped(ctx: ToolContext, command: str) -> list[str]:
        return ["bash", "-c", f"echo wrapped; {command}"]

    monkeypatch.setattr(shell, "build_command", wrapped)
    assert await run(execute_bash, command="echo inner") == "wrapped\ninner"


async def test_already_cancelled_does_not_run(ctx: ToolContext, run: Any) -> None:
    assert ctx.cancelled is not None
    ctx.cancelled.set()
    result = await run(execute_bash, command="touch ran")
    assert "not run" in result
    assert not (ctx.working_dir / "ran").exists()


async def test_missing_shell_is_a_tool_error(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shell, "build_command", lambda ctx, command: ["/no/such/shell"])
    with pytest.raises(ToolError, match="cannot start the shell"):
        await run(execute_bash, command="true")
