"""Provider-neutral transcript: messages made of typed parts, serialisable to JSON.

Roles:
- ``user``: text, images and documents from the person (or the delegating agent);
- ``assistant``: the model's text and tool calls;
- ``tool``: the results of the tool calls of the previous assistant message.

Adapters translate these into each provider's wire format; nothing else needs to know them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant", "tool", "system"]


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image, either inline (base64 ``data`` with ``media_type``) or by ``url``."""

    media_type: str = "image/png"
    data: str | None = None
    url: str | None = None
    type: Literal["image"] = "image"


@dataclass(frozen=True, slots=True)
class ToolCallPart:
    """A call the model asked for. ``arguments`` is the decoded JSON object.

    When the model sent arguments that are not a JSON object, ``arguments`` is empty and
    ``invalid_arguments`` holds the raw text so the runtime can tell the model.
    """

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    invalid_arguments: str | None = None
    #: what a provider needs to see again with this call (JSON values only), e.g. Gemini's
    #: thought signature; stored with the transcript so a resumed session can send it
    provider_data: dict[str, Any] | None = None
    type: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True, slots=True)
class ToolResultPart:
    tool_call_id: str
    name: str
    content: str
    is_error: bool = False
    type: Literal["tool_result"] = "tool_result"


@dataclass(frozen=True, slots=True)
class DocumentPart:
    """A document (a PDF) attached to a user message: base64 ``data`` for the providers that
    read the format natively, and its extracted ``text`` for the others."""

    media_type: str = "application/pdf"
    data: str | None = None
    text: str = ""
    name: str = ""
    type: Literal["document"] = "document"

    def as_text(self) -> str:
        """What a model that cannot read the document itself is given."""
        return f"[document {self.name or 'attached'}]\n{self.text or '(no text found)'}"


Part = TextPart | ImagePart | DocumentPart | ToolCallPart | ToolResultPart

_PART_TYPES: dict[str, type[Any]] = {
    "text": TextPart,
    "image": ImagePart,
    "document": DocumentPart,
    "tool_call": ToolCallPart,
    "tool_result": ToolResultPart,
}


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part] = field(default_factory=list)

    @classmethod
    def user(cls, text: str) -> Message:
        return cls("user", [TextPart(text)])

    @classmethod
    def assistant(cls, text: str) -> Message:
        return cls("assistant", [TextPart(text)])

    @property
    def text(self) -> str:
        """The concatenated text parts."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        return [p for p in self.parts if isinstance(p, ToolCallPart)]

    @property
    def tool_results(self) -> list[ToolResultPart]:
        return [p for p in self.parts if isinstance(p, ToolResultPart)]

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "parts": [part_to_dict(p) for p in self.parts]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(data["role"], [part_from_dict(p) for p in data.get("parts", [])])


def part_to_dict(part: Part) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in part.__slots__:  # type: ignore[union-attr]
        value = getattr(part, name)
        if value is not None:
            data[name] = value
    return data


def part_from_dict(data: dict[str, Any]) -> Part:
    kind = data.get("type")
    part_type = _PART_TYPES.get(str(kind))
    if part_type is None:
        raise ValueError(f"unknown message part type: {kind!r}")
    return part_type(**data)  # type: ignore[no-any-return]
