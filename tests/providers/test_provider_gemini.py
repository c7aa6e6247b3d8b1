"""GeminiProvider against the real google-genai SDK talking to the scripted Gemini server."""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator, Iterator
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
from moco.providers.gemini import GeminiProvider, _retry_delay, split_api_version
from moco.testing.gemini_server import ScriptedGeminiServer
from moco.testing.script import Reply, ToolCall

FAST = RetryPolicy(max_retries=3, base_delay=0.001, max_delay=0.01)
READ_FILE = ToolSchema(
    name="read_file",
    description="Read a file.",
    parameters={"type": "object", "properties": {"path": {"type": "string"}},
                "required": ["path"]},
)


@pytest.fixture
async def provider(scripted_gemini: ScriptedGeminiServer) -> AsyncIterator[GeminiProvider]:
    gemini = GeminiProvider(api_key="test-key", base_url=scripted_gemini.base_url, retry=FAST,
                            timeout=10)
    yield gemini
    await gemini.aclose()


def ask(text: str = "hello", model: str = "gemini-test", **options: Any) -> ModelRequest:
    return ModelRequest(model=model, messages=[Message.user(text)], **options)


async def collect(gemini: GeminiProvider, request: ModelRequest) -> list[ProviderEvent]:
    return [event async for event in gemini.stream(request)]


# -- answers ----------------------------------------------------------------------------------
async def test_plain_text(provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer) -> None:
    scripted_gemini.add(Reply.say("Hi there"))
    response = await provider.complete(ask())
    assert response.message.role == "assistant"
    assert response.message.text == "Hi there"
    assert response.finish_reason == "stop"
    (request,) = scripted_gemini.requests
    assert request.path == "/v1/models/gemini-test:streamGenerateContent?alt=sse"
    assert ScriptedGeminiServer.model_name(request) == "gemini-test"
    assert ScriptedGeminiServer.api_version(request) == "v1"
    assert request.headers["x-goog-api-key"] == "test-key"
    assert request.body["contents"] == [{"role": "user", "parts": [{"text": "hello"}]}]


async def test_streaming_text_arrives_in_chunks(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer
) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    scripted_gemini.add(Reply.say(text))
    events = await collect(provider, ask())
    chunks = [e.text for e in events if isinstance(e, TextChunk)]
    assert len(chunks) > 3
    assert "".join(chunks) == text
    assert events[-1] == Finish("stop")


async def test_single_tool_call_gets_an_id(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer
) -> None:
    scripted_gemini.add(Reply.call("read_file", {"path": "a.txt"}))
    events = await collect(provider, ask(tools=[READ_FILE]))
    (ready,) = [e for e in events if isinstance(e, ToolCallReady)]
    assert ready.call.name == "read_file"
    assert ready.call.arguments == {"path": "a.txt"}
    assert ready.call.id.startswith("call_")
    assert events[-1] == Finish("tool_calls")


async def test_parallel_tool_calls_keep_gemini_ids(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer
) -> None:
    scripted_gemini.add(Reply.calls(
        ToolCall("read_file", {"path": "a.txt"}, id="g-1"),
        ToolCall("read_file", {"path": "b.txt"}, id="g-2"),
        ToolCall("read_file", {"path": "c.txt"}),
        text="Reading three files.",
    ))
    response = await provider.complete(ask(tools=[READ_FILE]))
    calls = response.message.tool_calls
    assert [c.arguments["path"] for c in calls] == ["a.txt", "b.txt", "c.txt"]
    assert [c.id for c in calls[:2]] == ["g-1", "g-2"]
    assert len({c.id for c in calls}) == 3
    assert response.message.text == "Reading three files."
    assert response.finish_reason == "tool_calls"


async def test_usage_is_reported(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer
) -> None:
    scripted_gemini.add(Reply.say("counted", input_tokens=123, output_tokens=45))
    events = await collect(provider, ask())
    assert [e for e in events if isinstance(e, UsageChunk)] == [UsageChunk(123, 45)]
    response_usage = await _complete_usage(provider, scripted_gemini)
    assert response_usage == (7, 3)


async def _complete_usage(
    gemini: GeminiProvider, server: ScriptedGeminiServer
) -> tuple[int, int]:
    server.add(Reply.say("again", input_tokens=7, output_tokens=3))
    response = await gemini.complete(ask())
    return response.input_tokens, response.output_tokens


@pytest.mark.parametrize(("scripted", "normalised"), [
    ("length", "length"), ("content_filter", "content_filter"), ("RECITATION", "content_filter"),
])
async def test_finish_reasons_are_normalised(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer, scripted: str,
    normalised: str,
) -> None:
    scripted_gemini.add(Reply.say("cut", finish_reason=scripted))
    response = await provider.complete(ask())
    assert response.finish_reason == normalised


# -- requests ---------------------------------------------------------------------------------
async def test_two_turn_conversation_is_translated(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer
) -> None:
    scripted_gemini.add(
        Reply.calls(ToolCall("read_file", {"path": "a.txt"}),
                    ToolCall("read_file", {"path": "missing.txt"})),
        Reply.say("a.txt says hi"),
    )
    history = [Message.user("what is in a.txt?")]
    first = await provider.complete(ModelRequest(
        model="gemini-test", messages=history, system="Be brief.", tools=[READ_FILE],
        temperature=0.2, max_tokens=256,
    ))
    ok, missing = first.message.tool_calls
    history += [first.message, Message("tool", [
        ToolResultPart(ok.id, "read_file", "hi"),
        ToolResultPart(missing.id, "read_file", "no such file", is_error=True),
    ])]
    second = await provider.complete(ModelRequest(
        model="gemini-test", messages=history, system="Be brief.", tools=[READ_FILE],
    ))
    assert second.message.text == "a.txt says hi"

    body = scripted_gemini.requests[1].body
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    (declaration,) = body["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "read_file"
    assert declaration["description"] == "Read a file."
    schema = declaration.get("parametersJsonSchema", declaration.get("parameters_json_schema"))
    assert schema == READ_FILE.parameters
    user, model, results = body["contents"]
    assert user == {"role": "user", "parts": [{"text": "what is in a.txt?"}]}
    assert model["role"] == "model"
    assert [p["functionCall"] for p in model["parts"]] == [
        {"id": ok.id, "name": "read_file", "args": {"path": "a.txt"}},
        {"id": missing.id, "name": "read_file", "args": {"path": "missing.txt"}},
    ]
    assert results["role"] == "user"
    assert [p["functionResponse"] for p in results["parts"]] == [
        {"id": ok.id, "name": "read_file", "response": {"result": "hi"}},
        {"id": missing.id, "name": "read_file", "response": {"error": "no such file"}},
    ]
    config = scripted_gemini.requests[0].body["generationConfig"]
    assert config == {"temperature": 0.2, "maxOutputTokens": 256}


async def test_images_are_sent_inline(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer
) -> None:
    png = b"\x89PNG\r\n\x1a\n-not-really-an-image"
    data = base64.b64encode(png).decode()
    scripted_gemini.add(Reply.say("a picture"))
    message = Message("user", [TextPart("what is this?"), ImagePart("image/png", data=data),
                               ImagePart(url=f"data:image/jpeg;base64,{data}")])
    await provider.complete(ModelRequest(model="gemini-test", messages=[message]))
    parts = scripted_gemini.requests[0].body["contents"][0]["parts"]
    assert parts[0] == {"text": "what is this?"}
    for part, media_type in zip(parts[1:], ("image/png", "image/jpeg"), strict=True):
        inline = part["inlineData"]
        assert inline.get("mimeType", inline.get("mime_type")) == media_type
        assert base64.urlsafe_b64decode(inline["data"]) == png


async def test_a_pdf_is_sent_as_inline_data(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer
) -> None:
    pdf = b"%PDF-1.4 not really"
    scripted_gemini.add(Reply.say("42 EUR"))
    part = DocumentPart(data=base64.b64encode(pdf).decode(), text="total 42", name="a.pdf")
    message = Message("user", [TextPart("total?"), part])
    await provider.complete(ModelRequest(model="gemini-test", messages=[message]))
    parts = scripted_gemini.requests[0].body["contents"][0]["parts"]
    inline = parts[1]["inlineData"]
    assert inline.get("mimeType", inline.get("mime_type")) == "application/pdf"
    assert base64.urlsafe_b64decode(inline["data"]) == pdf


class SigningGeminiServer(ScriptedGeminiServer):
    """Signs the first function call of each reply, as Gemini 3 does."""

    def _call_parts(self, reply: Reply) -> list[dict[str, Any]]:
        parts = super()._call_parts(reply)
        if parts:
            parts[0]["thoughtSignature"] = base64.b64encode(b"sig-1").decode()
        return parts


@pytest.fixture
def signing_server() -> Iterator[SigningGeminiServer]:
    server = SigningGeminiServer([])
    server.start()
    yield server
    server.stop()


async def test_thought_signatures_are_sent_back(signing_server: SigningGeminiServer) -> None:
    gemini = GeminiProvider(api_key="k", base_url=signing_server.base_url, retry=FAST)
    signing_server.add(Reply.calls(ToolCall("read_file", {"path": "a"}),
                                   ToolCall("read_file", {"path": "b"})), Reply.say("done"))
    try:
        first = await gemini.complete(ask(model="gemini-3-pro", tools=[READ_FILE]))
        a, b = first.message.tool_calls
        foreign = ToolCallPart("from-another-provider", "read_file", {"path": "c"})
        history = [
            Message.user("old question"), Message("assistant", [foreign]),
            Message("tool", [ToolResultPart(foreign.id, "read_file", "c")]),
            Message.user("read a and b"), first.message,
            Message("tool", [ToolResultPart(a.id, "read_file", "A"),
                             ToolResultPart(b.id, "read_file", "B")]),
        ]
        await gemini.complete(ModelRequest(model="gemini-3-pro", messages=history))
    finally:
        await gemini.aclose()
    contents = signing_server.requests[1].body["contents"]
    signatures = [p.get("thoughtSignature") for p in contents[1]["parts"]]
    assert signatures == ["skip_thought_signature_validator"]
    assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user"]
    signatures = [p.get("thoughtSignature") for p in contents[3]["parts"]]
    assert [base64.urlsafe_b64decode(s) if s else None for s in signatures] == [b"sig-1", None]


async def test_signatures_survive_a_stored_transcript(
    signing_server: SigningGeminiServer,
) -> None:
    signing_server.add(Reply.call("read_file", {"path": "a"}), Reply.say("done"))
    first_process = GeminiProvider(api_key="k", base_url=signing_server.base_url, retry=FAST)
    try:
        first = await first_process.complete(ask(model="gemini-3-pro", tools=[READ_FILE]))
    finally:
        await first_process.aclose()
    stored = [Message.from_dict(m.to_dict()) for m in (Message.user("read a"), first.message,
              Message("tool", [ToolResultPart(first.message.tool_calls[0].id, "read_file", "A")]))]
    resumed = GeminiProvider(api_key="k", base_url=signing_server.base_url, retry=FAST)
    try:
        await resumed.complete(ModelRequest(model="gemini-3-pro", messages=stored))
    finally:
        await resumed.aclose()
    part = signing_server.requests[1].body["contents"][1]["parts"][0]
    assert base64.urlsafe_b64decode(part["thoughtSignature"]) == b"sig-1"


async def test_older_models_get_no_placeholder_signature(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer
) -> None:
    scripted_gemini.add(Reply.say("ok"))
    call = ToolCallPart("c1", "read_file", {"path": "a"})
    history = [Message.user("q"), Message("assistant", [call]),
               Message("tool", [ToolResultPart("c1", "read_file", "A")])]
    await provider.complete(ModelRequest(model="gemini-2.5-flash", messages=history))
    part = scripted_gemini.requests[0].body["contents"][1]["parts"][0]
    assert "thoughtSignature" not in part


def test_base_url_with_a_version_is_split() -> None:
    assert split_api_version("https://proxy.example/gemini/v1beta") == (
        "https://proxy.example/gemini/", "v1beta")
    assert split_api_version("http://127.0.0.1:8080/") == ("http://127.0.0.1:8080/", None)
    assert split_api_version(None) == (None, None)


# -- failures ---------------------------------------------------------------------------------
async def test_rate_limit_then_success(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer
) -> None:
    scripted_gemini.add(
        Reply.error(429, "Resource has been exhausted", headers={"retry-after": "0"}),
        Reply.say("finally"),
    )
    response = await provider.complete(ask())
    assert response.message.text == "finally"
    assert len(scripted_gemini.requests) == 2


async def test_server_error_then_success(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer
) -> None:
    scripted_gemini.add(Reply.error(500, "Internal error encountered."), Reply.say("recovered"))
    response = await provider.complete(ask())
    assert response.message.text == "recovered"
    assert len(scripted_gemini.requests) == 2


@pytest.mark.parametrize("reply", [
    Reply.error(400, "API key not valid. Please pass a valid API key."),
    Reply.error(401, "Request had invalid authentication credentials."),
])
async def test_bad_key_is_one_line_and_not_retried(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer, reply: Reply
) -> None:
    scripted_gemini.add(reply)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(ask())
    message = str(caught.value)
    assert message.startswith("GEMINI_API_KEY was rejected (401)")
    assert "\n" not in message
    assert "test-key" not in message
    assert not caught.value.retryable
    assert len(scripted_gemini.requests) == 1


async def test_unknown_model_is_not_retried(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer
) -> None:
    scripted_gemini.add(Reply.error(404, "models/nope is not found for API version v1"))
    with pytest.raises(ProviderError, match=r"404.*check the model name") as caught:
        await provider.complete(ask(model="nope"))
    assert caught.value.status == 404
    assert len(scripted_gemini.requests) == 1


async def test_retries_give_up(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer
) -> None:
    scripted_gemini.add(*[Reply.error(503, "The model is overloaded.")] * 4)
    with pytest.raises(ProviderError, match=r"server error \(503\)") as caught:
        await provider.complete(ask())
    assert caught.value.retryable
    assert len(scripted_gemini.requests) == 4


async def test_malformed_chunk_is_retried(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer
) -> None:
    scripted_gemini.add(Reply.say("this answer will break half way", malformed=True),
                        Reply.say("clean answer"))
    events = await collect(provider, ask())
    assert any(isinstance(e, StreamRestart) for e in events)
    response = _after_restart(events)
    assert response == "clean answer"
    assert len(scripted_gemini.requests) == 2


async def test_dropped_connection_is_retried(
    provider: GeminiProvider, scripted_gemini: ScriptedGeminiServer
) -> None:
    scripted_gemini.add(Reply.say("this answer is cut off in the middle", drop=True),
                        Reply.call("read_file", {"path": "a"}, drop=True),
                        Reply.say("whole answer", latency=0.01))
    response = await provider.complete(ask())
    assert response.message.text == "whole answer"
    assert response.message.tool_calls == []
    assert len(scripted_gemini.requests) == 3


async def test_unreachable_server_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gemini = GeminiProvider(api_key="k", base_url=f"http://127.0.0.1:{port}/",
                            retry=RetryPolicy(max_retries=0))
    try:
        with pytest.raises(ProviderError, match="could not reach gemini") as caught:
            await gemini.complete(ask())
    finally:
        await gemini.aclose()
    assert caught.value.retryable


def test_retry_delay_is_read_from_retry_info() -> None:
    body = {"error": {"code": 429, "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"},
    ]}}
    assert _retry_delay(body) == 27.0
    assert _retry_delay({"error": {"code": 429}}) is None


# -- the scripted server on its own --------------------------------------------------------
async def test_server_answers_plain_json_and_google_errors() -> None:
    from google import genai
    from google.genai import errors, types

    server = ScriptedGeminiServer([Reply.calls(ToolCall("f", {"x": 1}), text="hi"),
                                   Reply.error(429, "slow down")])
    server.start()
    client = genai.Client(api_key="k", http_options=types.HttpOptions(
        base_url=server.base_url, retry_options=types.HttpRetryOptions(attempts=1)))
    try:
        response = await client.aio.models.generate_content(model="gemini-x", contents="q")
        with pytest.raises(errors.ClientError) as caught:
            await client.aio.models.generate_content(model="gemini-x", contents="q")
    finally:
        await client.aio.aclose()
        server.stop()
    assert response.text == "hi"
    assert response.function_calls is not None
    assert response.function_calls[0].args == {"x": 1}
    assert response.usage_metadata is not None
    assert response.usage_metadata.prompt_token_count == 10
    assert caught.value.code == 429
    assert caught.value.status == "RESOURCE_EXHAUSTED"
    assert caught.value.message == "slow down"
    assert server.requests[0].path == "/v1/models/gemini-x:generateContent"


def _after_restart(events: list[ProviderEvent]) -> str:
    last = max(i for i, e in enumerate(events) if isinstance(e, StreamRestart))
    return "".join(e.text for e in events[last + 1:] if isinstance(e, TextChunk))
