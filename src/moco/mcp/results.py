"""MCP tool results: converted to the text a model reads, and kept whole for later use.

Conversion of the content blocks of a ``CallToolResult``, one line (or more) per block:

- text -> the text;
- image / audio -> ``[image: image/png, 1234 bytes]`` (the data stays on the result);
- embedded resource -> its text, or ``[resource <uri> (<mime>), N bytes]`` for a blob;
- resource link -> its URI;
- ``structuredContent`` -> appended as JSON when no block gave any text.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from moco.errors import ToolError


@dataclass(frozen=True)
class MCPBinary:
    """An image or audio clip returned by a tool, base64-encoded as it came."""

    kind: str
    mime_type: str
    data: str

    @property
    def size(self) -> int:
        """The size of the decoded data in bytes."""
        return _decoded_size(self.data)

    def decode(self) -> bytes:
        return base64.b64decode(self.data)


@dataclass
class MCPToolResult:
    """One tool call's result: ``text`` for the model, the rest for whoever wants more."""

    text: str
    images: list[MCPBinary] = field(default_factory=list)
    is_error: bool = False
    structured: Any = None
    audio: list[MCPBinary] = field(default_factory=list)
    server: str = ""
    tool: str = ""
    #: the SDK's ``CallToolResult``, untouched
    raw: Any = field(default=None, repr=False)

    def raise_for_error(self) -> None:
        """Raise :class:`ToolError` with the result's text when the server flagged an error."""
        if self.is_error:
            text = self.text.strip() or "the tool reported an error without a message"
            raise ToolError(text)


class MCPToolOutput(str):
    """What an MCP tool returns to the runtime: the result's text, as a ``str``, still
    carrying the whole :class:`MCPToolResult` (``output.result.images`` ...), so a front end
    or a multimodal model can use the images later."""

    result: MCPToolResult

    def __new__(cls, result: MCPToolResult) -> MCPToolOutput:
        output = super().__new__(cls, result.text)
        output.result = result
        return output


def convert_result(raw: Any, *, server: str = "", tool: str = "") -> MCPToolResult:
    """Build an :class:`MCPToolResult` from the SDK's ``CallToolResult``."""
    lines: list[str] = []
    images: list[MCPBinary] = []
    audio: list[MCPBinary] = []
    has_text = False
    for block in getattr(raw, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            lines.append(block.text)
            has_text = has_text or bool(block.text.strip())
        elif kind in ("image", "audio"):
            media = MCPBinary(kind, block.mime_type or "application/octet-stream", block.data)
            (images if kind == "image" else audio).append(media)
            lines.append(f"[{kind}: {media.mime_type}, {media.size} bytes]")
        elif kind == "resource":
            text, is_text = _resource_text(block.resource)
            has_text = has_text or is_text
            lines.append(text)
        elif kind == "resource_link":
            lines.append(str(block.uri))
        else:
            lines.append(f"[{kind or 'unknown'} content]")
    structured = getattr(raw, "structured_content", None)
    if structured is not None and not has_text:
        lines.append(json.dumps(structured, ensure_ascii=False, default=str))
    return MCPToolResult(
        text="\n".join(lines),
        images=images,
        is_error=bool(getattr(raw, "is_error", False)),
        structured=structured,
        audio=audio,
        server=server,
        tool=tool,
        raw=raw,
    )


def _resource_text(resource: Any) -> tuple[str, bool]:
    text = getattr(resource, "text", None)
    if isinstance(text, str):
        return text, True
    blob = getattr(resource, "blob", "") or ""
    mime = getattr(resource, "mime_type", None) or "application/octet-stream"
    return f"[resource {resource.uri} ({mime}), {_decoded_size(blob)} bytes]", False


def _decoded_size(data: str) -> int:
    try:
        return len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        compact = "".join(data.split())
        return max(0, len(compact) * 3 // 4 - compact.count("="))
