"""One MCP server's connection, owned by a background task.

The SDK's transports and sessions are anyio context managers: they must be entered and left by
the same task, or anyio fails with cancel-scope errors. So each server gets one asyncio task
that holds the ``async with`` stack for the whole life of the connection; callers hand it
requests through a queue and wait on a future. The task runs each request as a child task,
so calls to one server run concurrently, and a caller that gives up (timeout, cancellation)
cancels only its own request.

The server's stderr goes to a private temporary file (unlinked at once), whose last lines are
quoted when the server fails to start or stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import tempfile
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, TextIO

from moco import __version__
from moco.errors import ToolError
from moco.mcp.config import MCPServerConfig

if TYPE_CHECKING:
    from mcp.client.client import Client

logger = logging.getLogger(__name__)

Operation = Callable[["Client"], Awaitable[Any]]

#: how long a server may take to shut down before its task is cancelled
STOP_TIMEOUT = 10.0
#: HTTP timeouts: connect/write, and reads of a response stream
HTTP_TIMEOUT = 30.0
HTTP_READ_TIMEOUT = 300.0
_STDERR_TAIL_BYTES = 1500


class ConnectionLost(Exception):
    """The server stopped, or its transport failed, before answering."""


@dataclass(slots=True)
class _Request:
    operation: Operation
    future: asyncio.Future[Any]


class ServerConnection:
    """A started (or startable) server. Not thread-safe; one event loop at a time."""

    def __init__(self, config: MCPServerConfig) -> None:
        self.config = config
        #: increases at each start, so concurrent callers restart a crashed server only once
        self.generation = 0
        #: the tool listing of the current generation, filled by the client
        self.tool_cache: list[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[_Request | None] | None = None
        self._ready = False
        #: set by close(): a call that lost the server then must not start it again
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._stderr: _StderrLog | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def running(self) -> bool:
        """Whether the server's task is alive in the current event loop."""
        task = self._task
        if task is None or task.done():
            return False
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    async def ensure_started(self, failed_generation: int | None = None) -> int:
        """Start the server unless it runs; restart it when ``failed_generation`` (the generation
        a caller saw fail) is still the current one. Returns the running generation."""
        async with self._get_lock():
            if self.running and failed_generation != self.generation:
                return self.generation
            if failed_generation is not None and self._closed:
                raise ToolError(f"MCP server '{self.name}' was shut down during the call")
            self._closed = False
            await self._stop()
            await self._start()
            return self.generation

    async def request(self, operation: Operation) -> Any:
        """Run ``operation(client)`` in the server's task; fail after ``config.timeout``."""
        if not self.running or self._queue is None:
            raise ConnectionLost("the server is not running")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(operation, future))
        timeout = self.config.timeout
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ToolError(
                f"MCP server '{self.name}' did not answer within {timeout:g} s"
            ) from None

    async def close(self) -> None:
        """Stop the server (closing stdin, then terminating its process group) and forget it."""
        async with self._get_lock():
            self._closed = True
            await self._stop()
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None

    def stderr_tail(self) -> str:
        """The last lines the server wrote to stderr, or an empty string."""
        return self._stderr.tail() if self._stderr is not None else ""

    # ------------------------------------------------------------------ lifecycle

    def _get_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock = asyncio.Lock()
            self._loop = loop
        return self._lock

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.config.kind == "stdio" and self._stderr is None:
            self._stderr = _StderrLog(self.name)
        ready: asyncio.Future[None] = loop.create_future()
        self._queue = asyncio.Queue()
        self._ready = False
        self.tool_cache = None
        self.generation += 1
        self._task = loop.create_task(self._main(ready), name=f"mcp-server-{self.name}")
        timeout = self.config.startup_timeout
        try:
            await asyncio.wait_for(asyncio.shield(ready), timeout)
        except TimeoutError:
            await self._stop()
            raise ToolError(f"MCP server '{self.name}' did not start within {timeout:g} s"
                            f"{self._quoted_stderr()}") from None
        except Exception as error:
            await self._stop()
            verb = "start" if self.config.kind == "stdio" else "connect"
            reason = describe_error(error, self.config)
            raise ToolError(f"MCP server '{self.name}' could not {verb}: "
                            f"{reason}{self._quoted_stderr()}") from None
        except BaseException:
            # cancelled while starting: the task must not outlive the caller's interest
            if self._task is not None:
                self._task.cancel()
                self._task = None
            raise

    async def _stop(self) -> None:
        task, queue = self._task, self._queue
        self._task, self._queue = None, None
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            return
        if self._ready and queue is not None:
            queue.put_nowait(None)
        else:
            task.cancel()
        await asyncio.wait({task}, timeout=STOP_TIMEOUT)
        if not task.done():
            logger.warning("MCP server %r did not stop within %g s; cancelling it",
                           self.name, STOP_TIMEOUT)
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_TIMEOUT)

    async def _main(self, ready: asyncio.Future[None]) -> None:
        queue = self._queue
        assert queue is not None
        try:
            async with open_client(self.config, self._stderr) as client:
                self._ready = True
                ready.set_result(None)
                await _serve(client, queue)
        except Exception as error:
            if not ready.done():
                ready.set_exception(error)
            else:
                logger.debug("MCP server %r stopped: %s", self.name,
                               describe_error(error, self.config))
        finally:
            if not ready.done():
                ready.set_exception(ConnectionLost("the server task ended"))
            _fail_pending(queue, self.name)

    def _quoted_stderr(self) -> str:
        tail = self.stderr_tail()
        return f" — its stderr ends with: {tail}" if tail else ""


async def _serve(client: Client, queue: asyncio.Queue[_Request | None]) -> None:
    import anyio

    async with anyio.create_task_group() as group:
        while (request := await queue.get()) is not None:
            group.start_soon(_execute, client, request)
        group.cancel_scope.cancel()


async def _execute(client: Client, request: _Request) -> None:
    import anyio

    future = request.future
    if future.done():
        return
    with anyio.CancelScope() as scope:
        future.add_done_callback(lambda _: scope.cancel())
        try:
            result = await request.operation(client)
        except Exception as error:
            _settle(future, error=error)
        except BaseException:
            _settle(future, error=ConnectionLost("the server was stopped during the call"))
            raise
        else:
            _settle(future, result=result)


def _settle(future: asyncio.Future[Any], *, result: Any = None,
            error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _fail_pending(queue: asyncio.Queue[_Request | None], name: str) -> None:
    while not queue.empty():
        request = queue.get_nowait()
        if request is not None:
            _settle(request.future, error=ConnectionLost(f"MCP server '{name}' stopped"))


# --------------------------------------------------------------------------- transports


@asynccontextmanager
async def open_client(config: MCPServerConfig, stderr: _StderrLog | None) -> AsyncIterator[Client]:
    """Connect to the server (starting it for stdio) and complete the MCP handshake."""
    from mcp.client.client import Client
    from mcp.types import Implementation

    async with AsyncExitStack() as stack:
        transport = await _transport(config, stderr, stack)
        client = Client(transport, client_info=Implementation(name="moco", version=__version__),
                        cache=None)
        yield await stack.enter_async_context(client)


async def _transport(config: MCPServerConfig, stderr: _StderrLog | None,
                     stack: AsyncExitStack) -> Any:
    if config.kind == "stdio":
        from mcp.client.stdio import StdioServerParameters, stdio_client

        parameters = StdioServerParameters(
            command=config.command or "", args=list(config.args), env=config.env,
            cwd=config.cwd,
        )
        if stderr is None:
            return stdio_client(parameters)
        return stdio_client(parameters, errlog=stderr.writer)
    if config.kind == "sse":
        from mcp.client.sse import sse_client

        return sse_client(config.url or "", headers=config.headers, timeout=HTTP_TIMEOUT,
                          sse_read_timeout=HTTP_READ_TIMEOUT)
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers=config.headers,
                              timeout=httpx2.Timeout(HTTP_TIMEOUT, read=HTTP_READ_TIMEOUT))
    await stack.enter_async_context(http)
    return streamable_http_client(config.url or "", http_client=http)


# --------------------------------------------------------------------------- errors


def leaf_error(error: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def is_connection_lost(error: BaseException) -> bool:
    """Whether ``error`` means the server or its transport is gone (so a restart may help)."""
    import anyio
    import httpx2
    from mcp.shared.exceptions import MCPError
    from mcp.types import CONNECTION_CLOSED, INVALID_REQUEST

    leaf = leaf_error(error)
    lost = (ConnectionLost, OSError, anyio.BrokenResourceError, anyio.ClosedResourceError,
            anyio.EndOfStream, httpx2.TransportError)
    if isinstance(leaf, lost):
        return True
    if not isinstance(leaf, MCPError):
        return False
    # an HTTP server answering 404 for our session id (it restarted) means: connect again
    expired = leaf.code == INVALID_REQUEST and leaf.message == "Session terminated"
    return leaf.code == CONNECTION_CLOSED or expired


def describe_error(error: BaseException, config: MCPServerConfig) -> str:
    """One readable line for an error of the SDK or of a transport."""
    leaf = leaf_error(error)
    if isinstance(leaf, FileNotFoundError) and config.kind == "stdio":
        return f"command not found: {config.command}"
    if isinstance(leaf, PermissionError) and config.kind == "stdio":
        return f"command is not executable: {config.command}"
    text = " ".join(str(leaf).split())
    return text or type(leaf).__name__


# --------------------------------------------------------------------------- stderr


class _StderrLog:
    """A temporary file for a server's stderr: written through an append-mode handle,
    read back through a second one; the name is removed at once."""

    def __init__(self, name: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:40]
        fd, path = tempfile.mkstemp(prefix=f"moco-mcp-{safe}-", suffix=".log")
        os.close(fd)
        self.writer: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self._reader: IO[bytes] = open(path, "rb")  # noqa: SIM115
        with contextlib.suppress(OSError):
            os.unlink(path)
        # closes the handles when the client is dropped without aclose()
        self._finalizer = weakref.finalize(self, _close_handles, self.writer, self._reader)

    def tail(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            size = os.fstat(self._reader.fileno()).st_size
            self._reader.seek(max(0, size - _STDERR_TAIL_BYTES))
            text = self._reader.read().decode("utf-8", "replace")
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            return " | ".join(lines[-5:])
        return ""

    def close(self) -> None:
        self._finalizer()


def _close_handles(*handles: IO[Any]) -> None:
    for handle in handles:
        with contextlib.suppress(OSError):
            handle.close()
