"""web_search through the model providers' own search: Gemini grounding with Google Search
and Anthropic's web search server tool, against local servers answering in their formats."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from moco.tools.base import get_tool
from moco.tools.context import ToolContext
from moco.tools.web import web_search, web_settings
from moco.tools.web.search import BACKENDS, choose
from moco.tools.web.settings import STATE_KEY
from tests.tools.web_server import WebServer, json_answer


@pytest.fixture
def server() -> Iterator[WebServer]:
    with WebServer() as running:
        yield running


async def search(ctx: ToolContext, env: dict[str, str], **arguments: object) -> str:
    ctx.state[STATE_KEY] = web_settings(None, env)
    built = get_tool(web_search)
    assert built is not None
    return await built.invoke(ctx, {"query": "moco agents", **arguments})


GEMINI = {"candidates": [{
    "content": {"role": "model", "parts": [{"text": "moco runs teams of agents."}]},
    "finishReason": "STOP",
    "groundingMetadata": {
        "webSearchQueries": ["moco agents"],
        "groundingChunks": [
            {"web": {"uri": "https://vertexaisearch.example/r/1", "title": "moco.dev"}},
            {"web": {"uri": "https://vertexaisearch.example/r/2", "title": "example.org"}}],
        "groundingSupports": [
            {"segment": {"startIndex": 0, "endIndex": 26, "text": "moco runs teams of agents."},
             "groundingChunkIndices": [0], "confidenceScores": [0.9]}]}}],
    "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 7}}


async def test_gemini_grounding_results_are_its_chunks(ctx: ToolContext,
                                                       server: WebServer) -> None:
    server.route("/v1beta/models/gemini-2.5-flash:generateContent",
                 json_answer(json.dumps(GEMINI)))
    result = await search(ctx, {"GEMINI_API_KEY": "g-key", "GEMINI_SEARCH_URL": server.url})
    assert result == ("1. moco.dev\nhttps://vertexaisearch.example/r/1\n"
                      "moco runs teams of agents.\n\n"
                      "2. example.org\nhttps://vertexaisearch.example/r/2")
    seen = server.seen[0]
    assert seen.method == "POST" and seen.headers["x-goog-api-key"] == "g-key"
    body = json.loads(seen.body)
    assert body["tools"] == [{"google_search": {}}]
    assert body["contents"][0]["parts"][0]["text"] == "moco agents"


ANTHROPIC = {"id": "msg_1", "type": "message", "role": "assistant",
             "model": "claude-haiku-4-5", "stop_reason": "end_turn", "content": [
                 {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
                  "input": {"query": "moco agents"}},
                 {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [
                     {"type": "web_search_result", "url": "https://moco.example/",
                      "title": "moco", "encrypted_content": "enc", "page_age": "1 day"},
                     {"type": "web_search_result", "url": "https://other.example/",
                      "title": "Other", "encrypted_content": "enc2"}]},
                 {"type": "text", "text": "moco is a framework.", "citations": [
                     {"type": "web_search_result_location", "url": "https://moco.example/",
                      "title": "moco", "encrypted_index": "i",
                      "cited_text": "moco is a multi-agent framework."}]}],
             "usage": {"input_tokens": 10, "output_tokens": 5}}


async def test_anthropic_web_search_results_and_cited_snippets(
    ctx: ToolContext, server: WebServer
) -> None:
    server.route("/v1/messages", json_answer(json.dumps(ANTHROPIC)))
    result = await search(ctx, {"ANTHROPIC_API_KEY": "a-key",
                                "ANTHROPIC_SEARCH_URL": server.url}, max_results=5)
    assert result == ("1. moco\nhttps://moco.example/\nmoco is a multi-agent framework.\n\n"
                      "2. Other\nhttps://other.example/")
    seen = server.seen[0]
    assert seen.headers["x-api-key"] == "a-key" and seen.headers["anthropic-version"]
    tool = json.loads(seen.body)["tools"][0]
    assert tool["type"] == "web_search_20250305" and tool["name"] == "web_search"


def test_search_services_are_picked_before_the_providers_own_search() -> None:
    env = {"GEMINI_API_KEY": "g", "TAVILY_API_KEY": "t"}
    assert choose(None, env).name == "tavily"
    assert choose(None, {"GEMINI_API_KEY": "g"}).name == "gemini"
    assert choose(None, {"ANTHROPIC_API_KEY": "a"}).name == "anthropic"
    assert list(BACKENDS)[-3:] == ["gemini", "anthropic", "openai"]
    # a key for an OpenAI-compatible local server is not a key for OpenAI's search
    local = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"}
    assert not BACKENDS["openai"].configured(local)


OPENAI = {"id": "resp_1", "object": "response", "status": "completed", "output": [
    {"type": "web_search_call", "id": "ws_1", "status": "completed"},
    {"type": "message", "id": "msg_1", "role": "assistant", "content": [
        {"type": "output_text", "text": "moco runs agent teams on any model.",
         "annotations": [{"type": "url_citation", "start_index": 0, "end_index": 20,
                          "url": "https://moco.example/", "title": "moco"}]}]}]}


async def test_openai_web_search_results_are_its_url_citations(
    ctx: ToolContext, server: WebServer
) -> None:
    server.route("/v1/responses", json_answer(json.dumps(OPENAI)))
    result = await search(ctx, {"OPENAI_API_KEY": "o-key", "OPENAI_SEARCH_URL": server.url,
                                "MOCO_WEBSEARCH": "openai"})
    assert result == "1. moco\nhttps://moco.example/\nmoco runs agent team"
    seen = server.seen[0]
    assert seen.headers["authorization"] == "Bearer o-key"
    assert json.loads(seen.body)["tools"] == [{"type": "web_search"}]
