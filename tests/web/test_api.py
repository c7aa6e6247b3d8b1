"""The HTTP API against a running server and the scripted LLM server."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2

from moco.testing import Reply
from tests.web.conftest import UIServer, read_events


def test_a_message_streams_its_events_and_is_stored(ui_server: UIServer) -> None:
    ui_server.llm.add(Reply.say("Hello from the web"))
    with ui_server.client() as client:
        created = client.post("/api/sessions", json={})
        assert created.status_code == 201, created.text
        session = created.json()
        sent = client.post(f"/api/sessions/{session['id']}/messages", json={"text": "hi"})
        assert sent.status_code == 202, sent.text
        events = read_events(client, session["id"], after=sent.json()["event_id"] - 1)
        types = [e["type"] for e in events]
        assert types[0] == "turn_started" and types[-1] == "turn_finished"
        assert "run_started" in types and "run_finished" in types
        text = "".join(e["text"] for e in events if e["type"] == "text_delta")
        assert text == "Hello from the web"
        assert all(e["session_id"] == session["id"] for e in events)
        ids = [e["id"] for e in events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        stored = client.get(f"/api/sessions/{session['id']}").json()
        assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
        assert stored["live"]["running"] is False


def new_session(client: httpx2.Client, **fields: Any) -> dict[str, Any]:
    created = client.post("/api/sessions", json=fields)
    assert created.status_code == 201, created.text
    return dict(created.json())


def send(client: httpx2.Client, session_id: str, text: str, **fields: Any) -> int:
    sent = client.post(f"/api/sessions/{session_id}/messages", json={"text": text, **fields})
    assert sent.status_code == 202, sent.text
    return int(sent.json()["event_id"])


def turn(client: httpx2.Client, session_id: str, text: str, **fields: Any) -> list[dict[str, Any]]:
    first = send(client, session_id, text, **fields)
    return read_events(client, session_id, after=first - 1)


def test_stop_cancels_the_stream_and_the_session_goes_on(ui_server: UIServer) -> None:
    ui_server.llm.add(Reply.say("word " * 200, chunk_delay=0.02))
    ui_server.llm.add(Reply.say("second answer"))
    with ui_server.client() as client:
        session = new_session(client)
        first = send(client, session["id"], "tell a long story")
        seen: list[dict[str, Any]] = []
        with client.stream("GET", f"/api/sessions/{session['id']}/events",
                           params={"after": first - 1}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                    if seen[-1]["type"] == "text_delta" and len(seen) == 4:
                        stopped = client.post(f"/api/sessions/{session['id']}/cancel")
                        assert stopped.json() == {"cancelled": True}
                    if seen[-1]["type"] == "turn_finished":
                        break
        assert seen[-1] == {**seen[-1], "status": "cancelled"}
        streamed = "".join(e["text"] for e in seen if e["type"] == "text_delta")
        assert 0 < len(streamed) < len("word " * 200)
        assert client.post(f"/api/sessions/{session['id']}/cancel").json() == {
            "cancelled": False}
        again = turn(client, session["id"], "and now?")
        assert again[-1]["status"] == "completed"
        stored = client.get(f"/api/sessions/{session['id']}").json()["messages"]
        assert next(m["status"] for m in stored if m["role"] == "assistant") == "cancelled"


def test_a_second_message_while_running_is_refused(ui_server: UIServer) -> None:
    ui_server.llm.add(Reply.say("slow", latency=1.0))
    with ui_server.client() as client:
        session = new_session(client)
        first = send(client, session["id"], "one")
        busy = client.post(f"/api/sessions/{session['id']}/messages", json={"text": "two"})
        assert busy.status_code == 409
        assert "still answering" in busy.json()["detail"]
        assert read_events(client, session["id"], after=first - 1)[-1]["status"] == "completed"


def test_permission_asks_are_answered_over_the_api(ui_server: UIServer) -> None:
    (ui_server.working_dir / ".env").write_text("TOKEN=abc\n")
    ui_server.llm.add(Reply.call("read_file", {"path": ".env"}))
    ui_server.llm.add(Reply.call("read_file", {"path": ".env"}))
    ui_server.llm.add(Reply.say("done"))
    with ui_server.client() as client:
        session = new_session(client)
        first = send(client, session["id"], "read the env file")
        asks = read_events(client, session["id"], after=first - 1, until="permission_request")
        ask = asks[-1]
        assert ask["tool"] == "read_file" and ".env" in ask["description"]
        waiting = client.get(f"/api/sessions/{session['id']}/permissions").json()
        assert [w["ask_id"] for w in waiting] == [ask["ask_id"]]
        answered = client.post(f"/api/sessions/{session['id']}/permissions/{ask['ask_id']}",
                               json={"choice": "deny", "message": "not that file"})
        assert answered.json() == {"resolved": True}
        again = client.post(f"/api/sessions/{session['id']}/permissions/{ask['ask_id']}",
                            json={"choice": "once"})
        assert again.status_code == 404
        middle = read_events(client, session["id"], after=asks[-1]["id"],
                             until="permission_request")
        second = middle[-1]
        client.post(f"/api/sessions/{session['id']}/permissions/{second['ask_id']}",
                    json={"choice": "once"})
        rest = read_events(client, session["id"], after=second["id"])
        results = [e for e in [*middle, *rest] if e["type"] == "tool_call_finished"]
        assert results[0]["is_error"] and "not that file" in results[0]["result"]
        assert not results[-1]["is_error"] and "TOKEN" in results[-1]["result"]
        assert any(e["type"] == "permission_resolved" and e["choice"] == "once" for e in rest)
        assert rest[-1]["status"] == "completed"


def test_a_reconnecting_client_resumes_after_last_event_id(ui_server: UIServer) -> None:
    ui_server.llm.add(Reply.say("a b c d e f g h i j k l m n o p", chunk_delay=0.01))
    with ui_server.client() as client:
        session = new_session(client)
        first = send(client, session["id"], "letters")
        whole = read_events(client, session["id"], after=first - 1)
        cut = whole[5]["id"]
        resumed = read_events(client, session["id"],
                              headers={"last-event-id": str(cut)})
        assert [e["id"] for e in resumed] == [e["id"] for e in whole[6:]]
        old = read_events(client, session["id"], headers={"last-event-id": "7"},
                          until="reset")
        assert old[0]["type"] == "reset" and old[0]["last_event_id"] == whole[-1]["id"]


def test_a_reloading_page_learns_where_the_running_turn_began(ui_server: UIServer) -> None:
    ui_server.llm.add(Reply.say("first"))
    ui_server.llm.add(Reply.say("x " * 100, chunk_delay=0.03))
    with ui_server.client() as client:
        session = new_session(client)
        turn(client, session["id"], "one")
        first = send(client, session["id"], "two")
        time.sleep(0.3)
        live = client.get(f"/api/sessions/{session['id']}").json()
        assert live["live"]["running"] is True
        assert live["live"]["run_start_event_id"] == first
        assert live["live"]["history_seq"] == 2  # the first turn's user and assistant
        replay = read_events(client, session["id"], after=first - 1)
        assert replay[0]["type"] == "turn_started" and replay[0]["text"] == "two"


def test_errors_reach_the_stream_and_the_session_stays_usable(ui_server: UIServer) -> None:
    for _ in range(8):
        ui_server.llm.add(Reply.error(500, "upstream broke", headers={"retry-after": "0"}))
    with ui_server.client() as client:
        session = new_session(client)
        events = turn(client, session["id"], "hi")
        assert events[-1]["type"] == "turn_finished" and events[-1]["status"] == "error"
        assert any(e["type"] == "error" for e in events)
        ui_server.llm.add(Reply.say("fine now"))
        assert turn(client, session["id"], "again")[-1]["status"] == "completed"


def test_bad_requests_get_one_readable_line(ui_server: UIServer) -> None:
    with ui_server.client() as client:
        missing = client.get("/api/sessions/nope")
        assert missing.status_code == 404 and "nope" in missing.json()["detail"]
        profile = client.post("/api/sessions", json={"profile": "no-such-profile"})
        assert profile.status_code == 400 and "no-such-profile" in profile.json()["detail"]
        keyless = client.post("/api/sessions", json={"provider": "anthropic"})
        assert keyless.status_code == 400 and "ANTHROPIC_API_KEY" in keyless.json()["detail"]
        empty = client.post("/api/sessions", json={})
        blank = client.post(f"/api/sessions/{empty.json()['id']}/messages", json={"text": " "})
        assert blank.status_code == 400


def test_two_sessions_stream_at_the_same_time(ui_server: UIServer) -> None:
    ui_server.llm.add(Reply.say("one " * 20, chunk_delay=0.03))
    ui_server.llm.add(Reply.say("two " * 20, chunk_delay=0.03))
    with ui_server.client() as client:
        a, b = new_session(client), new_session(client)
        first_a, first_b = send(client, a["id"], "a"), send(client, b["id"], "b")
        listing = {s["id"]: s["running"] for s in client.get("/api/sessions").json()}
        assert listing[a["id"]] and listing[b["id"]]
        events_a = read_events(client, a["id"], after=first_a - 1)
        events_b = read_events(client, b["id"], after=first_b - 1)
    assert events_a[-1]["status"] == events_b[-1]["status"] == "completed"
    assert {e["session_id"] for e in events_a} == {a["id"]}
    assert {e["session_id"] for e in events_b} == {b["id"]}


def test_a_delegation_streams_as_a_tree_of_runs(ui_server: UIServer) -> None:
    from moco.testing import RoutedScript

    profile = ui_server.working_dir / ".moco" / "profiles" / "team"
    (profile / "agents").mkdir(parents=True)
    (profile / "agents" / "lead.md").write_text(
        "---\ndescription: lead\nmode: primary\n---\nYou are lead.\n")
    (profile / "agents" / "scout.md").write_text(
        "---\ndescription: looks around\nmode: subagent\ntools: [list_dir]\n---\n"
        "You are scout.\n")
    ui_server.llm.use(RoutedScript({
        "You are lead.": [Reply.call("delegate_to_agent",
                                     {"agent_name": "scout", "task": "look"}),
                          Reply.say("the scout looked")],
        "You are scout.": [Reply.call("list_dir", {"path": "."}), Reply.say("found .moco")],
    }))
    with ui_server.client() as client:
        session = new_session(client, profile="team")
        events = turn(client, session["id"], "go")
    delegated = next(e for e in events if e["type"] == "agent_delegated")
    root_run = delegated["run_id"]
    child_run = delegated["child_run_id"]
    listed = next(e for e in events if e["type"] == "tool_call_started"
                  and e["name"] == "list_dir")
    assert listed["run_id"] == child_run and listed["parent_run_id"] == root_run
    returned = next(e for e in events if e["type"] == "agent_returned")
    assert returned["child_run_id"] == child_run and returned["status"] == "completed"
    assert events[-1]["status"] == "completed"
