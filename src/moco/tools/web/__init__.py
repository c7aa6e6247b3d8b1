"""The web tools: ``web_fetch`` (alias ``webfetch``) and ``web_search`` (alias ``websearch``).

Neither changes anything (``mutates=False``), so ``--read-only`` and ``mode: ask-writes``
let them run. Permissions allow both by default: the agents are meant to research, and
``web_fetch``'s real risk — reaching the user's own network — is refused by the address
guard (:mod:`.fetch`), not by a question. A user who wants Claude Code's behaviour writes
``permissions: {web_fetch: ask}`` or per domain ``{web_fetch: {"domain:example.com": allow,
"*": ask}}``. Heavy imports (httpx2, BeautifulSoup, markdownify, pypdf) wait for the first
call, so ``moco --help`` does not pay for them.
"""

from __future__ import annotations

import asyncio

from moco.errors import ToolError
from moco.tools.base import tool
from moco.tools.context import ToolContext
from moco.tools.web.settings import WebSettings, settings_for, web_settings

__all__ = ["WebSettings", "web_fetch", "web_search", "web_settings"]

#: room for the header lines within ``ctx.max_output_chars``
HEADER_ROOM = 400


@tool(name="web_fetch", aliases=("webfetch",))
async def web_fetch(ctx: ToolContext, url: str, offset: int = 0) -> str:
    """Fetch a URL: HTML comes back as Markdown, JSON pretty-printed, PDF as text.

    Args:
        url: Full http(s) URL.
        offset: Character to start from, to read past a cut (the result says where).
    """
    from moco.tools.web.fetch import fetch
    from moco.tools.web.render import render

    settings = settings_for(ctx)
    fetched = await fetch(ctx, url.strip(), settings)
    text, how = await asyncio.to_thread(render, fetched)
    lines = [f"URL: {fetched.url}" + (f" (after {len(fetched.redirects)} redirect"
                                       f"{'s' if len(fetched.redirects) > 1 else ''})"
                                       if fetched.redirects else "")]
    status = "" if fetched.status == 200 else f"; HTTP {fetched.status}"
    lines.append(f"Type: {fetched.media_type or 'unknown'} as {how}; {len(text)} chars{status}")
    if fetched.cut:
        lines.append(f"Cut: only the first {settings.max_bytes} bytes were read (web max_bytes)")
    window = max(ctx.max_output_chars - HEADER_ROOM, 1000)
    start = max(offset, 0)
    if start and start >= len(text):
        raise ToolError(f"offset {start} is past the end ({len(text)} chars)")
    end = min(start + window, len(text))
    if end < len(text):  # end the window at a line break when one is near
        newline = text.rfind("\n", start + window * 4 // 5, end)
        end = newline + 1 if newline != -1 else end
    shown = text[start:end]
    if start or end < len(text):
        more = f"; call again with offset={end} for more" if end < len(text) else ""
        lines.append(f"Cut: chars {start}-{end} of {len(text)} shown{more}")
    return ctx.truncate("\n".join(lines) + "\n\n" + shown)


@tool(name="web_search", aliases=("websearch",))
async def web_search(ctx: ToolContext, query: str, max_results: int = 5) -> str:
    """Search the web; returns numbered titles, URLs and snippets.

    Args:
        query: What to search for.
        max_results: How many results (1-20).
    """
    import httpx2

    from moco.tools.web.fetch import ssl_context
    from moco.tools.web.search import choose, format_results

    settings = settings_for(ctx)
    backend = choose(settings.search, settings.env)
    count = min(max(max_results, 1), 20)
    try:
        async with asyncio.timeout(settings.timeout), httpx2.AsyncClient(
            timeout=httpx2.Timeout(settings.timeout), follow_redirects=True,
            verify=ssl_context(),
            headers={"User-Agent": "moco/0.1 (web_search)"},
        ) as client:
            results = await backend.search(client, settings.env, query, count)
    except (TimeoutError, httpx2.TimeoutException):
        raise ToolError(f"{backend.name} search timed out after {settings.timeout:g} s") from None
    except httpx2.HTTPError as error:
        # the error's text may carry the request URL, and Google's carries the key
        raise ToolError(f"{backend.name} search failed: {type(error).__name__}") from None
    return ctx.truncate(format_results(results[:count], query, backend.name))
