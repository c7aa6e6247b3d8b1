"""The gateway end to end: a real UI server and LLM server, a recording channel."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

from moco.gateway import Gateway, Media
from moco.gateway.commands import HELP
from moco.gateway.core import WORKING
from moco.testing import Reply, ToolCall
from tests.fixtures.media import png_bytes
from tests.gateway.conftest import FakeChannel, make_gateway, message
from tests.web.conftest import UIServer


def sessions(server: UIServer) -> list[dict[str, object]]:
    with server.client() as client:
        return list(client.get("/api/sessions").json())


async def until(condition: Callable[[], object], limit: float = 10.0) -> None:
    """Wait (polling the real servers) until ``condition()`` holds."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_message_gets_the_answer_in_a_session_kept_across_restarts(
        ui_server: UIServer, gateway: Gateway, channel: FakeChannel, state_file: Path) -> None:
    ui_server.llm.add(Reply.say("Hello from moco"))
    ui_server.llm.add(Reply.say("Still here"))
    await gateway.handle(message("hi"))
    await gateway.idle()
    assert channel.texts() == ["Hello from moco"]
    saved = json.loads(await asyncio.to_thread(state_file.read_text))
    session = saved["chat-1"]["session_id"]
    assert [s["id"] for s in sessions(ui_server)] == [session]
    again = make_gateway(ui_server, channel, state_file)  # a restarted gateway
    try:
        await again.handle(message("still there?"))
        await again.idle()
    finally:
        await again.aclose()
    assert channel.texts()[-1] == "Still here"
    assert [s["id"] for s in sessions(ui_server)] == [session]
    assert ui_server.llm.requests[-1].body["messages"][-1]["content"] == "still there?"


async def test_a_long_answer_is_split_under_the_channel_limit(
        ui_server: UIServer, gateway: Gateway, channel: FakeChannel) -> None:
    channel.max_message_chars = 60
    answer = "\n\n".join(" ".join(f"w{p}x{n}" for n in range(12)) for p in range(5))
    ui_server.llm.add(Reply.say(answer))
    await gateway.handle(message("write a lot"))
    await gateway.idle()
    pieces = channel.texts()
    assert len(pieces) > 5 and all(len(piece) <= 60 for piece in pieces)
    assert " ".join(pieces).split() == answer.split()


async def test_stop_cancels_a_slow_answer(
        ui_server: UIServer, gateway: Gateway, channel: FakeChannel) -> None:
    ui_server.llm.add(Reply.say("word " * 300, chunk_delay=0.02))
    await gateway.handle(message("tell a long story"))
    await until(lambda: ui_server.llm.requests)
    await gateway.handle(message("/stop"))
    await gateway.idle()
    assert channel.texts() == ["Stopped."]
    session = gateway.chats.get("chat-1").session_id
    with ui_server.client() as client:
        stored = client.get(f"/api/sessions/{session}").json()
    assert stored["running"] is False
    statuses = [m["status"] for m in stored["messages"] if m["role"] == "assistant"]
    assert statuses in ([], ["cancelled"])
    await gateway.handle(message("/stop"))
    assert channel.texts()[-1] == "Nothing is running."


async def test_new_starts_another_session_and_status_describes_it(
        ui_server: UIServer, gateway: Gateway, channel: FakeChannel) -> None:
    ui_server.llm.add(Reply.say("one"))
    ui_server.llm.add(Reply.say("two"))
    await gateway.handle(message("/status"))
    assert "No session yet" in channel.texts()[-1]
    await gateway.handle(message("first"))
    await gateway.idle()
    first = gateway.chats.get("chat-1").session_id
    await gateway.handle(message("/status"))
    status = channel.texts()[-1]
    assert f"Session: {first} (first)" in status and "Profile: default" in status
    assert "Model: openai/" in status and "Running: no" in status
    assert f"Folder: {ui_server.working_dir}" in status
    await gateway.handle(message("/new"))
    second = gateway.chats.get("chat-1").session_id
    assert second != first and channel.texts()[-1] == f"New session {second}."
    await gateway.handle(message("second"))
    await gateway.idle()
    assert channel.texts()[-1] == "two"
    assert {s["id"] for s in sessions(ui_server)} == {first, second}
    with ui_server.client() as client:
        assert client.get(f"/api/sessions/{second}").json()["message_count"] == 2


async def test_workdir_provider_profile_and_help(
        ui_server: UIServer, gateway: Gateway, channel: FakeChannel) -> None:
    folder = ui_server.working_dir / "sub"
    folder.mkdir()
    await gateway.handle(message(f"/cd {folder}"))
    assert channel.texts()[-1] == f"Folder: {folder}."
    await gateway.handle(message("/workdir /no/such/folder"))
    assert channel.texts()[-1].startswith("Sorry, moco's UI answered:")
    await gateway.handle(message("/provider openai/gpt-5"))
    assert channel.texts()[-1] == "Model openai/gpt-5 from the next message on."
    await gateway.handle(message("/profile nonsense"))
    assert channel.texts()[-1].startswith("No profile 'nonsense'; there are:")
    await gateway.handle(message("/profile default"))
    assert "from the next session" in channel.texts()[-1]
    await gateway.handle(message("/help"))
    assert channel.texts()[-1] == HELP


async def test_an_image_reaches_the_ui_as_an_upload(
        ui_server: UIServer, gateway: Gateway, channel: FakeChannel) -> None:
    ui_server.llm.add(Reply.say("A red square"))
    png = png_bytes()
    await gateway.handle(message("what is this?", media=[Media("photo.png", png, "image/png")]))
    await gateway.idle()
    assert channel.texts() == ["A red square"]
    session = gateway.chats.get("chat-1").session_id
    with ui_server.client() as client:
        uploads = client.get(f"/api/sessions/{session}/uploads").json()
    assert [(u["name"], u["kind"]) for u in uploads] == [("photo.png", "image")]
    asked = ui_server.llm.requests[-1].body["messages"][-1]["content"]
    assert "[The user attached photo.png" in asked[0]["text"]
    assert asked[1]["type"] == "image_url"


async def test_a_stranger_is_ignored(
        ui_server: UIServer, gateway: Gateway, channel: FakeChannel) -> None:
    await gateway.handle(message("hi", sender="+19990000"))
    await gateway.handle(message("/status", sender="+19990000"))
    await gateway.idle()
    assert channel.sent == [] and sessions(ui_server) == []
    assert ui_server.llm.requests == []


async def test_the_rate_limit_answers_politely_once_a_minute(
        ui_server: UIServer, channel: FakeChannel, state_file: Path) -> None:
    now = [1000.0]
    gateway = make_gateway(ui_server, channel, state_file, rate_per_minute=2,
                           clock=lambda: now[0])
    try:
        for _ in range(4):
            await gateway.handle(message("/help"))
        assert channel.texts()[:2] == [HELP, HELP]
        assert len(channel.texts()) == 3 and "more than 2 messages a minute" in (
            channel.texts()[2])
        await gateway.handle(message("/stop"))  # /stop always passes
        assert channel.texts()[-1] == "Nothing is running."
        now[0] += 61
        await gateway.handle(message("/help"))
        assert channel.texts()[-1] == HELP
    finally:
        await gateway.aclose()


async def test_a_slow_answer_says_working_once_first(
        ui_server: UIServer, channel: FakeChannel, state_file: Path) -> None:
    ui_server.llm.add(Reply.say("done at last", latency=1.0))
    gateway = make_gateway(ui_server, channel, state_file, progress_after=0.2)
    try:
        await gateway.handle(message("slow please"))
        await gateway.handle(message("and this?"))
        await gateway.idle()
    finally:
        await gateway.aclose()
    assert channel.texts() == ["Still working on your last message; /stop cancels it.",
                               WORKING, "done at last"]


async def test_a_permission_ask_is_denied_and_the_chat_told_why(
        ui_server: UIServer, gateway: Gateway, channel: FakeChannel) -> None:
    (ui_server.working_dir / ".env").write_text("TOKEN=abc\n")
    ui_server.llm.add(Reply.calls(ToolCall("read_file", {"path": ".env"})))
    ui_server.llm.add(Reply.say("I could not read it"))
    await gateway.handle(message("make a file"))
    await gateway.idle()
    texts = channel.texts()
    assert texts[0].startswith("The phone cannot approve read_file")
    assert texts[-1] == "I could not read it"
    denied = ui_server.llm.requests[-1].body["messages"][-1]
    assert denied["role"] == "tool" and "TOKEN=abc" not in json.dumps(denied)

