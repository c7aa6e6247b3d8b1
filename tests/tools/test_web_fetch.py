"""web_fetch against local servers: conversion, limits, redirects and the address guard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from moco.errors import ToolError
from moco.tools.base import get_tool
from moco.tools.context import ToolContext
from moco.tools.web import WebSettings, web_fetch, web_settings
from moco.tools.web import fetch as fetch_module
from moco.tools.web.fetch import refusal
from moco.tools.web.settings import STATE_KEY, settings_for
from tests.tools.web_server import Answer, WebServer, html, json_answer, redirect, tiny_pdf

PAGE = """<!doctype html><html><head><title>Test page</title>
<script>var secret = "do not show";</script><style>body {color: red}</style></head>
<body><nav><a href="/home">Home</a></nav>
<main><h1>Heading</h1><p>Some <b>bold</b> text and <a href="/docs/a">a link</a>.</p>
<img src="data:image/png;base64,AAAA" alt="x"><ul><li>one</li><li>two</li></ul></main>
</body></html>"""


@pytest.fixture
def server() -> Iterator[WebServer]:
    with WebServer() as running:
        yield running


def allow(ctx: ToolContext, **options: object) -> ToolContext:
    ctx.state[STATE_KEY] = WebSettings(allow_private=True, **options)  # type: ignore[arg-type]
    return ctx


async def fetch(ctx: ToolContext, url: str, **arguments: object) -> str:
    built = get_tool(web_fetch)
    assert built is not None
    return await built.invoke(ctx, {"url": url, **arguments})


async def test_html_becomes_markdown_without_scripts_and_with_absolute_links(
    ctx: ToolContext, server: WebServer
) -> None:
    server.route("/page", html(PAGE))
    result = await fetch(allow(ctx), server.url + "/page")
    header, _, body = result.partition("\n\n")
    assert header.splitlines() == [f"URL: {server.url}/page",
                                   f"Type: text/html as Markdown; {len(body)} chars"]
    assert body.startswith("# Test page\n\n# Heading")
    assert "Some **bold** text" in body and f"[a link]({server.url}/docs/a)" in body
    assert "- one\n- two" in body
    assert "secret" not in body and "color" not in body and "base64" not in body
    assert "Home" not in body  # only the page's <main> is kept
    assert server.seen[0].headers["user-agent"].startswith("moco/")


async def test_json_is_pretty_printed_and_text_kept(ctx: ToolContext, server: WebServer) -> None:
    server.route("/data", json_answer('{"name":"moco","items":[1,2]}'))
    server.route("/notes.txt", Answer(200, b"plain  text\n", {"Content-Type": "text/plain"}))
    result = await fetch(allow(ctx), server.url + "/data")
    assert "application/json as JSON" in result
    assert json.loads(result.partition("\n\n")[2]) == {"name": "moco", "items": [1, 2]}
    assert '\n "name": "moco"' in result
    text = await fetch(ctx, server.url + "/notes.txt")
    assert text.endswith("\n\nplain  text\n") and "text/plain as text" in text


async def test_pdf_text_is_extracted(ctx: ToolContext, server: WebServer) -> None:
    server.route("/paper.pdf", Answer(200, tiny_pdf("Hello from a PDF"),
                                      {"Content-Type": "application/pdf"}))
    result = await fetch(allow(ctx), server.url + "/paper.pdf")
    assert "application/pdf as text of the PDF" in result
    assert "[page 1]\nHello from a PDF" in result


async def test_binary_content_is_refused_with_its_type(
    ctx: ToolContext, server: WebServer
) -> None:
    png = Answer(200, b"\x89PNG\r\n\x1a\n\0\0\0", {"Content-Type": "image/png"})
    server.route("/logo.png", png)
    with pytest.raises(ToolError, match=r"image/png \(11 bytes read\)"):
        await fetch(allow(ctx), server.url + "/logo.png")


async def test_reading_stops_at_max_bytes_and_the_result_says_cut(
    ctx: ToolContext, server: WebServer
) -> None:
    server.route("/big", Answer(200, b"x" * 400_000, {"Content-Type": "text/plain"},
                                chunked=True))
    result = await fetch(allow(ctx, max_bytes=10_000), server.url + "/big")
    assert "Cut: only the first 10000 bytes were read (web max_bytes)" in result
    assert "10000 chars" in result


async def test_only_the_start_of_huge_html_is_converted(
    ctx: ToolContext, server: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moco.tools.web import render

    monkeypatch.setattr(render, "HTML_LIMIT", 2000)
    server.route("/huge", html("<html><body>" + "<p>words</p>" * 1000 + "</body></html>"))
    result = await fetch(allow(ctx), server.url + "/huge")
    assert "text/html as Markdown of its first 2000 bytes" in result


async def test_long_text_is_shown_in_windows_with_the_next_offset(
    ctx: ToolContext, server: WebServer
) -> None:
    text = "".join(f"line {n:05d}\n" for n in range(2000))  # 22,000 characters
    server.route("/long", Answer(200, text.encode(), {"Content-Type": "text/plain"}))
    ctx.max_output_chars = 5000
    first = await fetch(allow(ctx), server.url + "/long")
    assert "Cut: chars 0-4598 of 22000 shown; call again with offset=4598 for more" in first
    assert len(first) <= 5000 and first.endswith("line 00417\n")  # ends at a line break
    last = await fetch(ctx, server.url + "/long", offset=20000)
    assert "Cut: chars 20000-22000 of 22000 shown\n" in last and "line 01999" in last
    with pytest.raises(ToolError, match="past the end"):
        await fetch(ctx, server.url + "/long", offset=22000)


async def test_redirects_are_followed_and_counted(ctx: ToolContext, server: WebServer) -> None:
    server.route("/old", redirect("/older", 301))
    server.route("/older", redirect(server.url + "/new", 308))
    server.route("/new", Answer(200, b"arrived", {"Content-Type": "text/plain"}))
    result = await fetch(allow(ctx), server.url + "/old")
    assert result.startswith(f"URL: {server.url}/new (after 2 redirects)\n")
    assert result.endswith("arrived")


async def test_a_redirect_loop_stops_at_the_limit(ctx: ToolContext, server: WebServer) -> None:
    server.route("/loop", redirect("/loop"))
    with pytest.raises(ToolError, match="more than 3 redirects"):
        await fetch(allow(ctx, max_redirects=3), server.url + "/loop")
    assert len(server.seen) == 4


async def test_redirects_only_to_http_urls(ctx: ToolContext, server: WebServer) -> None:
    server.route("/file", redirect("file:///etc/passwd"))
    with pytest.raises(ToolError, match="not an http"):
        await fetch(allow(ctx), server.url + "/file")
    with pytest.raises(ToolError, match="not an http"):
        await fetch(ctx, "ftp://example.com/x")


async def test_a_stalled_server_times_out(ctx: ToolContext, server: WebServer) -> None:
    server.route("/slow", Answer(stall=True))
    with pytest.raises(ToolError, match=r"0\.2 s"):
        await fetch(allow(ctx, timeout=0.2), server.url + "/slow")


async def test_http_errors_come_back_with_their_status(
    ctx: ToolContext, server: WebServer
) -> None:
    result = await fetch(allow(ctx), server.url + "/missing")
    assert "; HTTP 404" in result and result.endswith("not found")


# --------------------------------------------------------------------------- the address guard


async def test_loopback_is_refused_by_default(ctx: ToolContext, server: WebServer) -> None:
    server.route("/", Answer(200, b"secret"))
    ctx.state[STATE_KEY] = WebSettings()
    with pytest.raises(ToolError, match=r"refused 127\.0\.0\.1: a loopback address.*"
                                        "MOCO_WEB_ALLOW_PRIVATE"):
        await fetch(ctx, server.url + "/")
    # a name is checked on its DNS answer
    with pytest.raises(ToolError, match=r"refused localhost \((127\.0\.0\.1|::1)\)"):
        await fetch(ctx, f"http://localhost:{server.port}/")
    assert server.seen == []


async def test_a_redirect_to_a_private_address_is_refused(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """127.0.0.2 plays a public site (offline there is none): it redirects to 127.0.0.1."""
    real = refusal
    monkeypatch.setattr(fetch_module, "refusal",
                        lambda address: None if address == "127.0.0.2" else real(address))
    ctx.state[STATE_KEY] = WebSettings()
    with WebServer("127.0.0.2") as public, WebServer() as private:
        private.route("/admin", Answer(200, b"internal"))
        public.route("/go", redirect(private.url + "/admin"))
        public.route("/ok", Answer(200, b"public page", {"Content-Type": "text/plain"}))
        assert (await fetch(ctx, public.url + "/ok")).endswith("public page")
        with pytest.raises(ToolError, match=r"refused 127\.0\.0\.1: a loopback"):
            await fetch(ctx, public.url + "/go")
        assert private.seen == [] and [s.path for s in public.seen] == ["/ok", "/go"]


async def test_every_address_of_the_answer_is_checked_and_the_checked_one_used(
    ctx: ToolContext, server: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"mixed.test": ["93.184.216.34", "10.0.0.7"], "pinned.test": ["127.0.0.1"]}

    async def fake_resolve(host: str, port: int) -> list[str]:
        return answers[host]

    monkeypatch.setattr(fetch_module, "resolve", fake_resolve)
    ctx.state[STATE_KEY] = WebSettings()
    with pytest.raises(ToolError, match=r"refused mixed\.test \(10\.0\.0\.7\): a private"):
        await fetch(ctx, "http://mixed.test/")
    # allowed: the socket goes to the resolved address, Host still names the URL's host
    server.route("/", Answer(200, b"pinned", {"Content-Type": "text/plain"}))
    allow(ctx)
    result = await fetch(ctx, f"http://pinned.test:{server.port}/")
    assert result.startswith(f"URL: http://pinned.test:{server.port}/") and "pinned" in result
    assert server.seen[0].headers["host"] == f"pinned.test:{server.port}"


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
])  # fmt: skip
def test_private_addresses_are_refused(address: str) -> None:
    assert refusal(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(address) is None


# --------------------------------------------------------------------------- settings


def test_settings_from_profile_with_the_environment_on_top() -> None:
    profile = {"web": {"allow_private": True, "search": "Tavily", "timeout": 5}}
    settings = web_settings(profile, {})
    assert (settings.allow_private, settings.search, settings.timeout) == (True, "tavily", 5.0)
    settings = web_settings(profile, {"MOCO_WEB_ALLOW_PRIVATE": "0", "MOCO_WEBSEARCH": "brave",
                                      "MOCO_WEB_MAX_BYTES": "1000"})
    assert (settings.allow_private, settings.search, settings.max_bytes) == (False, "brave", 1000)
    assert web_settings(None, {}) == WebSettings()
    with pytest.raises(ToolError, match="unknown keys allow_privat"):
        web_settings({"web": {"allow_privat": True}}, {})
    with pytest.raises(ToolError, match="expected true or false"):
        web_settings({}, {"MOCO_WEB_ALLOW_PRIVATE": "maybe"})
    assert "KEY" not in repr(web_settings({}, {"BRAVE_API_KEY": "KEY"}))


def test_settings_for_a_bare_context_read_its_env(tmp_path: Path) -> None:
    ctx = ToolContext(working_dir=tmp_path, env={"MOCO_WEB_ALLOW_PRIVATE": "yes"})
    assert settings_for(ctx).allow_private is True
