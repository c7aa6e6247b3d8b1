"""A stream that ends before the provider's finish marker is a retryable provider error.

``Reply(cut=True)`` streams the whole content and then ends the stream cleanly without the
finish marker (OpenAI: no chunk with ``finish_reason``; Anthropic: no ``message_delta`` stop
reason and no ``message_stop``; Gemini: no candidate with ``finishReason``), for each wire
format — a clean end of stream, not a reset connection (that is ``drop``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from moco.errors import ProviderError
from moco.messages import Message
from moco.providers.anthropic import AnthropicProvider
from moco.providers.base import (
    Finish,
    ModelRequest,
    Provider,
    ProviderEvent,
    RetryPolicy,
    StreamRestart,
    TextChunk,
    ToolCallReady,
)
from moco.providers.gemini import GeminiProvider
from moco.providers.openai_compat import OpenAICompatProvider
from moco.testing import Reply, ScriptedServer, ToolCall
from moco.testing.anthropic_server import ScriptedAnthropicServer
from moco.testing.gemini_server import ScriptedGeminiServer
from moco.testing.openai_server import ScriptedOpenAIServer

FAST = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.01)

_KINDS: dict[str, tuple[Callable[[], ScriptedServer], Callable[[Any], Provider], str]] = {
    "openai": (lambda: ScriptedOpenAIServer([]),
               lambda s: OpenAICompatProvider(api_key="k", base_url=s.base_url, retry=FAST),
               "gpt-test"),
    "anthropic": (lambda: ScriptedAnthropicServer([]),
                  lambda s: AnthropicProvider(api_key="k", base_url=s.base_url, retry=FAST),
                  "claude-test"),
    "gemini": (lambda: ScriptedGeminiServer([]),
               lambda s: GeminiProvider(api_key="k", base_url=s.base_url, retry=FAST),
               "gemini-test"),
}


@pytest.fixture(params=sorted(_KINDS))
def server(request: pytest.FixtureRequest) -> Iterator[Any]:
    make_server, _, _ = _KINDS[request.param]
    with make_server() as scripted:
        scripted.kind = request.param  # type: ignore[attr-defined]
        yield scripted


@pytest.fixture
async def provider(server: Any) -> AsyncIterator[Provider]:
    _, make_provider, _ = _KINDS[server.kind]
    llm = make_provider(server)
    yield llm
    await llm.aclose()


def ask(server: Any) -> ModelRequest:
    return ModelRequest(model=_KINDS[server.kind][2], messages=[Message.user("hello")])


async def events_of(provider: Provider, request: ModelRequest) -> list[ProviderEvent]:
    return [event async for event in provider.stream(request)]


async def test_cut_stream_is_retried_and_the_second_answer_is_the_result(
    provider: Provider, server: Any
) -> None:
    server.add(Reply.say("the first attempt stops half way", cut=True),
               Reply.say("the whole second answer"))
    events = await events_of(provider, ask(server))
    restarts = [e for e in events if isinstance(e, StreamRestart)]
    assert len(restarts) == 1
    after = events[events.index(restarts[0]) + 1:]
    assert "".join(e.text for e in after if isinstance(e, TextChunk)) == "the whole second answer"
    assert events[-1] == Finish("stop")
    assert len(server.requests) == 2
    server.assert_complete()


async def test_cut_stream_collected_gives_the_second_answer(
    provider: Provider, server: Any
) -> None:
    server.add(Reply.say("partial words", cut=True), Reply.say("final answer"))
    response = await provider.complete(ask(server))
    assert response.message.text == "final answer"
    assert response.finish_reason == "stop"


async def test_every_attempt_cut_is_a_retryable_provider_error_not_an_empty_answer(
    provider: Provider, server: Any
) -> None:
    server.add(*[Reply.say("never finished", cut=True)] * (FAST.max_retries + 1))
    with pytest.raises(ProviderError) as caught:
        await provider.complete(ask(server))
    assert caught.value.retryable
    assert "the stream ended before the answer did" in str(caught.value)
    assert len(server.requests) == FAST.max_retries + 1


async def test_cut_attempt_yields_no_tool_call_of_its_own(
    provider: Provider, server: Any
) -> None:
    """A tool call of a cut attempt is never handed out: it may be incomplete."""
    server.add(Reply.calls(ToolCall("read_file", {"path": "a.txt"}), cut=True))
    provider.retry = RetryPolicy(max_retries=0)
    seen: list[ProviderEvent] = []
    with pytest.raises(ProviderError):
        async for event in provider.stream(ask(server)):
            seen.append(event)
    assert not [e for e in seen if isinstance(e, ToolCallReady)]
