"""The OpenAI adapter through the real ``openai`` SDK against the scripted server."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from moco.core.messages import (
    DocumentPart,
    ImagePart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from moco.errors import ProviderError
from moco.providers import base
from moco.providers.base import (
    ModelRequest,
    RetryPolicy,
    StreamRestart,
    TextChunk,
    ToolSchema,
)
from moco.providers.openai_compat import OpenAICompatProvider
from moco.testing import Reply, ScriptedOpenAIServer, ToolCall

FAST = RetryPolicy(max_retries=3, base_delay=0.001, max_delay=0.01)


def provider_for(server: ScriptedOpenAIServer, **options: object) -> OpenAICompatProvider:
    return OpenAICompatProvider(api_key="sk-test", base_url=server.base_url, retry=FAST,
                                **options)  # type: ignore[arg-type]


def request(*messages: Message, **options: object) -> ModelRequest:
    return ModelRequest(model="gpt-4o", messages=list(messages) or [Message.user("hi")],
                        **options)  # type: ignore[arg-type]


async def test_text_streams_in_chunks_and_reports_usage(scripted_openai: ScriptedOpenAIServer):
    scripted_openai.add(Reply.say("Hello from the scripted model", input_tokens=12,
                                  output_tokens=7))
    chunks = [e async for e in provider_for(scripted_openai).stream(request())]
    texts = [c.text for c in chunks if isinstance(c, TextChunk)]
    assert len(texts) > 1
    assert "".join(texts) == "Hello from the scripted model"
    response = None
    scripted_openai.add(Reply.say("again", input_tokens=12, output_tokens=7))
    response = await provider_for(scripted_openai).complete(request())
    assert (response.input_tokens, response.output_tokens) == (12, 7)
    assert response.finish_reason == "stop"
    body = scripted_openai.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_parallel_tool_calls_are_assembled(scripted_openai: ScriptedOpenAIServer):
    scripted_openai.add(Reply.calls(ToolCall("read_file", {"path": "a.txt"}),
                                    ToolCall("list_dir", {"path": "src", "deep": [1, 2]})))
    response = await provider_for(scripted_openai).complete(request())
    calls = response.message.tool_calls
    assert [c.name for c in calls] == ["read_file", "list_dir"]
    assert calls[1].arguments == {"path": "src", "deep": [1, 2]}
    assert calls[0].id != calls[1].id
    assert response.finish_reason == "tool_calls"


async def test_invalid_tool_arguments_are_kept_raw(scripted_openai: ScriptedOpenAIServer):
    scripted_openai.add(Reply.calls(ToolCall("write_file", raw_arguments='{"path": "x"')))
    response = await provider_for(scripted_openai).complete(request())
    call = response.message.tool_calls[0]
    assert call.arguments == {} and call.invalid_arguments == '{"path": "x"'


async def test_a_pdf_is_a_file_part_for_openai_and_text_for_other_servers(
    scripted_openai: ScriptedOpenAIServer,
):
    scripted_openai.add(Reply.say("42"), Reply.say("42"))
    part = DocumentPart(data="JVBERi0=", text="Invoice total 42 EUR", name="invoice.pdf")
    message = Message("user", [TextPart("total?"), part])
    await provider_for(scripted_openai).complete(request(message))
    await provider_for(scripted_openai, name="ollama").complete(request(message))
    native, extracted = (r.body["messages"][0]["content"][1] for r in scripted_openai.requests)
    assert native == {"type": "file", "file": {
        "filename": "invoice.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}
    assert extracted == {"type": "text", "text": "[document invoice.pdf]\nInvoice total 42 EUR"}


async def test_request_carries_system_tools_history_and_images(
    scripted_openai: ScriptedOpenAIServer,
):
    scripted_openai.add(Reply.say("ok"))
    image = base64.b64encode(b"\x89PNG fake").decode()
    history = [
        Message("user", [TextPart("look"), ImagePart(media_type="image/png", data=image)]),
        Message("assistant", [TextPart("reading"), ToolCallPart("c1", "read_file", {"path": "a"})]),
        Message("tool", [ToolResultPart("c1", "read_file", "contents", False)]),
    ]
    schema = ToolSchema("read_file", "Read a file.", {"type": "object", "properties": {}})
    await provider_for(scripted_openai).complete(
        request(*history, system="You are terse.", tools=[schema], temperature=0.2,
                max_tokens=100))
    body = scripted_openai.requests[0].body
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    user = body["messages"][1]["content"]
    assert user[1]["image_url"]["url"] == f"data:image/png;base64,{image}"
    assert body["messages"][2]["tool_calls"][0]["function"] == {
        "name": "read_file", "arguments": '{"path": "a"}'}
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "c1", "content": "contents"}
    assert body["tools"][0]["function"]["name"] == "read_file"
    assert body["temperature"] == 0.2 and body["max_tokens"] == 100


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_transient_errors_are_retried(scripted_openai: ScriptedOpenAIServer, status: int):
    scripted_openai.add(Reply.error(status, headers={"retry-after": "0"}), Reply.say("recovered"))
    response = await provider_for(scripted_openai).complete(request())
    assert response.message.text == "recovered"
    assert len(scripted_openai.requests) == 2


async def test_retries_are_bounded(scripted_openai: ScriptedOpenAIServer):
    scripted_openai.add(*[Reply.error(500)] * 10)
    with pytest.raises(ProviderError) as caught:
        await provider_for(scripted_openai).complete(request())
    assert caught.value.status == 500
    assert len(scripted_openai.requests) == FAST.max_retries + 1


async def test_a_call_can_ask_for_fewer_retries(scripted_openai: ScriptedOpenAIServer):
    scripted_openai.add(Reply.error(500), Reply.error(500), Reply.say("late"))
    with pytest.raises(ProviderError):
        await provider_for(scripted_openai).complete(request(), max_retries=1)
    assert len(scripted_openai.requests) == 2  # the policy alone would have tried 4 times


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_client_errors_are_not_retried(scripted_openai: ScriptedOpenAIServer, status: int):
    scripted_openai.add(Reply.error(status, "nope"), Reply.say("never"))
    with pytest.raises(ProviderError) as caught:
        await provider_for(scripted_openai).complete(request())
    assert len(scripted_openai.requests) == 1
    assert caught.value.status == status and not caught.value.retryable
    assert "\n" not in str(caught.value)


async def test_401_says_which_key_and_what_to_do(scripted_openai: ScriptedOpenAIServer):
    scripted_openai.add(Reply.error(401, "Incorrect API key provided"))
    with pytest.raises(ProviderError) as caught:
        await provider_for(scripted_openai).complete(request())
    assert str(caught.value) == (
        "OPENAI_API_KEY was rejected (401) — check the key or choose another provider with -P")


class _RecordedWaits:
    """Stands in for the ``asyncio`` module of :mod:`moco.providers.base`: records each retry
    wait instead of sleeping it; everything else is the real asyncio."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float) -> None:
        self.waits.append(delay)
        await asyncio.sleep(0)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorder = _RecordedWaits()
    monkeypatch.setattr(base, "asyncio", recorder)
    return recorder.waits


@pytest.mark.parametrize(("headers", "low", "high"), [
    ({"Retry-After": "3"}, 3.0, 3.0),
    ({"Retry-After": "0.25"}, 0.25, 0.25),
    ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5, 1.5),  # the finer one wins
    ({"Retry-After": "600"}, 20.0, 20.0),  # capped at the policy's max_delay
])
async def test_retry_after_header_sets_the_wait(
    scripted_openai: ScriptedOpenAIServer, waits: list[float], headers: dict[str, str],
    low: float, high: float,
):
    """The server answers 429 with a Retry-After header; the retry waits what it says (the
    policy's own backoff would be about 10 s), then succeeds."""
    scripted_openai.add(Reply.error(429, "slow down", headers=headers), Reply.say("recovered"))
    policy = RetryPolicy(max_retries=2, base_delay=10.0, max_delay=20.0)
    provider = OpenAICompatProvider(api_key="k", base_url=scripted_openai.base_url, retry=policy)
    response = await provider.complete(request())
    assert response.message.text == "recovered"
    assert len(scripted_openai.requests) == 2
    [wait] = waits
    assert low <= wait <= high


async def test_retry_after_as_an_http_date(
    scripted_openai: ScriptedOpenAIServer, waits: list[float]
):
    """``Retry-After: <HTTP date>`` means "wait until then" (the date has whole seconds)."""
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    scripted_openai.add(Reply.error(503, headers={"Retry-After": when}), Reply.say("ok"))
    policy = RetryPolicy(max_retries=1, base_delay=0.001, max_delay=300.0)
    provider = OpenAICompatProvider(api_key="k", base_url=scripted_openai.base_url, retry=policy)
    assert (await provider.complete(request())).message.text == "ok"
    [wait] = waits
    assert 50.0 <= wait <= 60.0


async def test_without_retry_after_the_policy_backs_off(
    scripted_openai: ScriptedOpenAIServer, waits: list[float]
):
    scripted_openai.add(Reply.error(503), Reply.error(503), Reply.say("recovered"))
    policy = RetryPolicy(max_retries=2, base_delay=4.0, max_delay=100.0)
    provider = OpenAICompatProvider(api_key="k", base_url=scripted_openai.base_url, retry=policy)
    assert (await provider.complete(request())).message.text == "recovered"
    first, second = waits
    assert 2.0 <= first <= 6.0 and 4.0 <= second <= 12.0  # base * 2**(n-1), jitter 0.5-1.5


async def test_malformed_chunk_and_dropped_stream_restart(scripted_openai: ScriptedOpenAIServer):
    scripted_openai.add(Reply.say("first try text", malformed=True),
                        Reply.say("cut short here please", drop=True),
                        Reply.say("clean answer"))
    events = [e async for e in provider_for(scripted_openai).stream(request())]
    restarts = [e for e in events if isinstance(e, StreamRestart)]
    assert len(restarts) == 2
    after_last_restart = events[events.index(restarts[-1]) + 1:]
    assert "".join(e.text for e in after_last_restart if isinstance(e, TextChunk)) == "clean answer"
    scripted_openai.assert_complete()


async def test_unreachable_server_is_a_connection_error():
    provider = OpenAICompatProvider(api_key="k", base_url="http://127.0.0.1:9/v1",
                                    retry=RetryPolicy(max_retries=1, base_delay=0.001))
    with pytest.raises(ProviderError) as caught:
        await provider.complete(request())
    assert "could not reach openai at http://127.0.0.1:9/v1" in str(caught.value)
    assert caught.value.retryable
