"""The run event types: the lingua franca between the loop and every front end.

A run yields these in order. Every event carries ``agent``, the path of the agent that
produced it (``"orchestrator"`` or ``"orchestrator > architect"``). ``to_dict()`` gives the
JSON form that ``moco run --json``, the web UI and the logs use.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from moco.core.messages import Message

RunStatus = Literal["completed", "max_turns", "error", "cancelled", "blocked", "stopped"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    type: ClassVar[str] = "event"
    agent: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            data[f.name] = value.to_dict() if isinstance(value, Message) else value
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    type: ClassVar[str] = "run_started"
    run_id: str
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
    child: str
    task: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReturned(Event):
    type: ClassVar[str] = "agent_returned"
    child: str
    output: str
    status: RunStatus = "completed"


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
    run_id: str
    status: RunStatus
    output: str
    input_tokens: int = 0
    output_tokens: int = 0
    turns: int = 0
