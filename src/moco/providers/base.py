"""The provider interface: stream a request, get provider-neutral events.

An adapter implements :meth:`Provider._stream_once` for one SDK. Callers use
:meth:`Provider.stream`, which adds bounded retries with exponential backoff and jitter
(honouring ``Retry-After``) for failures that happen before the first event, and
:meth:`Provider.complete`, which is the same stream collected.
"""

from __future__ import annotations

import asyncio
import json
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from moco.errors import ProviderError
from moco.messages import Message, ToolCallPart


@dataclass(frozen=True, slots=True)
class ToolSchema:
    """A tool as the model sees it: name, description and a JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(slots=True)
class ModelRequest:
    model: str
    messages: list[Message]
    system: str = ""
    tools: list[ToolSchema] = field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class TextChunk:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallReady:
    """A complete tool call, assembled from the provider's deltas."""

    call: ToolCallPart


@dataclass(frozen=True, slots=True)
class UsageChunk:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class Finish:
    """The model stopped. ``reason`` is normalised: stop, tool_calls, length, content_filter."""

    reason: str


@dataclass(frozen=True, slots=True)
class StreamRestart:
    """The stream failed after some output and is being tried again from the start:
    consumers must discard what this attempt produced so far."""

    reason: str


ProviderEvent = TextChunk | ToolCallReady | UsageChunk | Finish | StreamRestart


@dataclass(slots=True)
class ModelResponse:
    """A collected stream."""

    message: Message
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str = "stop"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        exponential = self.base_delay * (2 ** (attempt - 1))
        return float(min(exponential * (0.5 + random.random()), self.max_delay))


class Provider(ABC):
    """One configured model endpoint (a provider name, a key, an optional base URL)."""

    #: the provider's name as users write it (``openai``, ``zai``, ``gemini`` ...)
    name: str = ""
    #: the environment variable the key came from, for error messages
    key_var: str = ""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        key_var: str = "",
        name: str = "",
        timeout: float = 600.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.key_var = key_var or self.key_var
        self.name = name or self.name
        self.timeout = timeout
        self.retry = retry or RetryPolicy()

    @abstractmethod
    def _stream_once(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        """Stream one attempt. Raise :class:`ProviderError` (via :meth:`error_for`) on failure."""

    async def stream(self, request: ModelRequest, *,
                     max_retries: int | None = None) -> AsyncIterator[ProviderEvent]:
        """Stream the response, retrying transient failures that happen before any output
        (``max_retries`` times, default the provider's policy: an optional call such as
        learning retries less than a turn the user waits for)."""
        limit = self.retry.max_retries if max_retries is None else max_retries
        attempt = 0
        while True:
            produced = False
            try:
                async for event in self._stream_once(request):
                    produced = True
                    yield event
                return
            except ProviderError as error:
                attempt += 1
                if not error.retryable or attempt > limit:
                    raise
                await asyncio.sleep(self.retry.delay(attempt, error.retry_after))
                if produced:
                    yield StreamRestart(str(error))

    async def complete(self, request: ModelRequest, *,
                       max_retries: int | None = None) -> ModelResponse:
        """The stream collected into one assistant message."""
        texts: list[str] = []
        calls: list[ToolCallPart] = []
        response = ModelResponse(message=Message("assistant"))
        async for event in self.stream(request, max_retries=max_retries):
            if isinstance(event, StreamRestart):
                texts.clear()
                calls.clear()
            elif isinstance(event, TextChunk):
                texts.append(event.text)
            elif isinstance(event, ToolCallReady):
                calls.append(event.call)
            elif isinstance(event, UsageChunk):
                response.input_tokens += event.input_tokens
                response.output_tokens += event.output_tokens
            else:
                response.finish_reason = event.reason
        response.message = assistant_message("".join(texts), calls)
        return response

    _client: Any = None

    def client(self) -> Any:
        """The SDK client, built on first use (the SDK is imported only then)."""
        if self._client is None:
            self._client = self._make_client()
        return self._client

    @abstractmethod
    def _make_client(self) -> Any:
        """Build the SDK client (import the SDK here, not at module level)."""

    async def _close_client(self, client: Any) -> None:
        await client.close()

    async def aclose(self) -> None:
        """Release the SDK client's connections; the provider can be used again after."""
        client, self._client = self._client, None
        if client is not None:
            await self._close_client(client)

    def failure(self, error: Exception) -> Exception:
        """The error to raise for a failure the adapter's own SDK handling did not recognise:
        transport problems become retryable connection errors, unreadable data becomes an
        "unreadable response" error, anything else (a bug) passes unchanged."""
        if isinstance(error, ProviderError):
            return error
        transport = type(error).__module__.startswith(("httpx", "httpcore", "aiohttp"))
        if transport or isinstance(error, OSError | TimeoutError):
            return self.error_for(None, str(error) or type(error).__name__, connection=True)
        if isinstance(error, ValueError):  # JSON and pydantic errors are ValueErrors
            return self.error_for(None, str(error), unreadable=True)
        return error

    def error_for(
        self,
        status: int | None,
        detail: str = "",
        *,
        retry_after: float | None = None,
        connection: bool = False,
        unreadable: bool = False,
    ) -> ProviderError:
        """Build the one-line error a user sees for a failed request."""
        return provider_error(
            self.name, self.key_var, status, detail, retry_after=retry_after,
            connection=connection, unreadable=unreadable, base_url=self.base_url,
        )


def assistant_message(text: str, calls: list[ToolCallPart]) -> Message:
    from moco.messages import TextPart

    parts: list[Any] = [TextPart(text)] if text else []
    parts.extend(calls)
    return Message("assistant", parts)


def parse_tool_arguments(call_id: str, name: str, raw: str | dict[str, Any] | None) -> ToolCallPart:
    """Decode a tool call's arguments; keep the raw text when it is not a JSON object."""
    if isinstance(raw, dict):
        return ToolCallPart(id=call_id, name=name, arguments=raw)
    text = (raw or "").strip()
    if not text:
        return ToolCallPart(id=call_id, name=name, arguments={})
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError:
        return ToolCallPart(id=call_id, name=name, invalid_arguments=text)
    if not isinstance(decoded, dict):
        return ToolCallPart(id=call_id, name=name, invalid_arguments=text)
    return ToolCallPart(id=call_id, name=name, arguments=decoded)


RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


def provider_error(
    provider: str,
    key_var: str,
    status: int | None,
    detail: str = "",
    *,
    retry_after: float | None = None,
    connection: bool = False,
    unreadable: bool = False,
    base_url: str | None = None,
) -> ProviderError:
    """Map a failure to one line of advice, marked retryable when trying again may help."""
    short = _shorten(detail)
    suffix = f": {short}" if short else ""
    where = f" at {base_url}" if base_url else ""
    if unreadable:
        message = (
            f"{provider}{where} sent a response moco could not read{suffix} — try again, "
            "or check that --base-url points at a compatible API"
        )
        return ProviderError(message, status=status, retryable=True, provider=provider)
    if connection or status is None:
        message = (
            f"could not reach {provider}{where}{suffix} — check the network or --base-url"
        )
        return ProviderError(message, status=None, retryable=True, provider=provider)
    if status == 401:
        key = key_var or "the API key"
        message = f"{key} was rejected (401) — check the key or choose another provider with -P"
    elif status == 403:
        message = f"{provider} refused the request (403){suffix} — check the key's permissions"
    elif status == 404:
        message = f"{provider} answered 404{suffix} — check the model name (-m) or --base-url"
    elif status == 400 or status == 422:
        message = f"{provider} rejected the request ({status}){suffix}"
    elif status == 429:
        message = f"{provider} is rate limiting (429){suffix} — wait a moment and try again"
    elif status >= 500:
        message = f"{provider} had a server error ({status}){suffix} — try again later"
    else:
        message = f"{provider} returned HTTP {status}{suffix}"
    return ProviderError(
        message,
        status=status,
        retryable=status in RETRYABLE_STATUS,
        retry_after=retry_after,
        provider=provider,
    )


def retry_after_seconds(headers: Any) -> float | None:
    """Read ``Retry-After`` (seconds or HTTP date) or ``retry-after-ms`` from response headers."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return float(ms) / 1000.0
        value = headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _shorten(detail: str, limit: int = 160) -> str:
    line = " ".join(detail.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
