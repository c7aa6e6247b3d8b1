"""Adapter for the Anthropic Messages API (Claude), over the official ``anthropic`` SDK.

The SDK is imported inside methods only: importing it takes more than a second.

Anthropic differs from Chat Completions in ways this module hides: the system prompt is a
request field, tool results are ``tool_result`` blocks of a *user* message, roles must
alternate, ``max_tokens`` is required, and tool arguments stream as ``input_json_delta``
pieces per content block. API version 2026-10-21 (the SDK's default) rejects sampling
parameters, so ``ModelRequest.temperature`` is not sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from moco.errors import ProviderError
from moco.messages import DocumentPart, ImagePart, Message, TextPart, ToolCallPart, ToolResultPart
from moco.providers.base import (
    Finish,
    ModelRequest,
    Provider,
    ProviderEvent,
    TextChunk,
    ToolCallReady,
    UsageChunk,
    parse_tool_arguments,
    retry_after_seconds,
)

#: Anthropic requires ``max_tokens``; used when the request does not say
DEFAULT_MAX_TOKENS = 8192

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}

#: error types of an ``error`` event inside a stream (sent with HTTP 200) -> their status
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


@dataclass(slots=True)
class _PendingCall:
    id: str
    name: str
    initial: dict[str, Any] = field(default_factory=dict)
    pieces: list[str] = field(default_factory=list)

    def part(self) -> ToolCallPart:
        raw = "".join(self.pieces)
        return parse_tool_arguments(self.id, self.name, raw if raw.strip() else self.initial)


@dataclass(slots=True)
class _StreamState:
    calls: dict[int, _PendingCall] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str | None = None
    stopped: bool = False
    #: finished tool calls, handed out only once the message has stopped
    ready: list[ToolCallPart] = field(default_factory=list)


class AnthropicProvider(Provider):
    name = "anthropic"
    key_var = "ANTHROPIC_API_KEY"

    def _make_client(self) -> Any:
        import anthropic

        return anthropic.AsyncAnthropic(
            api_key=self.api_key or "not-needed",
            base_url=self.base_url,
            max_retries=0,
            timeout=self.timeout,
        )

    def build_payload(self, request: ModelRequest) -> dict[str, Any]:
        systems = [request.system] if request.system else []
        systems.extend(m.text for m in request.messages if m.role == "system" and m.text)
        turns = [m for m in request.messages if m.role != "system"]
        payload: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": to_anthropic_messages(turns),
        }
        if systems:
            payload["system"] = "\n\n".join(systems)
        if request.tools:
            payload["tools"] = [
                {"name": t.name, "description": t.description,
                 "input_schema": t.parameters or {"type": "object", "properties": {}}}
                for t in request.tools
            ]
        return payload

    async def _stream_once(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        import anthropic

        payload = self.build_payload(request)
        try:
            stream = await self.client().messages.create(**payload, stream=True)
            async with stream:
                async for event in self._translate(stream):
                    yield event
        except anthropic.APIStatusError as error:
            raise self._status_error(error) from None
        except (anthropic.APIConnectionError, anthropic.APITimeoutError) as error:
            raise self.error_for(None, str(error), connection=True) from None
        except anthropic.APIError as error:
            raise self.error_for(None, str(error), unreadable=True) from None
        except Exception as error:
            raise self.failure(error) from None

    def _status_error(self, error: Any) -> ProviderError:
        """An HTTP error, or an ``error`` event in a stream (which arrives with status 200)."""
        status = int(error.status_code)
        if status < 400:
            kind = getattr(error, "type", None) or _body_error(error.body).get("type")
            status = _ERROR_STATUS.get(str(kind), 500)
        return self.error_for(
            status, _error_detail(error), retry_after=retry_after_seconds(error.response.headers)
        )

    async def _translate(self, stream: Any) -> AsyncIterator[ProviderEvent]:
        state = _StreamState()
        async for event in stream:
            kind = getattr(event, "type", None)
            if kind == "message_start":
                state.input_tokens = _input_tokens(event.message.usage)
                state.output_tokens = event.message.usage.output_tokens or 0
            elif kind == "message_delta":
                self._message_delta(event, state)
            elif kind == "message_stop":
                state.stopped = True
            elif kind is None:
                raise self.error_for(None, f"unexpected event {event!r:.80}", unreadable=True)
            else:
                produced = self._block_event(kind, event, state)
                if produced is not None:
                    yield produced
        if not state.stopped or state.stop_reason is None:
            # cut before the finish marker: retried like a 5xx; its tool calls are not handed
            # out, they may be incomplete
            raise self.error_for(None, "the stream ended before the answer did", connection=True)
        for call in state.ready:
            yield ToolCallReady(call)
        for index in sorted(state.calls):
            yield ToolCallReady(state.calls[index].part())
        yield UsageChunk(state.input_tokens, state.output_tokens)
        yield Finish(_FINISH.get(state.stop_reason, state.stop_reason))

    @staticmethod
    def _block_event(kind: str, event: Any, state: _StreamState) -> ProviderEvent | None:
        """A content block event: text out at once, tool input collected until its block stops."""
        if kind == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                initial = block.input if isinstance(block.input, dict) else {}
                state.calls[event.index] = _PendingCall(block.id, block.name, initial)
            elif block.type == "text" and block.text:
                return TextChunk(block.text)
        elif kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta" and delta.text:
                return TextChunk(delta.text)
            if delta.type == "input_json_delta" and event.index in state.calls:
                state.calls[event.index].pieces.append(delta.partial_json)
        elif kind == "content_block_stop":
            pending = state.calls.pop(event.index, None)
            if pending is not None:
                state.ready.append(pending.part())
        return None

    @staticmethod
    def _message_delta(event: Any, state: _StreamState) -> None:
        if event.delta.stop_reason:
            state.stop_reason = event.delta.stop_reason
        usage = event.usage
        if usage is None:
            return
        if usage.output_tokens is not None:
            state.output_tokens = usage.output_tokens  # cumulative
        if usage.input_tokens is not None:
            state.input_tokens = _input_tokens(usage)


def to_anthropic_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """moco messages as alternating Anthropic messages (consecutive same roles merged)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    for item in out:
        if item["role"] == "user":
            # tool results must open the user turn that answers the tool calls
            item["content"].sort(key=lambda block: block["type"] != "tool_result")
    return out


def _blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            blocks.append({"type": "image", "source": _image_source(part)})
        elif isinstance(part, DocumentPart):
            blocks.append(_document_block(part))
        elif isinstance(part, ToolCallPart):
            blocks.append({"type": "tool_use", "id": part.id, "name": part.name,
                           "input": dict(part.arguments)})
        elif isinstance(part, ToolResultPart):
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": part.tool_call_id}
            if part.content:
                result["content"] = part.content
            if part.is_error:
                result["is_error"] = True
            blocks.append(result)
    return blocks


def _image_source(part: ImagePart) -> dict[str, Any]:
    if part.data is not None:
        return {"type": "base64", "media_type": part.media_type, "data": part.data}
    return {"type": "url", "url": part.url or ""}


def _document_block(part: DocumentPart) -> dict[str, Any]:
    """A PDF as a ``document`` block (Claude reads its pages); other documents as text."""
    if part.data is not None and part.media_type == "application/pdf":
        block: dict[str, Any] = {"type": "document", "source": {
            "type": "base64", "media_type": part.media_type, "data": part.data}}
        if part.name:
            block["title"] = part.name
        return block
    return {"type": "text", "text": part.as_text()}


def _input_tokens(usage: Any) -> int:
    """Total input tokens: Anthropic counts cache reads and writes apart."""
    return sum(
        getattr(usage, name, None) or 0
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )


def _body_error(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return inner
    return {}


def _error_detail(error: Any) -> str:
    message = getattr(error, "api_message", None) or _body_error(error.body).get("message")
    if message:
        return str(message)
    return str(getattr(error, "message", "") or error)
