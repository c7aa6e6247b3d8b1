"""Background processes (dev servers, watchers) the agents of a session share.

``start_background`` starts a command the way the shell tool does (``bash -c`` in the working
directory, under ``ctx.sandbox``, in its own process group registered with the reaper, so it
dies with moco however moco dies), with stdin a pipe for ``send_input``. A reader thread keeps
the combined stdout and stderr in a bounded ring buffer (:data:`MAX_LINES` lines,
:data:`MAX_BYTES` bytes); ``read_output`` shows its end and ``wait_for_pattern`` searches it
(what arrived since the start, or since the last wait matched).

The processes live in one :class:`ProcessManager` per session, kept in the shared state
(:attr:`moco.tools.shared_state.SharedState.processes`), so every agent of the session sees
the same ones; the orchestrator's ``aclose`` stops them (the end of ``moco run``, the end of
``moco chat``). Threads, not the event loop, read the output, so a process outlives the loop
of the run that started it.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import re
import shlex
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from moco.errors import ToolError
from moco.tools.base import tool
from moco.tools.context import ToolContext
from moco.tools.reaper import REAPER
from moco.tools.shell import group_alive, kill_process_group, prepare

#: the ring buffer of each process: at most this many lines and bytes are kept
MAX_LINES = 2000
MAX_BYTES = 256 * 1024
#: a line longer than this is cut into pieces (a progress bar without newlines)
MAX_LINE = 8192
#: at most this many processes run at once in a session
MAX_RUNNING = 16
MAX_WAIT = 600.0
POLL_SECONDS = 0.05
STATE_KEY = "processes"


class OutputBuffer:
    """The last lines a process wrote, numbered from 0 since its start; thread-safe."""

    def __init__(self, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> None:
        self.max_lines, self.max_bytes = max_lines, max_bytes
        self._lines: deque[str] = deque()
        self._size = 0
        self._first = 0  # number of the oldest kept line
        self._partial = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lock = threading.Lock()
        self.dropped = 0

    def feed(self, data: bytes, *, final: bool = False) -> None:
        text = self._decoder.decode(data, final=final)
        with self._lock:
            pieces = (self._partial + text).split("\n")
            last = pieces.pop()
            if final and last:
                pieces.append(last)
            self._partial = "" if final else last
            while len(self._partial) > MAX_LINE:
                pieces.append(self._partial[:MAX_LINE])
                self._partial = self._partial[MAX_LINE:]
            for piece in pieces:
                self._append(piece.rstrip("\r"))

    def _append(self, line: str) -> None:
        self._lines.append(line)
        self._size += len(line) + 1
        while len(self._lines) > self.max_lines or self._size > self.max_bytes:
            self._size -= len(self._lines.popleft()) + 1
            self._first += 1
            self.dropped += 1

    @property
    def end(self) -> int:
        """The number the next complete line will get."""
        with self._lock:
            return self._first + len(self._lines)

    def since(self, start: int) -> tuple[list[tuple[int, str]], str]:
        """The kept lines numbered ``start`` or later, and the unfinished last line."""
        with self._lock:
            skip = max(start - self._first, 0)
            numbered = [(self._first + i, line) for i, line in enumerate(self._lines)
                        if i >= skip]
            return numbered, self._partial

    def tail(self, count: int) -> list[str]:
        """The last ``count`` lines, the unfinished one included."""
        with self._lock:
            lines = [*self._lines, self._partial] if self._partial else list(self._lines)
        return lines[-count:] if count > 0 else []


@dataclass(eq=False)
class BackgroundProcess:
    id: str
    name: str
    command: str
    popen: subprocess.Popen[bytes]
    output: OutputBuffer
    started: float = field(default_factory=time.time)
    #: ``wait_for_pattern`` looks at lines from this number on
    cursor: int = 0
    stopped: bool = False
    reader: threading.Thread | None = None

    @property
    def pgid(self) -> int:
        return self.popen.pid

    def status(self) -> str:
        code = self.popen.poll()
        if self.stopped:
            return "stopped"
        return "running" if code is None else f"exited (code {code})"

    def describe(self) -> str:
        seconds = int(time.time() - self.started)
        return f"{self.id} {self.name} [{self.status()}, pid {self.pgid}, {seconds}s] " \
               f"{self.command[:120]}"


def _read(process: BackgroundProcess) -> None:
    """The reader thread: copies the process's output into its buffer until EOF."""
    stream = process.popen.stdout
    assert stream is not None
    fd = stream.fileno()
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            process.output.feed(b"", final=True)
            break
        process.output.feed(data)
    with contextlib.suppress(OSError):
        stream.close()


class ProcessManager:
    """The background processes of one session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: dict[str, BackgroundProcess] = {}
        self._count = 0

    def __len__(self) -> int:
        return len(self._processes)

    def all(self) -> list[BackgroundProcess]:
        with self._lock:
            return list(self._processes.values())

    def running(self) -> list[BackgroundProcess]:
        return [p for p in self.all() if p.status() == "running"]

    def find(self, name_or_id: str) -> BackgroundProcess:
        """The process with this id, else the newest with this name."""
        key = name_or_id.strip()
        processes = self.all()
        for process in processes:
            if process.id == key:
                return process
        for process in reversed(processes):
            if process.name == key:
                return process
        known = ", ".join(f"{p.id} ({p.name})" for p in processes) or "none"
        raise ToolError(f"no background process '{key}'; known: {known}")

    def start(self, ctx: ToolContext, command: str, name: str | None = None) -> BackgroundProcess:
        running = self.running()
        if len(running) >= MAX_RUNNING:
            raise ToolError(f"{MAX_RUNNING} background processes are running; stop one first")
        label = (name or "").strip() or _default_name(command)
        if any(p.name == label for p in running):
            raise ToolError(f"a process named '{label}' is running; stop it or pick another name")
        argv, env = prepare(ctx, command)
        REAPER.prepare()
        try:
            popen = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                cwd=ctx.working_dir, env=env, start_new_session=True, close_fds=True,
            )
        except OSError as error:
            raise ToolError(f"cannot start the process: {error}") from None
        REAPER.register(popen.pid)  # if moco is killed, the process group dies too
        with self._lock:
            self._count += 1
            process = BackgroundProcess(f"p{self._count}", label, command, popen,
                                        OutputBuffer())
            self._processes[process.id] = process
        process.reader = threading.Thread(target=_read, args=(process,), daemon=True,
                                          name=f"moco-process-{process.id}")
        process.reader.start()
        return process

    async def stop(self, process: BackgroundProcess) -> None:
        """Kill the process's whole group (SIGTERM, then SIGKILL) and reap it."""
        process.stopped = process.stopped or process.popen.poll() is None
        await kill_process_group(process.pgid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(process.popen.wait, 5)
        if process.popen.stdin is not None:
            with contextlib.suppress(OSError):
                process.popen.stdin.close()
        if not group_alive(process.pgid):
            REAPER.unregister(process.pgid)

    async def stop_all(self) -> None:
        """Stop every process of the session and forget them (the end of a run or chat)."""
        with self._lock:
            processes, self._processes = list(self._processes.values()), {}
        for process in processes:
            await self.stop(process)


def _default_name(command: str) -> str:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return os.path.basename(words[0]) if words else "process"


def manager_for(ctx: ToolContext) -> ProcessManager:
    """The session's manager (in ``ctx.state``; made on first use)."""
    from moco.tools.shared_state import SharedState

    state = ctx.state
    if isinstance(state, SharedState):
        return state.processes
    found = state.get(STATE_KEY)
    if not isinstance(found, ProcessManager):
        found = state[STATE_KEY] = ProcessManager()
    return found


@tool(mutates=True)
async def start_background(ctx: ToolContext, command: str, name: str | None = None) -> str:
    """Start a long-running bash command (dev server, watcher) in the background.

    Args:
        command: The bash command line.
        name: A short name to refer to it (default: the program's name).
    """
    if ctx.is_cancelled:
        return "[cancelled by the user; the command was not run]"
    process = manager_for(ctx).start(ctx, command, name)
    await asyncio.sleep(POLL_SECONDS * 4)  # an immediate failure shows in the answer
    early = "\n".join(process.output.tail(10))
    note = f"\n{early}" if early else ""
    return f"started {process.id} '{process.name}' (pid {process.pgid}, " \
           f"{process.status()}){note}"


@tool
def list_processes(ctx: ToolContext) -> str:
    """List the session's background processes and their status."""
    processes = manager_for(ctx).all()
    if not processes:
        return "no background processes"
    return "\n".join(process.describe() for process in processes)


@tool(mutates=True)
async def stop_process(ctx: ToolContext, name_or_id: str) -> str:
    """Stop a background process and everything it started.

    Args:
        name_or_id: The process's name or id (p1, p2 ...).
    """
    manager = manager_for(ctx)
    process = manager.find(name_or_id)
    before = process.status()
    await manager.stop(process)
    last = "\n".join(process.output.tail(5))
    return f"stopped {process.id} '{process.name}' (was {before})" + (f"\n{last}" if last else "")


@tool(mutates=True)
async def send_input(ctx: ToolContext, name_or_id: str, text: str) -> str:
    """Write a line to a background process's stdin.

    Args:
        name_or_id: The process's name or id.
        text: What to send; a newline is added unless it ends with one.
    """
    process = manager_for(ctx).find(name_or_id)
    stdin = process.popen.stdin
    if stdin is None or process.status() != "running":
        raise ToolError(f"{process.id} '{process.name}' is {process.status()}")
    data = (text if text.endswith("\n") else text + "\n").encode()

    def write() -> None:
        stdin.write(data)
        stdin.flush()

    try:
        await asyncio.wait_for(asyncio.to_thread(write), 10)
    except (BrokenPipeError, ValueError, OSError):
        raise ToolError(f"{process.id} '{process.name}' does not read its input") from None
    except TimeoutError:
        raise ToolError(f"{process.id} '{process.name}' is not reading its input") from None
    return f"sent {len(data)} bytes to {process.id} '{process.name}'"


@tool
async def wait_for_pattern(
    ctx: ToolContext,
    name_or_id: str,
    pattern: str,
    timeout: float = 30,  # noqa: ASYNC109 - the model-facing name
) -> str:
    """Wait until a background process prints a line matching a regex; returns that line.

    Args:
        name_or_id: The process's name or id.
        pattern: A Python regex, searched in output since the start or the last match.
        timeout: Seconds to wait (max 600).
    """
    process = manager_for(ctx).find(name_or_id)
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise ToolError(f"invalid regex {pattern!r}: {error}") from None
    loop = asyncio.get_running_loop()
    limit = min(max(timeout, 0.0), MAX_WAIT)
    deadline = loop.time() + limit
    while True:
        finished = process.reader is None or not process.reader.is_alive()
        found = _search(process, regex)
        if found is not None:
            return found
        if finished:
            why = f"{process.id} '{process.name}' is {process.status()}; no line matched"
        elif ctx.is_cancelled:
            return "[cancelled by the user while waiting]"
        elif loop.time() >= deadline:
            why = f"timed out after {limit:g}s; {process.id} is {process.status()}"
        else:
            await asyncio.sleep(POLL_SECONDS)
            continue
        tail = "\n".join(process.output.tail(10))
        return f"[{why} {pattern!r}]" + (f"\nlast output:\n{tail}" if tail else "")


def _search(process: BackgroundProcess, regex: re.Pattern[str]) -> str | None:
    lines, partial = process.output.since(process.cursor)
    for number, line in lines:
        if regex.search(line):
            process.cursor = number + 1
            return line
    if partial and regex.search(partial):
        process.cursor = process.output.end + 1  # the unfinished line is not searched again
        return partial
    return None


@tool
def read_output(ctx: ToolContext, name_or_id: str, lines: int = 50) -> str:
    """Show the last lines a background process printed (stdout and stderr).

    Args:
        name_or_id: The process's name or id.
        lines: How many lines (max 500).
    """
    process = manager_for(ctx).find(name_or_id)
    shown = process.output.tail(min(max(lines, 1), 500))
    dropped = process.output.dropped
    head = f"{process.id} '{process.name}' ({process.status()})"
    if dropped:
        head += f"; {dropped} older lines dropped"
    body = ctx.truncate("\n".join(shown)) if shown else "(no output yet)"
    return f"{head}:\n{body}"


#: the process tools, in the order they are offered
PROCESS_TOOLS: tuple[Any, ...] = (
    start_background, list_processes, stop_process, send_input, wait_for_pattern, read_output,
)
