"""What a scripted LLM server answers: a list of :class:`Reply`, or a function of the request."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the scripted model makes. ``raw_arguments`` overrides ``arguments``
    with literal text (to send invalid JSON on purpose)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    raw_arguments: str | None = None

    def arguments_json(self) -> str:
        if self.raw_arguments is not None:
            return self.raw_arguments
        return json.dumps(self.arguments)


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer.

    - ``text`` and/or ``tool_calls``: what the model says (several calls = parallel calls);
    - ``input_tokens``/``output_tokens``: the usage reported;
    - ``status``: an HTTP error status instead of an answer (with ``error_message`` and
      ``headers``, e.g. ``{"retry-after": "0"}``);
    - ``latency``: seconds to wait before answering; ``chunk_delay``: between stream chunks;
    - ``malformed``: send a body/chunk that is not valid JSON;
    - ``drop``: close the connection in the middle of the answer;
    - ``cut``: stream the whole content (text deltas, tool-call deltas) and then end the
      stream cleanly without the provider's finish marker, as a proxy or a provider that
      gives up mid-answer does;
    - ``finish_reason``: override the reported stop reason (``stop``, ``length`` ...).
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    input_tokens: int = 10
    output_tokens: int = 5
    status: int = 200
    error_message: str = "scripted error"
    headers: dict[str, str] = field(default_factory=dict)
    latency: float = 0.0
    chunk_delay: float = 0.0
    malformed: bool = False
    drop: bool = False
    cut: bool = False
    finish_reason: str | None = None

    @classmethod
    def say(cls, text: str, **options: Any) -> Reply:
        return cls(text=text, **options)

    @classmethod
    def call(cls, name: str, arguments: dict[str, Any] | None = None, **options: Any) -> Reply:
        return cls(tool_calls=(ToolCall(name, arguments or {}),), **options)

    @classmethod
    def calls(cls, *calls: ToolCall, text: str = "", **options: Any) -> Reply:
        return cls(text=text, tool_calls=tuple(calls), **options)

    @classmethod
    def error(cls, status: int, message: str = "scripted error", **options: Any) -> Reply:
        return cls(status=status, error_message=message, **options)

    @property
    def stop_reason(self) -> str:
        if self.finish_reason:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"

    def text_chunks(self, size: int = 8) -> list[str]:
        """The text split into small pieces, as a streaming model sends it."""
        return [self.text[i : i + size] for i in range(0, len(self.text), size)] or []


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the scripted server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def system_text(self) -> str:
        """The system prompt, whichever protocol carried it (OpenAI, Anthropic, Gemini)."""
        body = self.body
        messages = body.get("messages") or []
        if messages and isinstance(messages[0], dict) and messages[0].get("role") == "system":
            return str(messages[0].get("content") or "")
        system = body.get("system")
        if isinstance(system, str):
            return system
        if isinstance(system, list):
            return "".join(str(block.get("text", "")) for block in system)
        instruction = body.get("systemInstruction") or body.get("system_instruction") or {}
        return "".join(str(p.get("text", "")) for p in instruction.get("parts", []))


class RoutedScript:
    """A script for several agents at once: each request is answered from the reply list of
    the first route whose key appears in the request's system prompt.

    >>> script = RoutedScript({"You are the planner": [Reply.say("plan")],
    ...                        "You are the coder": [Reply.say("code")]})

    Concurrent agents each consume their own list, so the order in which parallel
    sub-agents reach the server does not matter. ``calls[key]`` counts requests per route.
    """

    def __init__(self, routes: dict[str, list[Reply]]) -> None:
        self.routes = {key: list(replies) for key, replies in routes.items()}
        self.calls: dict[str, int] = dict.fromkeys(routes, 0)

    def __call__(self, request: RecordedRequest) -> Reply:
        system = request.system_text
        for key, replies in self.routes.items():
            if key in system:
                self.calls[key] += 1
                if not replies:
                    return Reply.error(500, f"no scripted reply left for {key!r}")
                return replies.pop(0)
        return Reply.error(500, f"no route matches the system prompt {system[:80]!r}")

    @property
    def remaining(self) -> dict[str, int]:
        return {key: len(replies) for key, replies in self.routes.items() if replies}


Script = list[Reply] | Callable[[RecordedRequest], Reply]
