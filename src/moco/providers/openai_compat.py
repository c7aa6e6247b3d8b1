"""Adapter for the OpenAI Chat Completions API and every service that speaks it
(OpenRouter, Z.ai, Moonshot, DeepSeek, Ollama, vLLM, LM Studio, any ``--base-url``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

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

_FINISH = {"tool_calls": "tool_calls", "function_call": "tool_calls", "length": "length",
           "content_filter": "content_filter", "stop": "stop"}
#: services whose Chat Completions take a PDF as a ``file`` content part; the other
#: OpenAI-compatible servers get the document's extracted text
NATIVE_PDF = frozenset({"openai", "openrouter"})


@dataclass(slots=True)
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAICompatProvider(Provider):
    name = "openai"
    key_var = "OPENAI_API_KEY"

    def _make_client(self) -> Any:
        import openai

        return openai.AsyncOpenAI(
            api_key=self.api_key or "not-needed",
            base_url=self.base_url,
            max_retries=0,
            timeout=self.timeout,
        )

    def build_payload(self, request: ModelRequest) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        for message in request.messages:
            messages.extend(to_openai_messages(message, native_pdf=self.name in NATIVE_PDF))
        payload: dict[str, Any] = {"model": request.model, "messages": messages}
        if request.tools:
            payload["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": t.parameters}}
                for t in request.tools
            ]
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        if request.max_tokens is not None:
            payload["max_tokens"] = request.max_tokens
        return payload

    async def _stream_once(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        import openai

        payload = self.build_payload(request)
        try:
            stream = await self.client().chat.completions.create(
                **payload, stream=True, stream_options={"include_usage": True}
            )
            async with stream:
                async for event in self._translate(stream):
                    yield event
        except openai.APIStatusError as error:
            raise self.error_for(
                error.status_code, openai_error_detail(error),
                retry_after=retry_after_seconds(error.response.headers),
            ) from None
        except (openai.APIConnectionError, openai.APITimeoutError) as error:
            raise self.error_for(None, str(error), connection=True) from None
        except openai.APIError as error:
            raise self.error_for(None, str(error), unreadable=True) from None
        except Exception as error:
            raise self.failure(error) from None

    async def _translate(self, stream: Any) -> AsyncIterator[ProviderEvent]:
        pending: dict[int, _PendingCall] = {}
        finish: str | None = None
        for_usage: Any = None
        async for chunk in stream:
            if not hasattr(chunk, "choices"):
                raise self.error_for(None, f"unexpected chunk {chunk!r:.80}", unreadable=True)
            if getattr(chunk, "usage", None):
                for_usage = chunk.usage
            for choice in chunk.choices or []:
                delta = choice.delta
                if delta is not None and delta.content:
                    yield TextChunk(delta.content)
                for call_delta in (delta.tool_calls if delta is not None else None) or []:
                    slot = pending.setdefault(call_delta.index or 0, _PendingCall())
                    slot.id = call_delta.id or slot.id
                    if call_delta.function is not None:
                        slot.name = call_delta.function.name or slot.name
                        if call_delta.function.arguments:
                            slot.arguments.append(call_delta.function.arguments)
                if choice.finish_reason:
                    finish = _FINISH.get(choice.finish_reason, choice.finish_reason)
        if finish is None:  # cut before the finish marker: retried like a 5xx
            raise self.error_for(None, "the stream ended before the answer did", connection=True)
        for index in sorted(pending):
            slot = pending[index]
            call_id = slot.id or f"call_{index}"
            yield ToolCallReady(parse_tool_arguments(call_id, slot.name, "".join(slot.arguments)))
        if for_usage is not None:
            yield UsageChunk(for_usage.prompt_tokens or 0, for_usage.completion_tokens or 0)
        yield Finish(finish)


def to_openai_messages(message: Message, *, native_pdf: bool = False) -> list[dict[str, Any]]:
    """One moco message as Chat Completions messages (tool results become one each)."""
    if message.role == "tool":
        return [
            {"role": "tool", "tool_call_id": part.tool_call_id, "content": part.content}
            for part in message.parts
            if isinstance(part, ToolResultPart)
        ]
    if message.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": message.text or None}
        calls = [p for p in message.parts if isinstance(p, ToolCallPart)]
        if calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {
                    "name": c.name,
                    "arguments": c.invalid_arguments or json.dumps(c.arguments)}}
                for c in calls
            ]
        return [out]
    return [{"role": message.role, "content": _user_content(message, native_pdf)}]


def _user_content(message: Message, native_pdf: bool) -> str | list[dict[str, Any]]:
    if all(isinstance(p, TextPart) for p in message.parts):
        return message.text
    content: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            url = part.url or f"data:{part.media_type};base64,{part.data}"
            content.append({"type": "image_url", "image_url": {"url": url}})
        elif isinstance(part, DocumentPart):
            content.append(_document_content(part, native_pdf))
    return content


def _document_content(part: DocumentPart, native_pdf: bool) -> dict[str, Any]:
    if native_pdf and part.data is not None and part.media_type == "application/pdf":
        return {"type": "file", "file": {
            "filename": part.name or "document.pdf",
            "file_data": f"data:{part.media_type};base64,{part.data}"}}
    return {"type": "text", "text": part.as_text()}


def openai_error_detail(error: Any) -> str:
    """The server's own message in an ``openai`` SDK error."""
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(error, "message", "") or error)
