"""Adapter for the Gemini Developer API over the official ``google-genai`` SDK.

Gemini sends each function call whole (no argument deltas), often without an id: moco gives
those calls an id of its own and sends it back with the function response. Gemini 3 models also
sign their function calls (``thoughtSignature``) and answer 400 when a replayed call lost its
signature, so the adapter remembers the signatures it received by call id and, for calls it
never saw (a resumed session, another provider's turns), sends Google's documented sentinel.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
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

_FILTERED = frozenset({
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR", "LANGUAGE",
})
#: what Gemini 3 accepts in place of a signature it did not issue (Google's documented value)
_SKIP_SIGNATURE = base64.urlsafe_b64decode("skip_thought_signature_validator")
_SIGNED_MODEL = re.compile(r"gemini-(\d+)")
_VERSION_SUFFIX = re.compile(r"^(?P<root>.*?)/?(?P<version>v\d+(?:(?:alpha|beta)\d*)?)/?$")
_MAX_SIGNATURES = 4096



def gemini_client(api_key: str | None, base_url: str | None, timeout: float) -> Any:
    """A ``google-genai`` client on the Gemini Developer API that does not retry (moco does)."""
    from google import genai
    from google.genai import types

    base_url, api_version = split_api_version(base_url)
    return genai.Client(
        api_key=api_key or "not-needed",
        vertexai=False,
        http_options=types.HttpOptions(
            base_url=base_url,
            api_version=api_version,
            timeout=max(1, int(timeout * 1000)),  # milliseconds
            retry_options=types.HttpRetryOptions(attempts=1),
        ),
    )

class GeminiProvider(Provider):
    name = "gemini"
    key_var = "GEMINI_API_KEY"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._signatures: OrderedDict[str, bytes] = OrderedDict()

    def _make_client(self) -> Any:
        return gemini_client(self.api_key, self.base_url, self.timeout)

    async def _close_client(self, client: Any) -> None:
        await client.aio.aclose()

    # -- request --------------------------------------------------------------------------
    def build_config(self, request: ModelRequest) -> Any:
        from google.genai import types

        system = "\n\n".join(
            text for text in (request.system, *(m.text for m in request.messages
                                                if m.role == "system")) if text
        )
        tools: list[Any] | None = None
        if request.tools:
            tools = [types.Tool(function_declarations=[
                types.FunctionDeclaration(name=t.name, description=t.description,
                                          parameters_json_schema=t.parameters)
                for t in request.tools
            ])]
        return types.GenerateContentConfig(
            system_instruction=system or None,
            tools=tools,
            temperature=request.temperature,
            max_output_tokens=request.max_tokens,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            automatic_continuation=False,
        )

    def build_contents(self, request: ModelRequest) -> list[Any]:
        """The transcript as Gemini contents; consecutive turns of one role are merged."""
        from google.genai import types

        sign = _needs_signature(request.model)
        contents: list[Any] = []
        for message in request.messages:
            if message.role == "system":
                continue
            role = "model" if message.role == "assistant" else "user"
            parts = self._parts(message, sign)
            if not parts:
                continue
            if contents and contents[-1].role == role:
                contents[-1].parts.extend(parts)
            else:
                contents.append(types.Content(role=role, parts=parts))
        return contents

    def _parts(self, message: Message, sign: bool) -> list[Any]:
        from google.genai import types

        parts: list[Any] = []
        first_call = True
        for part in message.parts:
            if isinstance(part, TextPart):
                if part.text:
                    parts.append(types.Part(text=part.text))
            elif isinstance(part, ImagePart):
                parts.append(_image_part(part))
            elif isinstance(part, DocumentPart):
                parts.append(_document_part(part))
            elif isinstance(part, ToolCallPart):
                signature = _stored_signature(part) or self._signatures.get(part.id)
                if signature is None and sign and first_call:
                    signature = _SKIP_SIGNATURE
                first_call = False
                parts.append(types.Part(
                    function_call=types.FunctionCall(id=part.id, name=part.name,
                                                     args=part.arguments),
                    thought_signature=signature,
                ))
            elif isinstance(part, ToolResultPart):
                key = "error" if part.is_error else "result"
                parts.append(types.Part(function_response=types.FunctionResponse(
                    id=part.tool_call_id, name=part.name, response={key: part.content},
                )))
        return parts

    # -- response -------------------------------------------------------------------------
    async def _stream_once(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        from google.genai import errors

        contents = self.build_contents(request)
        config = self.build_config(request)
        try:
            stream = await self.client().aio.models.generate_content_stream(
                model=request.model, contents=contents, config=config
            )
            async for event in self._translate(stream):
                yield event
        except errors.APIError as error:
            raise self._api_error(error) from None
        except Exception as error:
            raise self.failure(error) from None

    async def _translate(self, stream: Any) -> AsyncIterator[ProviderEvent]:
        finish: str | None = None
        usage: Any = None
        calls: list[ToolCallPart] = []  # handed out once the stream has finished
        async for chunk in stream:
            usage = chunk.usage_metadata or usage
            feedback = chunk.prompt_feedback
            if feedback is not None and feedback.block_reason:
                finish = "content_filter"
            for candidate in (chunk.candidates or [])[:1]:
                content = candidate.content
                for part in (content.parts if content is not None else None) or []:
                    if part.function_call is not None:
                        calls.append(self._call(part))
                    elif part.text and not part.thought:
                        yield TextChunk(part.text)
                if candidate.finish_reason:
                    finish = _finish_reason(_enum_name(candidate.finish_reason), len(calls))
        if finish is None:  # cut before the finish marker: retried like a 5xx
            raise self.error_for(None, "the stream ended before the answer did", connection=True)
        for call in calls:
            yield ToolCallReady(call)
        if usage is not None:
            output = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
            yield UsageChunk(usage.prompt_token_count or 0, output)
        yield Finish(finish)

    def _call(self, part: Any) -> ToolCallPart:
        call = part.function_call
        call_id = call.id or f"call_{uuid.uuid4().hex[:24]}"
        parsed = parse_tool_arguments(call_id, call.name or "", call.args or {})
        if not part.thought_signature:
            return parsed
        self._signatures[call_id] = part.thought_signature
        while len(self._signatures) > _MAX_SIGNATURES:
            self._signatures.popitem(last=False)
        encoded = base64.b64encode(part.thought_signature).decode("ascii")
        return dataclasses.replace(parsed, provider_data={_SIGNATURE_KEY: encoded})

    def _api_error(self, error: Any) -> ProviderError:
        status = error.code if isinstance(error.code, int) else None
        detail = str(error.message or error.status or "")
        if status == 400 and "api key not valid" in detail.lower():
            status = 401  # Gemini's answer to a bad key
        response = getattr(error, "response", None)
        retry_after = retry_after_seconds(getattr(response, "headers", None))
        if retry_after is None:
            retry_after = _retry_delay(error.details)
        if status is None:
            return self.error_for(None, detail or str(error), unreadable=True)
        return self.error_for(status, detail, retry_after=retry_after)


def split_api_version(base_url: str | None) -> tuple[str | None, str | None]:
    """``https://host/v1beta`` -> (``https://host/``, ``v1beta``): the SDK adds the version
    itself, so a base URL that already ends with one is split."""
    if not base_url:
        return None, None
    match = _VERSION_SUFFIX.match(base_url)
    if match is None or "://" not in match["root"]:
        return base_url, None
    return match["root"] + "/", match["version"]


_SIGNATURE_KEY = "gemini_thought_signature"


def _stored_signature(part: ToolCallPart) -> bytes | None:
    """The thought signature kept with a stored call (base64 in ``provider_data``)."""
    encoded = (part.provider_data or {}).get(_SIGNATURE_KEY)
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded)
    except ValueError:
        return None


def _needs_signature(model: str) -> bool:
    match = _SIGNED_MODEL.search(model)
    return match is not None and int(match.group(1)) >= 3


def _image_part(part: ImagePart) -> Any:
    from google.genai import types

    url = part.url or ""
    if part.data is None and url.startswith("data:") and "," in url:
        head, _, data = url.partition(",")
        media_type = head[5:].split(";")[0] or part.media_type
        return types.Part(inline_data=types.Blob(mime_type=media_type,
                                                 data=base64.b64decode(data)))
    if part.data is not None:
        return types.Part(inline_data=types.Blob(mime_type=part.media_type,
                                                 data=base64.b64decode(part.data)))
    return types.Part(file_data=types.FileData(file_uri=url, mime_type=part.media_type))


def _document_part(part: DocumentPart) -> Any:
    """A PDF as inline data (Gemini reads PDFs natively); other documents as text."""
    from google.genai import types

    if part.data is not None and part.media_type == "application/pdf":
        return types.Part(inline_data=types.Blob(mime_type=part.media_type,
                                                 data=base64.b64decode(part.data)))
    return types.Part(text=part.as_text())


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value))


def _finish_reason(reason: str, calls: int) -> str:
    if reason == "STOP":
        return "tool_calls" if calls else "stop"
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return reason.lower()


def _retry_delay(details: Any) -> float | None:
    """``retryDelay`` (``"27s"``) of a ``google.rpc.RetryInfo`` in an error body."""
    error = details.get("error", details) if isinstance(details, dict) else None
    items = error.get("details") if isinstance(error, dict) else None
    for item in items if isinstance(items, list) else []:
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                return None
    return None
