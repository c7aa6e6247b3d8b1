"""The shell tool: ``bash -c`` in the working directory, in its own process group.

On timeout or cancellation the whole group is killed (SIGTERM, then SIGKILL), so children a
command started in the background die with it. :func:`build_command` says what is executed;
:func:`prepare` hands it to the run's sandbox (``ctx.sandbox``: bubblewrap, Landlock, a
Docker container — :mod:`moco.sandbox`), which returns the argv and environment that run it
confined. Nothing else starts the command.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from moco.cancellation import CancelFlag
from moco.errors import ToolError
from moco.tools.base import tool
from moco.tools.context import ToolContext
from moco.tools.reaper import REAPER

DEFAULT_TIMEOUT = 120
MAX_TIMEOUT = 600
#: after the shell exits, how long to wait for the rest of its output
DRAIN_SECONDS = 0.5
#: how long a process group gets between SIGTERM and SIGKILL
KILL_GRACE_SECONDS = 2.0
#: environment for a non-interactive shell: no pagers, no prompts
QUIET_ENV = {"PAGER": "cat", "GIT_PAGER": "cat", "GIT_TERMINAL_PROMPT": "0"}


def build_command(ctx: ToolContext, command: str) -> list[str]:
    """The argv that runs ``command``, before the sandbox wraps it (:func:`prepare`)."""
    return ["bash", "-c", command]


def prepare(ctx: ToolContext, command: str) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that run ``command`` under ``ctx.sandbox`` (as it is when
    the context has none)."""
    argv, env = build_command(ctx, command), build_env(ctx)
    if ctx.sandbox is None:
        return argv, env
    return ctx.sandbox.wrap(argv, cwd=ctx.working_dir, env=env)


def build_env(ctx: ToolContext) -> dict[str, str]:
    """The environment of the command: ours, ``ctx.env`` on top, pagers and prompts off."""
    merged = {**os.environ, **(ctx.env or {}), **QUIET_ENV}
    return {key: value for key, value in merged.items() if key not in ctx.hidden_env}


class _Collector(asyncio.SubprocessProtocol):
    """Collects output within a memory bound (the start and the end are kept) and tells
    when the shell exited and when every writer closed the pipe."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0
        self.received = 0
        loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.received += len(data)
        room = self.keep - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        if len(self.tail) > self.keep:
            self.dropped += len(self.tail) - self.keep
            del self.tail[: len(self.tail) - self.keep]

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def text(self, ctx: ToolContext) -> str:
        """The output, cut to ``ctx.max_output_chars`` with one marker saying how much went."""
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if not self.dropped:
            return ctx.truncate(head + tail)
        limit = ctx.max_output_chars
        head, tail = head[: limit * 2 // 3], tail[-(limit // 3) :]
        omitted = self.received - len(head.encode()) - len(tail.encode())
        return f"{head}\n... [truncated {omitted} bytes of output] ...\n{tail}"


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a group; falls back to ``killpg(0)`` without /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


async def kill_process_group(pgid: int, grace: float | None = None) -> None:
    """SIGTERM the group, wait up to ``grace`` seconds (default :data:`KILL_GRACE_SECONDS`)
    for it to go, then SIGKILL."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (KILL_GRACE_SECONDS if grace is None else grace)
    while loop.time() < deadline:
        if not await asyncio.to_thread(_group_members, pgid):
            return
        await asyncio.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


async def _wait_for(
    collector: _Collector, cancelled: CancelFlag | asyncio.Event | None, seconds: float
) -> str | None:
    """Wait for the shell to exit; returns why it was stopped instead, if it was."""
    waiters: set[asyncio.Future[Any]] = {collector.exited}
    cancel_task = asyncio.ensure_future(cancelled.wait()) if cancelled else None
    if cancel_task:
        waiters.add(cancel_task)
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if cancel_task:
            cancel_task.cancel()
    if collector.exited.done():
        return None
    if cancelled is not None and cancelled.is_set():
        return "cancelled by the user"
    return f"timed out after {seconds:g}s"


@tool(name="execute_bash", aliases=("bash",), mutates=True)
async def execute_bash(
    ctx: ToolContext,
    command: str,
    timeout: int = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the model-facing name
) -> str:
    """Run a bash command in the working directory; returns combined stdout and stderr.

    Args:
        command: The bash command line.
        timeout: Seconds before the command and its children are killed (max 600).
    """
    if ctx.is_cancelled:
        return "[cancelled by the user; the command was not run]"
    limit = min(max(timeout, 1), MAX_TIMEOUT)
    loop = asyncio.get_running_loop()
    argv, env = prepare(ctx, command)
    if not REAPER.ready:  # once per process: the watcher is up before the command starts
        await asyncio.to_thread(REAPER.prepare)
    try:
        transport, collector = await loop.subprocess_exec(
            lambda: _Collector(keep=ctx.max_output_chars * 2),
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=ctx.working_dir,
            env=env,
            start_new_session=True,
        )
    except OSError as error:
        raise ToolError(f"cannot start the shell: {error}") from None
    pgid = transport.get_pid()
    REAPER.register(pgid)  # if moco is killed, the command dies too
    notes: list[str] = []
    try:
        stopped = await _wait_for(collector, ctx.cancelled, limit)
        if stopped:
            await kill_process_group(pgid)
            notes.append(f"[{stopped}; the command and its process group were killed]")
        try:
            await asyncio.wait_for(asyncio.shield(collector.closed), DRAIN_SECONDS)
        except TimeoutError:
            if not stopped:
                notes.append(
                    "[background processes are still running; their output is not captured]"
                )
    finally:
        if not collector.exited.done():  # the tool itself was cancelled
            await asyncio.shield(kill_process_group(pgid))
        transport.close()
        if not group_alive(pgid):  # processes it left in the background still die with moco
            REAPER.unregister(pgid)
    code = transport.get_returncode()
    if code and not stopped:
        notes.insert(0, f"[exit code {code}]")
    output = collector.text(ctx).rstrip("\n")
    return "\n".join(part for part in (output or "(no output)", *notes) if part)
