"""The HTTP API against a running server and the scripted LLM server."""

from __future__ import annotations

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
