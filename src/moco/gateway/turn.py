"""One turn read from the event stream: the root agent's answer and how it ended."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class TurnResult:
    """What the root agent said (attempts it discarded taken out), and the turn's status."""

    status: str = "unknown"
    parts: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(part.strip() for part in self.parts.values() if part.strip())

    def add(self, event: dict[str, Any]) -> None:
        if event.get("parent_run_id") is not None:
            return  # a sub-agent's work: only the root agent answers the chat
        kind, run = event.get("type"), str(event.get("run_id", ""))
        if kind == "text_delta":
            self.parts[run] = self.parts.get(run, "") + str(event.get("text", ""))
        elif kind == "attempt_discarded":
            said, taken = self.parts.get(run, ""), str(event.get("text", ""))
            self.parts[run] = said[:-len(taken)] if taken and said.endswith(taken) else ""
        elif kind == "error":
            self.errors.append(str(event.get("message", "")))


Asker = Callable[[dict[str, Any]], Awaitable[None]]


async def read_turn(events: AsyncIterator[dict[str, Any]], on_ask: Asker) -> TurnResult:
    """Read ``events`` up to ``turn_finished``; each ``permission_request`` goes to ``on_ask``."""
    result = TurnResult()
    async for event in events:
        if event.get("type") == "permission_request":
            await on_ask(event)
        elif event.get("type") == "turn_finished":
            result.status = str(event.get("status", "unknown"))
            break
        else:
            result.add(event)
    return result
