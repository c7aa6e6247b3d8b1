"""Search backends for ``web_search``, chosen by configuration and by which key is set
(each request as the service documents it):

- ``brave``: ``BRAVE_SEARCH_API_KEY`` or ``BRAVE_API_KEY``; GET ``/res/v1/web/search?q=&count=``
  with the header ``X-Subscription-Token`` -> ``web.results[].{title,url,description}``;
- ``tavily``: ``TAVILY_API_KEY``; POST ``/search`` JSON ``{query, max_results}`` with
  ``Authorization: Bearer <key>`` -> ``results[].{title,url,content}``;
- ``searxng``: ``SEARXNG_URL`` (the instance); GET ``{SEARXNG_URL}/search?q=&format=json``
  -> ``results[].{title,url,content}``;
- ``google``: ``GOOGLE_CSE_API_KEY`` and ``GOOGLE_CSE_ID``; GET
  ``/customsearch/v1?key=&cx=&q=&num=`` -> ``items[].{title,link,snippet}``;
- ``gemini`` (the provider's own search): ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``; POST
  ``/v1beta/models/{model}:generateContent`` with ``tools: [{google_search: {}}]`` ->
  ``candidates[0].groundingMetadata.groundingChunks[].web.{uri,title}`` (model
  ``MOCO_GEMINI_SEARCH_MODEL``, base ``GEMINI_SEARCH_URL``);
- ``anthropic`` (the provider's own search): ``ANTHROPIC_API_KEY``; POST ``/v1/messages`` with
  the ``web_search_20250305`` server tool -> ``web_search_tool_result`` blocks of
  ``web_search_result {url,title}``, snippets from the answer's ``citations[].cited_text``
  (model ``MOCO_ANTHROPIC_SEARCH_MODEL``, base ``ANTHROPIC_SEARCH_URL``);
- ``openai`` (the provider's own search): ``OPENAI_API_KEY``; POST ``/v1/responses`` with
  ``tools: [{type: web_search}]`` -> the message's ``output_text`` ``annotations`` of type
  ``url_citation {url,title,start_index,end_index}`` (model ``MOCO_OPENAI_SEARCH_MODEL``,
  base ``OPENAI_SEARCH_URL``).

Base URLs can be replaced (a proxy, a test server): ``BRAVE_SEARCH_URL``, ``TAVILY_API_URL``,
``GOOGLE_CSE_URL`` (the service's base; the documented path is appended). The search APIs
are the user's own configuration, not a URL the model chose, so the private-address guard
of ``web_fetch`` does not apply to them (a SearXNG instance often runs on localhost).

A backend is anything with ``name``, ``needs``, ``configured(env)`` and ``search(...)``
(:class:`SearchBackend`). The providers' own search backends are picked last when none is
chosen: they cost model tokens.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from moco.errors import ToolError

if TYPE_CHECKING:
    import httpx2

SNIPPET_CHARS = 300
_TAGS = re.compile(r"<[^>]{0,200}>")


@dataclass(frozen=True, slots=True)
class SearchResult:
    title: str
    url: str
    snippet: str = ""


class SearchBackend(Protocol):
    #: the name in ``web: {search: ...}`` / ``MOCO_WEBSEARCH``
    name: str
    #: what to set, for messages ("BRAVE_SEARCH_API_KEY (or BRAVE_API_KEY)")
    needs: str

    def configured(self, env: Mapping[str, str]) -> bool: ...

    async def search(
        self, client: httpx2.AsyncClient, env: Mapping[str, str], query: str, count: int
    ) -> list[SearchResult]: ...


def _first(env: Mapping[str, str], *names: str) -> str:
    return next((env[name] for name in names if env.get(name)), "")


def _base(env: Mapping[str, str], variable: str, default: str) -> str:
    return (env.get(variable) or default).rstrip("/")


class Brave:
    name = "brave"
    label = "Brave Search"
    needs = "BRAVE_SEARCH_API_KEY (or BRAVE_API_KEY)"
    KEYS: ClassVar[tuple[str, ...]] = ("BRAVE_SEARCH_API_KEY", "BRAVE_API_KEY")

    def configured(self, env: Mapping[str, str]) -> bool:
        return bool(_first(env, *self.KEYS))

    async def search(
        self, client: httpx2.AsyncClient, env: Mapping[str, str], query: str, count: int
    ) -> list[SearchResult]:
        url = _base(env, "BRAVE_SEARCH_URL", "https://api.search.brave.com") + "/res/v1/web/search"
        response = await client.get(
            url, params={"q": query, "count": min(count, 20)},
            headers={"Accept": "application/json",
                     "X-Subscription-Token": _first(env, *self.KEYS)})
        data = _json(self.label, response)
        web = data.get("web") if isinstance(data, dict) else None
        items = web.get("results") if isinstance(web, dict) else None
        return _results(items, "title", "url", "description")


class Tavily:
    name = "tavily"
    label = "Tavily"
    needs = "TAVILY_API_KEY"

    def configured(self, env: Mapping[str, str]) -> bool:
        return bool(env.get("TAVILY_API_KEY"))

    async def search(
        self, client: httpx2.AsyncClient, env: Mapping[str, str], query: str, count: int
    ) -> list[SearchResult]:
        url = _base(env, "TAVILY_API_URL", "https://api.tavily.com") + "/search"
        response = await client.post(
            url, json={"query": query, "max_results": min(count, 20)},
            headers={"Authorization": f"Bearer {env['TAVILY_API_KEY']}"})
        data = _json(self.label, response)
        items = data.get("results") if isinstance(data, dict) else None
        return _results(items, "title", "url", "content")


class SearXNG:
    name = "searxng"
    label = "SearXNG"
    needs = "SEARXNG_URL"

    def configured(self, env: Mapping[str, str]) -> bool:
        return bool(env.get("SEARXNG_URL"))

    async def search(
        self, client: httpx2.AsyncClient, env: Mapping[str, str], query: str, count: int
    ) -> list[SearchResult]:
        url = env["SEARXNG_URL"].rstrip("/") + "/search"
        response = await client.get(url, params={"q": query, "format": "json"},
                                    headers={"Accept": "application/json"})
        data = _json(self.label, response, "is format: json enabled in its settings.yml?")
        items = data.get("results") if isinstance(data, dict) else None
        return _results(items, "title", "url", "content")[:count]


class Google:
    name = "google"
    label = "Google Programmable Search"
    needs = "GOOGLE_CSE_API_KEY and GOOGLE_CSE_ID"

    def configured(self, env: Mapping[str, str]) -> bool:
        return bool(env.get("GOOGLE_CSE_API_KEY") and env.get("GOOGLE_CSE_ID"))

    async def search(
        self, client: httpx2.AsyncClient, env: Mapping[str, str], query: str, count: int
    ) -> list[SearchResult]:
        url = _base(env, "GOOGLE_CSE_URL", "https://www.googleapis.com") + "/customsearch/v1"
        response = await client.get(url, params={
            "key": env["GOOGLE_CSE_API_KEY"], "cx": env["GOOGLE_CSE_ID"], "q": query,
            "num": min(count, 10)})
        data = _json(self.label, response)
        items = data.get("items") if isinstance(data, dict) else None
        return _results(items, "title", "link", "snippet")


class GeminiGrounding:
    """The provider's own search: one Gemini call with the ``google_search`` tool; results
    are the grounding chunks (``web.uri``/``web.title``), snippets the supported segments.
    Billed as model tokens."""

    name = "gemini"
    label = "Gemini grounding with Google Search"
    needs = "GEMINI_API_KEY (or GOOGLE_API_KEY)"
    KEYS: ClassVar[tuple[str, ...]] = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

    def configured(self, env: Mapping[str, str]) -> bool:
        return bool(_first(env, *self.KEYS))

    async def search(
        self, client: httpx2.AsyncClient, env: Mapping[str, str], query: str, count: int
    ) -> list[SearchResult]:
        model = env.get("MOCO_GEMINI_SEARCH_MODEL") or "gemini-2.5-flash"
        url = (_base(env, "GEMINI_SEARCH_URL", "https://generativelanguage.googleapis.com")
               + f"/v1beta/models/{model}:generateContent")
        response = await client.post(
            url, headers={"x-goog-api-key": _first(env, *self.KEYS)},
            json={"contents": [{"role": "user", "parts": [{"text": query}]}],
                  "tools": [{"google_search": {}}]})
        data = _json(self.label, response)
        candidates = data.get("candidates") if isinstance(data, dict) else None
        first = candidates[0] if isinstance(candidates, list) and candidates else {}
        grounding = first.get("groundingMetadata") if isinstance(first, dict) else None
        if not isinstance(grounding, dict):
            return []
        chunks = [c.get("web") or {} for c in grounding.get("groundingChunks") or []
                  if isinstance(c, dict)]
        snippets: dict[int, list[str]] = {}
        for support in grounding.get("groundingSupports") or []:
            text = str((support.get("segment") or {}).get("text") or "")
            for index in support.get("groundingChunkIndices") or []:
                snippets.setdefault(int(index), []).append(text)
        return [SearchResult(clean(str(web.get("title") or "")), str(web.get("uri") or ""),
                             clean(" ".join(snippets.get(index, []))))
                for index, web in enumerate(chunks) if web.get("uri")][:count]


class AnthropicSearch:
    """The provider's own search: one Claude call with the ``web_search`` server tool;
    results are its ``web_search_result`` blocks, snippets the text it cited from them.
    Billed as model tokens plus Anthropic's per-search fee."""

    name = "anthropic"
    label = "Anthropic web search"
    needs = "ANTHROPIC_API_KEY"

    def configured(self, env: Mapping[str, str]) -> bool:
        return bool(env.get("ANTHROPIC_API_KEY"))

    async def search(
        self, client: httpx2.AsyncClient, env: Mapping[str, str], query: str, count: int
    ) -> list[SearchResult]:
        url = _base(env, "ANTHROPIC_SEARCH_URL", "https://api.anthropic.com") + "/v1/messages"
        response = await client.post(
            url, headers={"x-api-key": env["ANTHROPIC_API_KEY"],
                          "anthropic-version": "2023-06-01"},
            json={"model": env.get("MOCO_ANTHROPIC_SEARCH_MODEL") or "claude-haiku-4-5",
                  "max_tokens": 1024,
                  "messages": [{"role": "user", "content": f"Search the web for: {query}"}],
                  "tools": [{"type": "web_search_20250305", "name": "web_search",
                             "max_uses": 1}]})
        data = _json(self.label, response)
        blocks = data.get("content") if isinstance(data, dict) else None
        found: dict[str, SearchResult] = {}
        cited: dict[str, list[str]] = {}
        for block in blocks if isinstance(blocks, list) else []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "web_search_tool_result" and isinstance(
                    block.get("content"), list):
                for item in block["content"]:
                    if isinstance(item, dict) and item.get("url"):
                        found.setdefault(str(item["url"]),
                                         SearchResult(clean(str(item.get("title") or "")),
                                                      str(item["url"])))
            for citation in block.get("citations") or []:
                if isinstance(citation, dict) and citation.get("url"):
                    cited.setdefault(str(citation["url"]), []).append(
                        str(citation.get("cited_text") or ""))
        return [SearchResult(r.title, r.url, clean(" ".join(cited.get(r.url, []))))
                for r in found.values()][:count]


class OpenAISearch:
    """The provider's own search: one Responses API call with the ``web_search`` tool;
    results are the answer's ``url_citation`` annotations, snippets the text they cite."""

    name = "openai"
    label = "OpenAI web search"
    needs = "OPENAI_API_KEY (with OPENAI_SEARCH_URL when OPENAI_BASE_URL is another server)"

    def configured(self, env: Mapping[str, str]) -> bool:
        # a key for an OpenAI-compatible server (OPENAI_BASE_URL) is not a key for OpenAI
        return bool(env.get("OPENAI_API_KEY")) and (
            not env.get("OPENAI_BASE_URL") or bool(env.get("OPENAI_SEARCH_URL")))

    async def search(
        self, client: httpx2.AsyncClient, env: Mapping[str, str], query: str, count: int
    ) -> list[SearchResult]:
        url = _base(env, "OPENAI_SEARCH_URL", "https://api.openai.com") + "/v1/responses"
        response = await client.post(
            url, headers={"Authorization": f"Bearer {env['OPENAI_API_KEY']}"},
            json={"model": env.get("MOCO_OPENAI_SEARCH_MODEL") or "gpt-5-mini",
                  "input": f"Search the web for: {query}", "tools": [{"type": "web_search"}]})
        data = _json(self.label, response)
        found: dict[str, SearchResult] = {}
        for item in data.get("output") or [] if isinstance(data, dict) else []:
            if not isinstance(item, dict) or item.get("type") != "message":
                continue
            for part in item.get("content") or []:
                text = str(part.get("text") or "") if isinstance(part, dict) else ""
                for note in part.get("annotations") or [] if isinstance(part, dict) else []:
                    if not isinstance(note, dict) or note.get("type") != "url_citation":
                        continue
                    start, end = int(note.get("start_index", 0)), int(note.get("end_index", 0))
                    found.setdefault(str(note.get("url")), SearchResult(
                        clean(str(note.get("title") or "")), str(note.get("url")),
                        clean(text[start:end])))
        return [r for r in found.values() if r.url][:count]


#: in the order a backend is picked when none is chosen: the search services first, then the
#: providers' own search (which costs model tokens)
BACKENDS: dict[str, SearchBackend] = {b.name: b for b in (
    Brave(), Tavily(), SearXNG(), Google(), GeminiGrounding(), AnthropicSearch(),
    OpenAISearch())}


def not_configured() -> str:
    options = "; ".join(f"{b.needs} for {getattr(b, 'label', b.name)}"
                        for b in BACKENDS.values())
    return (f"web_search has no search backend configured. Set one of: {options} (in the "
            "environment or $MOCO_HOME/.env); pick one with MOCO_WEBSEARCH or profile.yaml "
            f"web: {{search: {'|'.join(BACKENDS)}}}")


def choose(wanted: str | None, env: Mapping[str, str]) -> SearchBackend:
    """The backend named by the settings, else the first one configured."""
    if wanted:
        backend = BACKENDS.get(wanted)
        if backend is None:
            raise ToolError(f"unknown web search backend {wanted!r} (MOCO_WEBSEARCH or web: "
                            f"{{search:}}); known: {', '.join(BACKENDS)}")
        if not backend.configured(env):
            raise ToolError(f"web search backend {wanted!r} needs {backend.needs}")
        return backend
    found = next((b for b in BACKENDS.values() if b.configured(env)), None)
    if found is None:
        raise ToolError(not_configured())
    return found


def format_results(results: list[SearchResult], query: str, backend: str) -> str:
    """Numbered title, URL and snippet: lean, since every token is paid for."""
    if not results:
        return f"no results for {query!r} ({backend})"
    blocks = []
    for number, item in enumerate(results, 1):
        lines = [f"{number}. {item.title or item.url}", item.url]
        if item.snippet:
            lines.append(item.snippet)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def clean(text: str, limit: int = SNIPPET_CHARS) -> str:
    """Snippet text without markup (Brave marks matches with ``<strong>``), on one line."""
    plain = " ".join(html.unescape(_TAGS.sub("", text)).split())
    return plain if len(plain) <= limit else plain[: limit - 1].rstrip() + "…"


def _results(items: Any, title: str, url: str, snippet: str) -> list[SearchResult]:
    found: list[SearchResult] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get(url), str):
            continue
        found.append(SearchResult(clean(str(item.get(title) or ""), 200), item[url],
                                  clean(str(item.get(snippet) or ""))))
    return found


def _json(label: str, response: httpx2.Response, hint: str = "") -> Any:
    """The decoded answer, or a ToolError saying what the service said (never the request
    URL: Google's carries the key)."""
    status = response.status_code
    if status in (401, 403):
        raise ToolError(f"{label} refused the request (HTTP {status}): check the key"
                        f"{_excerpt(response)}")
    if status == 429:
        raise ToolError(f"{label} is rate limiting (HTTP 429); try again later")
    if status >= 400:
        raise ToolError(f"{label} failed (HTTP {status}){_excerpt(response)}")
    try:
        return response.json()
    except ValueError:
        extra = f"; {hint}" if hint else ""
        raise ToolError(f"{label} did not answer with JSON{extra}") from None


def _excerpt(response: httpx2.Response) -> str:
    text = " ".join(response.text.split())[:200]
    return f": {text}" if text else ""
