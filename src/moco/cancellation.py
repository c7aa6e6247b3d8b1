"""One cancellation mechanism for every front end.

A :class:`CancelScope` belongs to a session. ``scope.run(coro)`` runs one turn; ``cancel()``
— from chat's Ctrl-C handler, the web UI's stop button, the gateway's ``/stop`` or
``moco tasks cancel`` — stops it from any thread. Cancelling the turn's task is enough to
reach everything the turn started: the streaming HTTP request is closed, tool tasks are
cancelled (the shell tool then kills its process group), and sub-agents, which run inside
tool tasks, are cancelled with them. The orchestrator records the turn as cancelled.
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
        #: set while a cancellation is in progress; tools running in threads may poll it
        self.event = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` as the scope's turn; raises :class:`Cancelled` when it is cancelled."""
        task = asyncio.ensure_future(coro)
        with self._lock:
            self._task, self._loop = task, asyncio.get_running_loop()
            self.reason = ""
            self.event = asyncio.Event()
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
        self.event.set()
        task.cancel()


def _outer_cancelled() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0
