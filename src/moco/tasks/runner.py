"""Run one background task: the one code path every backend (local worker, Celery) calls.

:func:`run_task` claims the task, builds the :class:`~moco.core.orchestrator.Orchestrator`
from the stored ``moco run`` options — without an approver, so a permission ask nobody can
answer is refused with the flag or rule that would allow it, and that refusal (a tool result)
is in the task's events — and runs it under a :class:`~moco.cancellation.CancelScope`. A
heartbeat coroutine writes the heartbeat every :data:`~moco.tasks.store.HEARTBEAT_INTERVAL_S`
and, when a cancel was requested, cancels the scope: the one cancellation mechanism, so the
session records the turn as cancelled as chat's Ctrl-C does. Every event is written to
``task_events`` as it happens (``event.to_dict()``, what ``moco run --json`` prints), framed by
the runner's own ``task_started`` and ``task_finished``; the session is stored as any run's.

SIGTERM (a worker being shut down) stops the run the same way and leaves it ``interrupted``:
its session can be continued with ``moco run -s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from moco.cancellation import CancelScope
from moco.errors import Cancelled, MocoError
from moco.storage.owner import current_owner
from moco.tasks.options import TaskOptions
from moco.tasks.store import HEARTBEAT_INTERVAL_S, TaskRecord, TaskStore

if TYPE_CHECKING:
    from moco.core.orchestrator import Orchestrator
    from moco.providers.pool import ProviderPool

#: run statuses (moco.events.RunStatus) as task statuses
_TASK_STATUS = {"completed": "completed", "max_turns": "max_turns", "blocked": "blocked",
                "cancelled": "cancelled", "error": "failed", "stopped": "failed"}
CANCEL_REASON = "cancelled with moco tasks cancel"
SIGTERM_REASON = "the worker was stopped (SIGTERM)"


def run_task(task_id: str, env: Mapping[str, str] | None = None) -> str:
    """Run the queued task ``task_id`` to its end and return its final status.

    ``env`` is the environment the task runs with (default: this process's); it names
    ``MOCO_HOME`` and holds the provider keys. When the task is not queued (another worker
    claimed it, or it was cancelled first) nothing runs and its current status is returned.
    """
    return asyncio.run(run_task_async(task_id, env))


async def run_task_async(task_id: str, env: Mapping[str, str] | None = None, *,
                         provider_pool: ProviderPool | None = None) -> str:
    """:func:`run_task` on the running loop; a worker that runs many tasks on one loop
    passes one ``provider_pool``, so each endpoint's client (and its TLS context) is made
    once, not per task."""
    environment = dict(os.environ if env is None else env)
    store = TaskStore.open(environment)
    try:
        record = store.get(task_id)
        worker = current_owner()
        if not store.claim(record.id, worker):
            return store.get(record.id).status
        run = _TaskRun(store, store.get(record.id), worker, environment, provider_pool)
        return await run.run()
    finally:
        store.db.close()


class _TaskRun:
    """One claimed task, from its ``task_started`` event to its ``finish``."""

    def __init__(self, store: TaskStore, record: TaskRecord, worker: str,
                 env: dict[str, str], provider_pool: ProviderPool | None) -> None:
        self.store = store
        self.provider_pool = provider_pool
        self.record = record
        self.worker = worker
        self.env = env
        self.scope = CancelScope()
        self.status = "failed"
        self.error: str | None = "the run ended without a result"
        self.input_tokens = 0
        self.output_tokens = 0

    async def run(self) -> str:
        self.emit({"type": "task_started", "task_id": self.record.id, "worker": self.worker,
                   "task": self.record.task, "backend": self.record.backend})
        try:
            await self._execute()
        except MocoError as error:  # options that cannot run: unknown profile, no key ...
            self.status, self.error = "failed", str(error)
            self.emit({"type": "error", "message": str(error), "kind": "config"})
        except (KeyboardInterrupt, asyncio.CancelledError):  # the worker itself is stopping
            self.status, self.error = "interrupted", "the worker was stopped"
            raise
        except BaseException as error:
            self.status = "failed"
            self.error = f"internal error: {type(error).__name__}: {error}"
            raise
        finally:
            self.emit({"type": "task_finished", "status": self.status, "error": self.error,
                       "input_tokens": self.input_tokens, "output_tokens": self.output_tokens})
            self.store.finish(self.record.id, self.status, self.error,
                              input_tokens=self.input_tokens, output_tokens=self.output_tokens)
        return self.status

    def emit(self, data: Mapping[str, Any]) -> None:
        self.store.append_event(self.record.id, data)

    async def _execute(self) -> None:
        from moco.core.orchestrator import Orchestrator
        from moco.storage.session_logger import SessionLogger

        options = TaskOptions.from_dict(self.record.options)
        orchestrator = Orchestrator(**options.orchestrator_kwargs(), env=self.env,
                                    session_logger=SessionLogger(self.store.db),
                                    provider_pool=self.provider_pool)
        try:
            session_id = self._session(orchestrator, options)
            self.store.set_session(self.record.id, session_id)
            await self._supervised(orchestrator, session_id)
        finally:
            with contextlib.suppress(MocoError):
                orchestrator.save_session_state()
            await orchestrator.aclose()

    def _session(self, orchestrator: Orchestrator, options: TaskOptions) -> str:
        """The session the task continues (``-s``/``-c``), or a new one named after it; a
        task run again after its worker died continues its own session."""
        from moco.cli.run import choose_session

        if self.record.session_id:
            return self.record.session_id
        chosen = choose_session(orchestrator, continue_last=options.continue_last,
                                name=options.session, new=False)
        if chosen is not None:
            return chosen
        return orchestrator.create_session(title=" ".join(self.record.task.split())[:80])

    async def _supervised(self, orchestrator: Orchestrator, session_id: str) -> None:
        """Run the task under the scope, beside its heartbeat; SIGTERM cancels it too."""
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            with _sigterm_cancels(self.scope):
                await self.scope.run(self._consume(orchestrator, session_id))
        except Cancelled as cancelled:
            stopped = str(cancelled) == SIGTERM_REASON
            self.status, self.error = ("interrupted" if stopped else "cancelled"), str(cancelled)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def _consume(self, orchestrator: Orchestrator, session_id: str) -> None:
        from moco.events import Error, UsageReported, root_finish

        last_error: str | None = None
        async for event in orchestrator.events(self.record.task, session_id=session_id):
            self.emit(event.to_dict())
            if isinstance(event, UsageReported):
                self.input_tokens += event.input_tokens
                self.output_tokens += event.output_tokens
            elif isinstance(event, Error):
                last_error = event.message
            finished = root_finish(event)
            if finished is not None:
                self.status = _TASK_STATUS.get(finished.status, "failed")
                self.error = None if self.status == "completed" else last_error

    async def _heartbeat(self) -> None:
        """Write the heartbeat (and tokens so far); a requested cancel cancels the scope."""
        while True:
            stop = self.store.heartbeat(self.record.id, self.worker,
                                        input_tokens=self.input_tokens,
                                        output_tokens=self.output_tokens)
            if stop:
                self.scope.cancel(CANCEL_REASON)
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)


@contextlib.contextmanager
def _sigterm_cancels(scope: CancelScope) -> Iterator[None]:
    """While the task runs, SIGTERM cancels ``scope``; the handler in place before (a Celery
    pool process has its own) is put back after. Only the main thread can take signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)
    try:
        loop.add_signal_handler(signal.SIGTERM, scope.cancel, SIGTERM_REASON)
    except (NotImplementedError, RuntimeError, ValueError):  # no signals on this loop
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        if previous is not None:  # None: set outside Python, nothing to put back
            signal.signal(signal.SIGTERM, previous)
