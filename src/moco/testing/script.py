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


Script = list[Reply] | Callable[[RecordedRequest], Reply]
