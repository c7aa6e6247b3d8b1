"""web_search: each backend against a local server answering in the service's documented
format; the request carries the key where the service documents it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from moco.errors import ToolError
from moco.tools.base import get_tool
from moco.tools.context import ToolContext
from moco.tools.web import web_search, web_settings
from moco.tools.web.settings import STATE_KEY
from tests.tools.web_server import Answer, Seen, WebServer, json_answer


@pytest.fixture
def server() -> Iterator[WebServer]:
    with WebServer() as running:
        yield running


async def search(ctx: ToolContext, env: dict[str, str], query: str = "moco agents",
                 **arguments: object) -> str:
    ctx.state[STATE_KEY] = web_settings(None, env)
    built = get_tool(web_search)
    assert built is not None
    return await built.invoke(ctx, {"query": query, **arguments})


BRAVE = {"type": "search", "query": {"original": "moco agents"}, "web": {"type": "search",
         "results": [
             {"title": "Moco <strong>agents</strong>", "url": "https://example.com/moco",
              "description": "A <strong>multi-agent</strong> framework &amp; more.",
              "language": "en", "family_friendly": True},
             {"title": "Second", "url": "https://example.org/2", "description": "two"}]}}


async def test_brave_sends_the_key_header_and_numbers_the_results(
    ctx: ToolContext, server: WebServer
) -> None:
    server.route("/res/v1/web/search", json_answer(json.dumps(BRAVE)))
    result = await search(ctx, {"BRAVE_API_KEY": "brave-key", "BRAVE_SEARCH_URL": server.url},
                          max_results=3)
    assert result == (
        "1. Moco agents\nhttps://example.com/moco\nA multi-agent framework & more.\n\n"
        "2. Second\nhttps://example.org/2\ntwo")
    seen = server.seen[0]
    assert seen.method == "GET" and seen.headers["x-subscription-token"] == "brave-key"
    assert seen.query == {"q": ["moco agents"], "count": ["3"]}


async def test_tavily_posts_the_query_with_a_bearer_key(
    ctx: ToolContext, server: WebServer
) -> None:
    answer = {"query": "moco agents", "answer": None, "response_time": 1.1, "results": [
        {"title": "T1", "url": "https://t.example/1", "content": "x" * 500, "score": 0.9}]}
    server.route("/search", json_answer(json.dumps(answer)))
    result = await search(ctx, {"TAVILY_API_KEY": "tvly-key", "TAVILY_API_URL": server.url})
    first, url, snippet = result.split("\n")
    assert (first, url) == ("1. T1", "https://t.example/1")
    assert len(snippet) == 300 and snippet.endswith("…")  # snippets are kept short
    seen = server.seen[0]
    assert seen.method == "POST" and seen.headers["authorization"] == "Bearer tvly-key"
    assert json.loads(seen.body) == {"query": "moco agents", "max_results": 5}


async def test_searxng_asks_for_json_and_keeps_max_results(
    ctx: ToolContext, server: WebServer
) -> None:
    results = [{"title": f"R{n}", "url": f"https://s.example/{n}", "content": f"c{n}",
                "engine": "duckduckgo"} for n in range(8)]
    server.route("/search", json_answer(json.dumps({"query": "q", "results": results,
                                                    "number_of_results": 8})))
    result = await search(ctx, {"SEARXNG_URL": server.url + "/"}, max_results=2)
    assert result == "1. R0\nhttps://s.example/0\nc0\n\n2. R1\nhttps://s.example/1\nc1"
    assert server.seen[0].query == {"q": ["moco agents"], "format": ["json"]}


async def test_searxng_without_json_format_says_so(ctx: ToolContext, server: WebServer) -> None:
    server.route("/search", Answer(403, b"Forbidden"))
    with pytest.raises(ToolError, match="SearXNG refused the request"):
        await search(ctx, {"SEARXNG_URL": server.url})
    server.route("/search", Answer(200, b"<html>no json</html>", {"Content-Type": "text/html"}))
    with pytest.raises(ToolError, match="format: json"):
        await search(ctx, {"SEARXNG_URL": server.url})


async def test_google_sends_key_and_cx_as_parameters(ctx: ToolContext, server: WebServer) -> None:
    answer = {"kind": "customsearch#search", "items": [
        {"kind": "customsearch#result", "title": "G1", "link": "https://g.example/1",
         "snippet": "first\nresult", "displayLink": "g.example"}]}
    server.route("/customsearch/v1", json_answer(json.dumps(answer)))
    env = {"GOOGLE_CSE_API_KEY": "g-key", "GOOGLE_CSE_ID": "cx-id", "GOOGLE_CSE_URL": server.url}
    result = await search(ctx, env, max_results=50)
    assert result == "1. G1\nhttps://g.example/1\nfirst result"
    assert server.seen[0].query == {"key": ["g-key"], "cx": ["cx-id"], "q": ["moco agents"],
                                    "num": ["10"]}  # Google's maximum


async def test_no_key_names_every_variable_that_works(ctx: ToolContext) -> None:
    with pytest.raises(ToolError) as raised:
        await search(ctx, {})
    message = str(raised.value)
    for variable in ("BRAVE_SEARCH_API_KEY", "BRAVE_API_KEY", "TAVILY_API_KEY", "SEARXNG_URL",
                     "GOOGLE_CSE_API_KEY", "GOOGLE_CSE_ID", "MOCO_WEBSEARCH"):
        assert variable in message


async def test_the_chosen_backend_wins_and_must_be_configured(
    ctx: ToolContext, server: WebServer
) -> None:
    server.route("/search", json_answer('{"results": []}'))
    env = {"BRAVE_API_KEY": "b", "SEARXNG_URL": server.url, "MOCO_WEBSEARCH": "searxng"}
    assert await search(ctx, env) == "no results for 'moco agents' (searxng)"
    with pytest.raises(ToolError, match="'tavily' needs TAVILY_API_KEY"):
        await search(ctx, {**env, "MOCO_WEBSEARCH": "tavily"})
    with pytest.raises(ToolError, match="unknown web search backend 'bing'"):
        await search(ctx, {**env, "MOCO_WEBSEARCH": "bing"})


async def test_a_bad_key_and_rate_limits_are_reported(ctx: ToolContext, server: WebServer) -> None:
    def answer(seen: Seen) -> Answer:
        if seen.headers.get("x-subscription-token") == "limited":
            return Answer(429, b"{}")
        return Answer(401, b'{"error": {"detail": "invalid token"}}')

    server.route("/res/v1/web/search", answer)
    env = {"BRAVE_SEARCH_API_KEY": "wrong", "BRAVE_SEARCH_URL": server.url}
    with pytest.raises(ToolError, match=r"Brave Search refused the request \(HTTP 401\).*invalid"):
        await search(ctx, env)
    with pytest.raises(ToolError, match="rate limiting"):
        await search(ctx, {**env, "BRAVE_SEARCH_API_KEY": "limited"})


async def test_a_stalled_search_times_out(ctx: ToolContext, server: WebServer) -> None:
    server.route("/search", Answer(stall=True))
    with pytest.raises(ToolError, match=r"timed out after 0\.2 s"):
        await search(ctx, {"SEARXNG_URL": server.url, "MOCO_WEB_TIMEOUT": "0.2"})
