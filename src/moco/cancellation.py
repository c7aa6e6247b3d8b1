"""One cancellation mechanism for every front end.

A :class:`CancelScope` belongs to a session. ``scope.run(coro)`` runs one turn; ``cancel()``
— from chat's Ctrl-C handler, the web UI's stop button, the gateway's ``/stop`` or
``moco tasks cancel`` — stops it from any thread. Cancelling the turn's task reaches
everything the turn started: the streaming HTTP request is closed, tool tasks are cancelled
(the shell tool then kills its process group; MCP calls are abandoned), and sub-agents,
which run inside tool tasks, are cancelled with them. Tools that run in threads cannot be
cancelled by asyncio, so the team run also sets its :class:`CancelFlag` (``ctx.cancelled``),
which those tools poll. The orchestrator records the turn as cancelled.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from moco.errors import Cancelled

T = TypeVar("T")


class CancelScope:
    """Cancels the turn currently running under :meth:`run`; safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.reason = ""

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` as the scope's turn; raises :class:`Cancelled` when it is cancelled."""
        task = asyncio.ensure_future(coro)
        with self._lock:
            self._task, self._loop = task, asyncio.get_running_loop()
            self.reason = ""
        try:
            return await task
        except asyncio.CancelledError:
            if self.reason and not _outer_cancelled():
                raise Cancelled(self.reason) from None
            raise
        finally:
            with self._lock:
                self._task = None

    def cancel(self, reason: str = "cancelled by the user") -> bool:
        """Stop the running turn. Returns False when nothing was running."""
        with self._lock:
            task, loop = self._task, self._loop
            if task is None or task.done() or loop is None:
                return False
            self.reason = reason
        loop.call_soon_threadsafe(self._cancel_now, task)
        return True

    def _cancel_now(self, task: asyncio.Task[Any]) -> None:
        task.cancel()


class CancelFlag:
    """A stop flag that threads poll (:meth:`is_set`) and coroutines await (:meth:`wait`);
    :meth:`set` may be called from any thread."""

    def __init__(self) -> None:
        self._flag = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def is_set(self) -> bool:
        return self._flag.is_set()

    def set(self) -> None:
        with self._lock:
            self._flag.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)

    async def wait(self) -> bool:
        """Return once the flag is set (immediately when it already is)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._flag.is_set():
                return True
            self._waiters.append((loop, future))
        try:
            await future
        finally:
            with self._lock:
                if (loop, future) in self._waiters:
                    self._waiters.remove((loop, future))
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _outer_cancelled() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0
