"""The run event types: the lingua franca between the loop and every front end.

A run yields these in order. Every event carries the identity of the agent run that produced
it — ``run_id`` (unique per agent invocation), ``parent_run_id`` (the run that delegated to
it; None for the root run), ``session_id``, ``agent_name`` — and ``agent``, the display path
(``"orchestrator"`` or ``"orchestrator > architect"``). Runs form a tree, like spans: a
consumer keys on ``run_id``; the path is for people, never a key. ``to_dict()`` gives the
JSON form that ``moco run --json``, the web UI and the logs use.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from moco.messages import Message

RunStatus = Literal["completed", "max_turns", "error", "cancelled", "blocked", "stopped"]


#: what a person reads between the names of a delegation chain (``lead > coder``)
PATH_SEPARATOR = " > "


def new_run_id() -> str:
    """A fresh run id (12 hex digits)."""
    return uuid.uuid4().hex[:12]


def child_path(parent_path: str, agent_name: str) -> str:
    """The display path of ``agent_name`` running under ``parent_path``."""
    return f"{parent_path}{PATH_SEPARATOR}{agent_name}" if parent_path else agent_name


def path_depth(path: str) -> int:
    """How many delegations deep a display path is (0 for the root)."""
    return path.count(PATH_SEPARATOR)


def leaf_name(path: str) -> str:
    """The agent's own name at the end of a display path."""
    return path.rsplit(PATH_SEPARATOR, 1)[-1]


@dataclass(frozen=True, slots=True)
class RunIdentity:
    """Who an event belongs to: one agent run in the tree of a team run."""

    run_id: str
    agent_name: str
    path: str = ""
    parent_run_id: str | None = None
    session_id: str | None = None

    def fields(self) -> dict[str, Any]:
        """Keyword arguments that stamp an event with this identity."""
        return {"agent": self.path or self.agent_name, "agent_name": self.agent_name,
                "run_id": self.run_id, "parent_run_id": self.parent_run_id,
                "session_id": self.session_id}

    def child(self, agent_name: str, run_id: str | None = None) -> RunIdentity:
        """The identity of a sub-agent this run delegates to."""
        return RunIdentity(run_id=run_id or new_run_id(), agent_name=agent_name,
                           path=child_path(self.path or self.agent_name, agent_name),
                           parent_run_id=self.run_id, session_id=self.session_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    type: ClassVar[str] = "event"
    #: the display path of the agent (``lead > coder``): for people, never a key
    agent: str = ""
    agent_name: str = ""
    run_id: str = ""
    parent_run_id: str | None = None
    session_id: str | None = None

    @property
    def is_root(self) -> bool:
        """True for events of the top-level run (the one no other run delegated to)."""
        return self.parent_run_id is None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            data[f.name] = value.to_dict() if isinstance(value, Message) else value
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    type: ClassVar[str] = "run_started"
    task: str
    model: str = ""
    provider: str = ""
    session_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDelta(Event):
    type: ClassVar[str] = "text_delta"
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageCompleted(Event):
    """A whole message was added to the agent's transcript (assistant or tool results)."""

    type: ClassVar[str] = "message"
    message: Message


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallStarted(Event):
    type: ClassVar[str] = "tool_call_started"
    call_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallFinished(Event):
    type: ClassVar[str] = "tool_call_finished"
    call_id: str
    name: str
    result: str
    is_error: bool = False
    duration_ms: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentDelegated(Event):
    type: ClassVar[str] = "agent_delegated"
    #: the sub-agent's display path and its run id
    child: str
    task: str
    child_run_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReturned(Event):
    type: ClassVar[str] = "agent_returned"
    child: str
    output: str
    status: RunStatus = "completed"
    child_run_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextCompressed(Event):
    """The oldest part of the conversation was summarized; what is sent next is ``header``
    (the summary and carried-over facts) followed by the last ``kept_messages`` messages."""

    type: ClassVar[str] = "context_compressed"
    removed_messages: int
    kept_messages: int
    tokens_before: int
    tokens_after: int
    summary: str
    header: tuple[Message, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in Event.to_dict(self).items() if k != "header"}
        data["header"] = [message.to_dict() for message in self.header]
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentsSelected(Event):
    """The optimizer chose which sub-agents the primary agent is offered."""

    type: ClassVar[str] = "agents_selected"
    agents: tuple[str, ...]
    offered_before: int
    method: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageReported(Event):
    type: ClassVar[str] = "usage"
    input_tokens: int
    output_tokens: int
    model: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptDiscarded(Event):
    """The model's stream failed after it had sent ``text`` and is being tried again from the
    start: that text is not part of the answer, and a front end that showed it takes it back.
    """

    type: ClassVar[str] = "attempt_discarded"
    text: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryRecalled(Event):
    """Memories went into the context of the run's first model request, as ``text``."""

    type: ClassVar[str] = "memory_recalled"
    memory_ids: tuple[int, ...]
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryLearned(Event):
    """What learning after the run kept: new memories, ones merged into existing memories,
    ones that superseded an older memory, and entity relations."""

    type: ClassVar[str] = "memory_learned"
    added: int = 0
    merged: int = 0
    superseded: int = 0
    relations: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Warning(Event):
    type: ClassVar[str] = "warning"
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Error(Event):
    type: ClassVar[str] = "error"
    message: str
    kind: str = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(Event):
    type: ClassVar[str] = "run_finished"
    status: RunStatus
    output: str
    input_tokens: int = 0
    output_tokens: int = 0
    turns: int = 0


class EventSink(Protocol):
    """Anything that consumes a run's events as they happen (a console, a web stream, a
    gateway): what ``Orchestrator.run`` hands every event to."""

    def handle(self, event: Event) -> None: ...


def root_finish(event: Event) -> RunFinished | None:
    """The event when it is the end of the top-level run, else None — the one answer to
    "did the run finish" for every front end."""
    if isinstance(event, RunFinished) and event.parent_run_id is None:
        return event
    return None
