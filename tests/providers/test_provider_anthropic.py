"""The Anthropic adapter against the real ``anthropic`` SDK and a scripted Messages server."""

from __future__ import annotations

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
from moco.providers.anthropic import AnthropicProvider
from moco.providers.base import (
    Finish,
    ModelRequest,
    ProviderEvent,
    RetryPolicy,
    StreamRestart,
    TextChunk,
    ToolCallReady,
    ToolSchema,
    UsageChunk,
)
from moco.testing import Reply, ToolCall
from moco.testing.anthropic_server import ScriptedAnthropicServer

FAST = RetryPolicy(max_retries=2, base_delay=0.0, max_delay=0.01)
READ_FILE = ToolSchema(
    "read_file", "Read a file.",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)


@pytest.fixture
async def provider(scripted_anthropic: ScriptedAnthropicServer) -> Any:
    llm = AnthropicProvider(api_key="test-key", base_url=scripted_anthropic.base_url,
                            timeout=5.0, retry=FAST)
    yield llm
    await llm.aclose()


def ask(text: str = "hello", **options: Any) -> ModelRequest:
    return ModelRequest(model="claude-test", messages=[Message.user(text)], **options)


async def events_of(provider: AnthropicProvider, request: ModelRequest) -> list[ProviderEvent]:
    return [event async for event in provider.stream(request)]


async def test_plain_text(provider: AnthropicProvider, scripted_anthropic: Any) -> None:
    scripted_anthropic.add(Reply.say("Hello there, how can I help you today?"))
    response = await provider.complete(ask())
    assert response.message.role == "assistant"
    assert response.message.text == "Hello there, how can I help you today?"
    assert response.finish_reason == "stop"
    request = scripted_anthropic.requests[0]
    assert request.path == "/v1/messages"
    assert request.body["stream"] is True
    assert request.headers["authorization"] == "Bearer test-key"
    assert "temperature" not in request.body


async def test_streaming_text_arrives_in_pieces(
    provider: AnthropicProvider, scripted_anthropic: Any
) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    scripted_anthropic.add(Reply.say(text))
    events = await events_of(provider, ask())
    chunks = [e.text for e in events if isinstance(e, TextChunk)]
    assert len(chunks) > 3
    assert "".join(chunks) == text
    assert events[-1] == Finish("stop")


async def test_single_tool_call(provider: AnthropicProvider, scripted_anthropic: Any) -> None:
    scripted_anthropic.add(Reply.call("read_file", {"path": "notes/a long file name.txt"}))
    response = await provider.complete(ask(tools=[READ_FILE]))
    [call] = response.message.tool_calls
    assert call.name == "read_file"
    assert call.arguments == {"path": "notes/a long file name.txt"}
    assert call.id.startswith("toolu_")
    assert call.invalid_arguments is None
    assert response.finish_reason == "tool_calls"


async def test_parallel_tool_calls(provider: AnthropicProvider, scripted_anthropic: Any) -> None:
    scripted_anthropic.add(Reply.calls(
        ToolCall("read_file", {"path": "a.txt"}, id="toolu_a"),
        ToolCall("read_file", {"path": "b.txt"}, id="toolu_b"),
        ToolCall("list_dir", {}, id="toolu_c"),
        text="Reading both.",
    ))
    events = await events_of(provider, ask(tools=[READ_FILE]))
    calls = [e.call for e in events if isinstance(e, ToolCallReady)]
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("toolu_a", "read_file", {"path": "a.txt"}),
        ("toolu_b", "read_file", {"path": "b.txt"}),
        ("toolu_c", "list_dir", {}),
    ]
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == "Reading both."
    assert events[-1] == Finish("tool_calls")


async def test_invalid_tool_json_is_kept(
    provider: AnthropicProvider, scripted_anthropic: Any
) -> None:
    scripted_anthropic.add(Reply.calls(ToolCall("read_file", raw_arguments='{"path": "a.t')))
    response = await provider.complete(ask())
    [call] = response.message.tool_calls
    assert call.arguments == {}
    assert call.invalid_arguments == '{"path": "a.t'


async def test_usage(provider: AnthropicProvider, scripted_anthropic: Any) -> None:
    scripted_anthropic.add(Reply.say("ok", input_tokens=123, output_tokens=45))
    events = await events_of(provider, ask())
    assert [e for e in events if isinstance(e, UsageChunk)] == [UsageChunk(123, 45)]
    scripted_anthropic.add(Reply.say("ok", input_tokens=7, output_tokens=3))
    response = await provider.complete(ask())
    assert (response.input_tokens, response.output_tokens) == (7, 3)


@pytest.mark.parametrize(("scripted", "expected"), [
    ("length", "length"), ("max_tokens", "length"), ("stop_sequence", "stop"),
    ("refusal", "content_filter"), ("content_filter", "content_filter"),
])
async def test_finish_reasons(
    provider: AnthropicProvider, scripted_anthropic: Any, scripted: str, expected: str
) -> None:
    scripted_anthropic.add(Reply.say("cut", finish_reason=scripted))
    assert (await provider.complete(ask())).finish_reason == expected


async def test_two_turn_request_body(provider: AnthropicProvider, scripted_anthropic: Any) -> None:
    scripted_anthropic.add(
        Reply.calls(ToolCall("read_file", {"path": "a.txt"}, id="toolu_1"),
                    ToolCall("read_file", {"path": "missing.txt"}, id="toolu_2")),
        Reply.say("a.txt says hi"),
    )
    history = [Message.user("What is in a.txt?")]
    first = await provider.complete(ModelRequest(
        model="claude-test", messages=history, system="You are terse.", tools=[READ_FILE]))
    history.append(first.message)
    history.append(Message("tool", [
        ToolResultPart("toolu_1", "read_file", "hi"),
        ToolResultPart("toolu_2", "read_file", "no such file", is_error=True),
    ]))
    history.append(Message.user("Answer briefly."))
    second = await provider.complete(ModelRequest(
        model="claude-test", messages=history, system="You are terse.", tools=[READ_FILE],
        max_tokens=300))
    assert second.message.text == "a.txt says hi"

    body = scripted_anthropic.requests[0].body
    assert body["max_tokens"] == 8192
    assert body["system"] == "You are terse."
    assert body["tools"] == [{"name": "read_file", "description": "Read a file.",
                              "input_schema": READ_FILE.parameters}]
    body = scripted_anthropic.requests[1].body
    assert body["model"] == "claude-test"
    assert body["max_tokens"] == 300
    assert body["system"] == "You are terse."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is in a.txt?"}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "read_file",
             "input": {"path": "a.txt"}},
            {"type": "tool_use", "id": "toolu_2", "name": "read_file",
             "input": {"path": "missing.txt"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "hi"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "no such file",
             "is_error": True},
            {"type": "text", "text": "Answer briefly."},
        ]},
    ]


async def test_a_pdf_is_a_document_block_and_other_documents_text(
    provider: AnthropicProvider, scripted_anthropic: Any
) -> None:
    scripted_anthropic.add(Reply.say("42 EUR"))
    pdf = DocumentPart(data="JVBERi0=", text="Invoice total 42 EUR", name="invoice.pdf")
    other = DocumentPart(media_type="application/x-other", text="plain words", name="a.x")
    message = Message("user", [TextPart("total?"), pdf, other])
    await provider.complete(ModelRequest(model="claude-test", messages=[message]))
    content = scripted_anthropic.requests[0].body["messages"][0]["content"]
    assert content == [
        {"type": "text", "text": "total?"},
        {"type": "document", "title": "invoice.pdf", "source": {
            "type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}},
        {"type": "text", "text": "[document a.x]\nplain words"},
    ]


async def test_images_and_merged_turns(
    provider: AnthropicProvider, scripted_anthropic: Any
) -> None:
    scripted_anthropic.add(Reply.say("Two cats."))
    messages = [
        Message("system", [TextPart("Describe images.")]),
        Message("user", [TextPart("Look:"), ImagePart("image/png", data="iVBORw0KGgo=")]),
        Message("user", [ImagePart(url="https://example.com/cat.jpg"), TextPart("")]),
        Message("assistant", [TextPart("Thinking"),
                              ToolCallPart("toolu_x", "zoom", invalid_arguments="{bad")]),
        Message("tool", [ToolResultPart("toolu_x", "zoom", "", is_error=True)]),
    ]
    await provider.complete(ModelRequest(model="claude-test", messages=messages, system="Be kind."))
    body = scripted_anthropic.requests[0].body
    assert body["system"] == "Be kind.\n\nDescribe images."
    assert body["messages"] == [
        {"role": "user", "content": [
            {"type": "text", "text": "Look:"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        ]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Thinking"},
            {"type": "tool_use", "id": "toolu_x", "name": "zoom", "input": {}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_x", "is_error": True},
        ]},
    ]


@pytest.mark.parametrize("status", [429, 529, 500])
async def test_transient_status_then_success(
    provider: AnthropicProvider, scripted_anthropic: Any, status: int
) -> None:
    scripted_anthropic.add(
        Reply.error(status, "slow down", headers={"retry-after": "0"}),
        Reply.say("finally"),
    )
    response = await provider.complete(ask())
    assert response.message.text == "finally"
    assert len(scripted_anthropic.requests) == 2


async def test_rate_limit_error_shape(scripted_anthropic: Any) -> None:
    llm = AnthropicProvider(api_key="k", base_url=scripted_anthropic.base_url,
                            retry=RetryPolicy(max_retries=0))
    scripted_anthropic.add(Reply.error(429, "Number of requests exceeded",
                                       headers={"retry-after": "7"}))
    with pytest.raises(ProviderError) as caught:
        await llm.complete(ask())
    await llm.aclose()
    error = caught.value
    assert (error.status, error.retryable, error.retry_after) == (429, True, 7.0)
    assert "Number of requests exceeded" in str(error)


async def test_unauthorized_is_not_retried(
    provider: AnthropicProvider, scripted_anthropic: Any
) -> None:
    scripted_anthropic.add(Reply.error(401, "invalid x-api-key"), Reply.say("never"))
    with pytest.raises(ProviderError) as caught:
        await provider.complete(ask())
    assert str(caught.value) == (
        "ANTHROPIC_API_KEY was rejected (401) — check the key or choose another provider with -P"
    )
    assert caught.value.retryable is False
    assert len(scripted_anthropic.requests) == 1


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_client_errors_are_not_retried(
    provider: AnthropicProvider, scripted_anthropic: Any, status: int
) -> None:
    scripted_anthropic.add(Reply.error(status, "model: unknown"), Reply.say("never"))
    with pytest.raises(ProviderError) as caught:
        await provider.complete(ask())
    assert caught.value.status == status
    assert not caught.value.retryable
    assert "model: unknown" in str(caught.value)
    assert len(scripted_anthropic.requests) == 1


async def test_malformed_chunk_is_retried(
    provider: AnthropicProvider, scripted_anthropic: Any
) -> None:
    scripted_anthropic.add(Reply.say("broken answer", malformed=True), Reply.say("good answer"))
    response = await provider.complete(ask())
    assert response.message.text == "good answer"
    assert len(scripted_anthropic.requests) == 2


async def test_dropped_connection_is_retried(
    provider: AnthropicProvider, scripted_anthropic: Any
) -> None:
    scripted_anthropic.add(Reply.say("this answer will be cut in the middle", drop=True),
                           Reply.say("second try"))
    events = await events_of(provider, ask())
    assert len(scripted_anthropic.requests) == 2
    assert collected(events) == "second try"
    assert events[-1] == Finish("stop")


async def test_stream_without_stop_is_a_retryable_connection_error(
    scripted_anthropic: Any,
) -> None:
    llm = AnthropicProvider(api_key="k", base_url=scripted_anthropic.base_url,
                            retry=RetryPolicy(max_retries=0))
    scripted_anthropic.add(Reply.say("cut short", drop=True))
    with pytest.raises(ProviderError) as caught:
        await llm.complete(ask())
    await llm.aclose()
    assert caught.value.retryable
    assert caught.value.status is None
    assert "could not reach anthropic" in str(caught.value)


async def test_error_event_mid_stream(provider: AnthropicProvider, scripted_anthropic: Any) -> None:
    scripted_anthropic.add(Reply.say("partial", finish_reason="overloaded_error",
                                     error_message="Overloaded"),
                           Reply.say("recovered"))
    events = await events_of(provider, ask())
    assert any(isinstance(e, StreamRestart) for e in events)
    assert collected(events) == "recovered"
    assert len(scripted_anthropic.requests) == 2


async def test_error_event_maps_to_status(scripted_anthropic: Any) -> None:
    llm = AnthropicProvider(api_key="k", base_url=scripted_anthropic.base_url,
                            retry=RetryPolicy(max_retries=0))
    scripted_anthropic.add(Reply.say("x", finish_reason="overloaded_error",
                                     error_message="Overloaded"))
    with pytest.raises(ProviderError) as caught:
        await llm.complete(ask())
    await llm.aclose()
    assert (caught.value.status, caught.value.retryable) == (529, True)
    assert "Overloaded" in str(caught.value)


async def test_unreachable_server_is_a_connection_error() -> None:
    with ScriptedAnthropicServer([]) as server:
        url = server.base_url
    llm = AnthropicProvider(api_key="k", base_url=url, retry=RetryPolicy(max_retries=0))
    with pytest.raises(ProviderError) as caught:
        await llm.complete(ask())
    await llm.aclose()
    assert caught.value.retryable
    assert "could not reach anthropic" in str(caught.value)


async def test_server_json_shape_with_the_sdk(scripted_anthropic: Any) -> None:
    import anthropic

    scripted_anthropic.add(
        Reply.calls(ToolCall("read_file", {"path": "a.txt"}), text="Let me look.",
                    input_tokens=11, output_tokens=22),
        Reply.error(529, "Overloaded"),
    )
    client = anthropic.AsyncAnthropic(api_key="k", base_url=scripted_anthropic.base_url,
                                      max_retries=0)
    message = await client.messages.create(
        model="claude-test", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"path": "a.txt"}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 22)
    with pytest.raises(anthropic.OverloadedError) as caught:
        await client.messages.create(
            model="claude-test", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.type == "overloaded_error"
    await client.close()


def collected(events: list[ProviderEvent]) -> str:
    """The text of the last attempt of a stream."""
    texts: list[str] = []
    for event in events:
        if isinstance(event, StreamRestart):
            texts.clear()
        elif isinstance(event, TextChunk):
            texts.append(event.text)
    return "".join(texts)
