"""The page in real Chromium (Debian's ``chromium`` driven by pip ``playwright``; no browser
download): streaming, tool calls, the agent tree, Stop, permission dialogs, reload mid-run,
inert model output, and the token. Screenshots go to ``MOCO_SCREENSHOTS`` when it is set."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from moco.testing import Reply, RoutedScript
from tests.web.conftest import UIServer

pytestmark = pytest.mark.slow

WAIT_MS = 15_000


def chromium_path() -> str | None:
    return os.environ.get("MOCO_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        path = None
    if path is None:
        if os.environ.get("MOCO_BROWSER_REQUIRED"):
            pytest.fail("MOCO_BROWSER_REQUIRED is set but Chromium or playwright is missing")
        pytest.skip("no Chromium here (apt-get install chromium) or no playwright")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path,
                                              args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, ui_server: UIServer) -> Iterator[Any]:
    # bypass_csp: playwright's waiting evaluates strings, which the page's CSP forbids; the
    # renderer must keep model output inert without the CSP's help (tests/web/test_auth.py
    # checks that the header is sent)
    context = browser.new_context(viewport={"width": 1280, "height": 860}, bypass_csp=True)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(f"{ui_server.url}/?token={ui_server.token}")
    opened.wait_for_selector("#prompt", state="visible", timeout=WAIT_MS)
    yield opened
    context.close()
    assert errors == [], f"script errors in the page: {errors}"


def shot(page: Any, name: str) -> None:
    folder = os.environ.get("MOCO_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)


def ask(page: Any, text: str) -> None:
    page.evaluate("window.__turns = document.querySelectorAll('.msg.user').length")
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")


def wait_idle(page: Any) -> None:
    """Until the turn just asked for is over: its message is shown and the page is idle."""
    page.wait_for_function(
        "document.querySelectorAll('.msg.user').length > (window.__turns ?? 0)"
        " && document.querySelector('#status').textContent.trim() === 'idle'"
        " && !document.querySelector('.msg.assistant .streaming')", timeout=WAIT_MS)


def answer_text(page: Any) -> str:
    return str(page.locator(".msg.assistant").last.inner_text())


def test_a_message_streams_into_the_page(page: Any, ui_server: UIServer) -> None:
    words = " ".join(f"word{i}" for i in range(60))
    ui_server.llm.add(Reply.say(f"# Title\n\nSome **bold** text.\n\n```python\nprint('x')\n```"
                                f"\n\n{words}", chunk_delay=0.03))
    ask(page, "stream something")
    page.wait_for_selector(".msg.user", timeout=WAIT_MS)
    page.wait_for_function("document.querySelector('#status').textContent.trim() === 'running'",
                           timeout=WAIT_MS)
    page.wait_for_function(
        "(() => { const m = [...document.querySelectorAll('.msg.assistant')].pop();"
        " return m && m.innerText.includes('word5') && !m.innerText.includes('word59'); })()",
        timeout=WAIT_MS)
    shot(page, "streaming")
    wait_idle(page)
    assert "word59" in answer_text(page)
    message = page.locator(".msg.assistant").last
    assert message.locator("h1").inner_text() == "Title"
    assert message.locator("strong").inner_text() == "bold"
    assert message.locator("pre code").count() == 1
    assert message.locator("pre code span").count() > 0  # highlighted
    shot(page, "answered")


def test_tool_calls_and_the_agent_tree_show_live(page: Any, ui_server: UIServer) -> None:
    profile = ui_server.working_dir / ".moco" / "profiles" / "team"
    (profile / "agents").mkdir(parents=True)
    (profile / "agents" / "lead.md").write_text(
        "---\ndescription: lead\nmode: primary\n---\nYou are lead.\n")
    (profile / "agents" / "scout.md").write_text(
        "---\ndescription: looks around\nmode: subagent\ntools: [list_dir]\n---\n"
        "You are scout.\n")
    (ui_server.working_dir / "notes.md").write_text("hello")
    ui_server.llm.use(RoutedScript({
        "You are lead.": [Reply.call("delegate_to_agent",
                                     {"agent_name": "scout", "task": "look around"}),
                          Reply.say("The scout found notes.md.")],
        "You are scout.": [Reply.call("list_dir", {"path": "."}, latency=0.8),
                           Reply.say("notes.md is here", latency=0.5)],
    }))
    page.reload()
    page.wait_for_selector("#profile option[value='team']", state="attached", timeout=WAIT_MS)
    page.select_option("#profile", "team")
    ask(page, "look around")
    node = page.locator(".agent-node[data-agent='scout']")
    node.wait_for(timeout=WAIT_MS)
    page.wait_for_selector(".agent-node[data-agent='scout'][data-status='running']",
                           timeout=WAIT_MS)
    shot(page, "tree-running")
    wait_idle(page)
    page.wait_for_selector(".agent-node[data-agent='scout'][data-status='completed']",
                           timeout=WAIT_MS)
    call = node.locator(".tool-call[data-tool='list_dir']")
    assert call.count() == 1 and call.get_attribute("data-status") == "done"
    call.locator("summary").click()
    assert "notes.md" in call.inner_text()
    assert "The scout found notes.md." in answer_text(page)
    shot(page, "tree-done")


def test_stop_ends_the_stream_mid_answer(page: Any, ui_server: UIServer) -> None:
    ui_server.llm.add(Reply.say(" ".join(f"w{i}" for i in range(400)), chunk_delay=0.03))
    ask(page, "a long one")
    page.wait_for_function(
        "(() => { const m = [...document.querySelectorAll('.msg.assistant')].pop();"
        " return m && m.innerText.includes('w10'); })()", timeout=WAIT_MS)
    page.click("#stop")
    wait_idle(page)
    text = answer_text(page)
    assert "w10" in text and "w399" not in text
    assert page.locator("#stop").is_hidden()


def test_a_permission_ask_is_a_dialog(page: Any, ui_server: UIServer) -> None:
    (ui_server.working_dir / ".env").write_text("SETTING=blue\n")
    ui_server.llm.add(Reply.call("read_file", {"path": ".env"}), Reply.say("It says blue."))
    ask(page, "read .env")
    dialog = page.locator("#permission-dialog")
    dialog.wait_for(state="visible", timeout=WAIT_MS)
    assert "read_file" in page.locator("#perm-tool").inner_text()
    assert ".env" in page.locator("#perm-description").inner_text()
    shot(page, "permission")
    page.click("#perm-once")
    dialog.wait_for(state="hidden", timeout=WAIT_MS)
    wait_idle(page)
    call = page.locator(".tool-call[data-tool='read_file']").last
    assert call.get_attribute("data-status") == "done"
    assert "It says blue." in answer_text(page)


def test_a_reload_mid_run_gets_the_rest(page: Any, ui_server: UIServer) -> None:
    words = [f"part{i}" for i in range(120)]
    ui_server.llm.add(Reply.say(" ".join(words), chunk_delay=0.03))
    ask(page, "long answer")
    page.wait_for_function(
        "(() => { const m = [...document.querySelectorAll('.msg.assistant')].pop();"
        " return m && m.innerText.includes('part8'); })()", timeout=WAIT_MS)
    page.wait_for_function("location.hash.includes('s=')", timeout=WAIT_MS)
    page.reload()
    page.wait_for_selector(".msg.user", timeout=WAIT_MS)
    wait_idle(page)
    page.wait_for_function(
        "[...document.querySelectorAll('.msg.assistant')].pop().innerText.includes('part119')",
        timeout=WAIT_MS)
    text = answer_text(page)
    assert text.count("part0 ") == 1 and text.count("part119") == 1
    assert page.locator(".msg.user").count() == 1


def test_model_output_cannot_run_script(page: Any, ui_server: UIServer) -> None:
    hostile = ('<img src=x onerror="window.pwnd=1"> <script>window.pwnd=2</script>\n\n'
               '[click](javascript:window.pwnd=3) ![pixel](http://127.0.0.1:9/leak?d=1)\n\n'
               '<a href="javascript:alert(1)">a</a> <iframe src="/"></iframe>')
    ui_server.llm.add(Reply.say(hostile))
    ask(page, "<b>my own</b> <img src=y onerror=window.pwnd=4>")
    wait_idle(page)
    message = page.locator(".msg.assistant").last
    assert "<script>window.pwnd=2</script>" in message.inner_text()
    assert message.locator("img, script, iframe").count() == 0
    assert page.locator(".msg.user img").count() == 0
    hrefs = [message.locator("a").nth(i).get_attribute("href")
             for i in range(message.locator("a").count())]
    assert not any(h and h.lower().startswith("javascript:") for h in hrefs)
    for index in range(len(hrefs)):
        message.locator("a").nth(index).click(modifiers=["Control"])  # would open a tab
    assert page.evaluate("window.pwnd") is None
    shot(page, "inert")


def test_without_the_token_the_page_asks_for_it(browser: Any, ui_server: UIServer) -> None:
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(ui_server.url + "/")
        page.wait_for_selector("#login", state="visible", timeout=WAIT_MS)
        shot(page, "login")
        wrong = page.goto(ui_server.url + "/?token=wrong")
        assert wrong is not None and wrong.status == 401
        page.goto(ui_server.url + "/")
        page.wait_for_selector("#login", state="visible", timeout=WAIT_MS)
        page.fill("#login-token", ui_server.token)
        page.click("#login-submit")
        page.wait_for_selector("#prompt", state="visible", timeout=WAIT_MS)
        page.wait_for_selector("#login", state="hidden", timeout=WAIT_MS)
    finally:
        context.close()


def test_the_page_fits_a_phone_in_the_dark(browser: Any, ui_server: UIServer) -> None:
    ui_server.llm.add(Reply.say("Short answer with `code` and a list:\n\n- one\n- two"))
    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True,
                                  color_scheme="dark", is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(f"{ui_server.url}/?token={ui_server.token}")
        page.wait_for_selector("#prompt", state="visible", timeout=WAIT_MS)
        ask(page, "hello from a phone")
        wait_idle(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
        assert page.locator("#send").is_visible() and page.locator("#prompt").is_visible()
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)")
        shot(page, "phone-dark")
        page.click("#sidebar-toggle")
        page.wait_for_selector("#session-list .session-item", state="visible",
                               timeout=WAIT_MS)
        shot(page, "phone-sessions")
    finally:
        context.close()
