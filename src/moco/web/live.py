"""One session as the web UI runs it: its orchestrator, its event log, its turn, its asks.

A turn runs as a task on the server's event loop, under the session's
:class:`~moco.cancellation.CancelScope` (the one cancellation mechanism: the Stop button and
``POST /cancel`` call ``scope.cancel``). Every event of the team goes to the session's
:class:`EventLog`, framed by the web's own ``turn_started`` and ``turn_finished``. Several
sessions run at once; a session runs one turn at a time.

Permission asks are answered in the browser: :class:`WebApprover` is the same
:class:`~moco.core.permissions.Approver` interface chat's terminal prompt implements. It
publishes a ``permission_request`` and waits for ``POST /permissions/{ask_id}``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moco.cancellation import CancelScope
from moco.core.permissions import Approval, ApprovalRequest
from moco.errors import Cancelled, ConfigError, MocoError
from moco.events import root_finish
from moco.web.events import EventLog

if TYPE_CHECKING:
    from moco.core.orchestrator import Orchestrator
    from moco.messages import Part

log = logging.getLogger("moco.web")

#: an ask nobody answers is denied after this long
ASK_TIMEOUT_SECONDS = 600.0


class SessionBusy(ConfigError):
    """A message arrived while the session's turn is still running."""


@dataclass
class PendingAsk:
    ask_id: str
    request: ApprovalRequest
    answer: asyncio.Future[Approval]

    def to_dict(self, session_id: str) -> dict[str, Any]:
        request = self.request
        return {"type": "permission_request", "session_id": session_id, "ask_id": self.ask_id,
                "agent": request.agent, "tool": request.tool,
                "arguments": dict(request.arguments), "description": request.description,
                "kind": request.kind, "rule": request.rule, "always": request.always}


class WebApprover:
    """Asks the browser: a ``permission_request`` event, answered over the API."""

    def __init__(self, log: EventLog, timeout: float = ASK_TIMEOUT_SECONDS,
                 redact: Callable[[Any], Any] = lambda value: value) -> None:
        self.log = log
        self.timeout = timeout
        #: secrets in a command or a diff are masked before the page sees them
        self.redact = redact
        self.pending: dict[str, PendingAsk] = {}

    async def approve(self, request: ApprovalRequest) -> Approval:
        ask = PendingAsk(uuid.uuid4().hex[:12], request,
                         asyncio.get_running_loop().create_future())
        self.pending[ask.ask_id] = ask
        self.log.publish(self.redact(ask.to_dict(self.log.session_id)))
        choice = Approval.deny("the question was withdrawn")
        try:
            choice = await asyncio.wait_for(asyncio.shield(ask.answer), self.timeout)
        except TimeoutError:
            choice = Approval.deny("nobody answered in the browser")
        finally:
            self.pending.pop(ask.ask_id, None)
            self.log.publish({"type": "permission_resolved", "ask_id": ask.ask_id,
                              "choice": choice.choice})
        return choice

    def answer(self, ask_id: str, approval: Approval) -> bool:
        """Resolve an ask; False when it is not waiting (answered, timed out, withdrawn)."""
        ask = self.pending.get(ask_id)
        if ask is None or ask.answer.done():
            return False
        ask.answer.set_result(approval)
        return True

    def waiting(self) -> list[dict[str, Any]]:
        return [self.redact(ask.to_dict(self.log.session_id)) for ask in self.pending.values()]


@dataclass
class LiveSession:
    """A session the server holds: what a turn needs, and what a page needs to follow it."""

    session_id: str
    orchestrator: Orchestrator
    log: EventLog
    approver: WebApprover
    scope: CancelScope = field(default_factory=CancelScope)
    task: asyncio.Task[None] | None = None
    #: the id of the current (or last) turn's first event, and the last stored message seq
    #: before it: a page that reloads mid-turn renders history up to there, then replays
    run_start_event_id: int | None = None
    history_seq: int | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def live_view(self) -> dict[str, Any]:
        return {"running": self.running, "last_event_id": self.log.last_id,
                "run_start_event_id": self.run_start_event_id if self.running else None,
                "history_seq": self.history_seq if self.running else None}

    def start_turn(self, text: str, attachments: list[dict[str, Any]] | None = None,
                   task_text: str | None = None, parts: Sequence[Part] = ()) -> int:
        """Begin a turn for ``text`` (``task_text`` is what the model gets, when it differs;
        ``parts`` the images and documents with it); returns the id of its first event."""
        if self.running:
            raise SessionBusy("this session is still answering — stop it or wait")
        self.history_seq = self.orchestrator.sessions.last_seq(self.session_id)
        redact = self.orchestrator.redactor.redact_obj
        first = self.log.publish(redact({"type": "turn_started", "text": text,
                                         "attachments": attachments or []}))
        self.run_start_event_id = first
        self.task = asyncio.get_running_loop().create_task(
            self._turn(task_text if task_text is not None else text, parts),
            name=f"moco-web-turn-{self.session_id}")
        return first

    def cancel(self) -> bool:
        """Stop the running turn (its asks are denied); False when nothing runs."""
        return self.scope.cancel("stopped from the web UI")

    async def _turn(self, task: str, parts: Sequence[Part] = ()) -> None:
        status = "error"

        async def consume() -> None:
            nonlocal status
            async for event in self.orchestrator.events(task, session_id=self.session_id,
                                                         attachments=parts):
                self.log.publish_event(event)
                finished = root_finish(event)
                if finished is not None:
                    status = finished.status

        try:
            await self.scope.run(consume())
        except Cancelled:
            status = "cancelled"
        except MocoError as error:
            self.log.publish({"type": "error", "message": str(error), "kind": "config"})
        except Exception as error:  # a server must outlive a bug in one turn, and say so
            log.exception("turn of session %s failed", self.session_id)
            self.log.publish({"type": "error", "kind": "internal",
                              "message": f"internal error: {type(error).__name__}: {error}"})
        finally:
            self.orchestrator.save_session_state()
            self.log.publish({"type": "turn_finished", "status": status})

    async def aclose(self) -> None:
        if self.running:
            self.cancel()
            assert self.task is not None
            await asyncio.gather(self.task, return_exceptions=True)
        await self.orchestrator.aclose()
