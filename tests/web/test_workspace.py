"""Sessions shared with the CLI, the model, checkpoints, the file view, uploads and usage."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from moco.core.orchestrator import Orchestrator
from moco.testing import Reply
from tests.fixtures.media import png_bytes
from tests.web.conftest import UIServer
from tests.web.test_api import new_session, turn


def test_sessions_of_the_cli_are_listed_searched_renamed_exported_deleted(
        ui_server: UIServer) -> None:
    ui_server.llm.add(Reply.say("The capital is Paris."))
    env = {**os.environ, "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": ui_server.llm.base_url}
    orchestrator = Orchestrator(provider="openai", working_dir=ui_server.working_dir, env=env)
    assert orchestrator.run_sync("What is the capital of France?") == "The capital is Paris."
    cli_session = orchestrator.session_id
    with ui_server.client() as client:
        web = new_session(client, name="web-one")
        listed = [s["id"] for s in client.get("/api/sessions").json()]
        assert cli_session in listed and web["id"] in listed
        found = [s["id"] for s in client.get("/api/sessions", params={"q": "paris"}).json()]
        assert found == [cli_session]
        assert [s["id"] for s in client.get("/api/sessions",
                                            params={"q": "web-one"}).json()] == [web["id"]]
        renamed = client.patch(f"/api/sessions/{cli_session}", json={"name": "france"})
        assert renamed.json()["name"] == "france"
        assert client.get("/api/sessions/france").json()["id"] == cli_session
        markdown = client.get(f"/api/sessions/{cli_session}/export")
        assert "Paris" in markdown.text
        assert "attachment" in markdown.headers["content-disposition"]
        exported = client.get(f"/api/sessions/{cli_session}/export", params={"format": "json"})
        assert exported.json()["session"]["id"] == cli_session
        assert client.delete(f"/api/sessions/{web['id']}").status_code == 204
        assert client.get(f"/api/sessions/{web['id']}").status_code == 404
    assert orchestrator.sessions.get_session("web-one") is None


def test_a_cli_session_continues_in_the_browser(ui_server: UIServer) -> None:
    ui_server.llm.add(Reply.say("noted"), Reply.say("you said bananas"))
    env = {**os.environ, "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": ui_server.llm.base_url}
    orchestrator = Orchestrator(provider="openai", working_dir=ui_server.working_dir, env=env)
    orchestrator.run_sync("remember: bananas")
    with ui_server.client() as client:
        events = turn(client, str(orchestrator.session_id), "what did I say?")
    assert events[-1]["status"] == "completed"
    sent = ui_server.llm.requests[-1].body["messages"]
    assert any("bananas" in str(m.get("content")) for m in sent if m["role"] == "user")


def test_the_model_switch_is_used_from_the_next_turn(ui_server: UIServer) -> None:
    ui_server.llm.add(Reply.say("a"), Reply.say("b"))
    with ui_server.client() as client:
        session = new_session(client, model="first-model")
        assert session["model"] == "first-model"
        turn(client, session["id"], "one")
        switched = client.put(f"/api/sessions/{session['id']}/model",
                              json={"model": "second-model"})
        assert switched.json()["model"] == "second-model"
        turn(client, session["id"], "two")
    assert [r.body["model"] for r in ui_server.llm.requests] == ["first-model", "second-model"]


def test_checkpoints_save_and_restore_the_files(ui_server: UIServer) -> None:
    target = ui_server.working_dir / "notes.txt"
    ui_server.llm.add(Reply.say("nothing yet"),
                      Reply.call("write_file", {"path": "notes.txt", "content": "changed\n"}),
                      Reply.say("written"))
    with ui_server.client() as client:
        session = new_session(client)
        turn(client, session["id"], "hello")
        saved = client.post(f"/api/sessions/{session['id']}/checkpoints", json={"name": "before"})
        assert saved.status_code == 201 and saved.json()["name"] == "before"
        turn(client, session["id"], "write the notes")
        assert target.read_text() == "changed\n"
        listed = client.get(f"/api/sessions/{session['id']}/checkpoints").json()
        assert [c["name"] for c in listed] == ["before"]
        restored = client.post(f"/api/sessions/{session['id']}/checkpoints/before/restore")
        assert restored.status_code == 200, restored.text
        assert str(target) in restored.json()["removed"]
        missing = client.post(f"/api/sessions/{session['id']}/checkpoints/nope/restore")
        assert missing.status_code == 404
    assert not target.exists()


def test_the_file_view_stays_inside_the_folder_and_hides_secrets(
        ui_server: UIServer, tmp_path: Path) -> None:
    folder = ui_server.working_dir
    (folder / "src").mkdir()
    (folder / "src" / "app.py").write_text("print('hi')\n")
    (folder / ".env").write_text("OPENAI_API_KEY=sk-secret\n")
    (tmp_path / "outside.txt").write_text("private")
    (folder / "link").symlink_to(tmp_path / "outside.txt")
    with ui_server.client() as client:
        session = new_session(client)
        base = f"/api/sessions/{session['id']}"
        listing = client.get(f"{base}/files").json()
        assert {"name": "src", "type": "dir", "size": None} in listing["entries"]
        shown = client.get(f"{base}/file", params={"path": "src/app.py"}).json()
        assert shown["text"] == "print('hi')\n" and shown["binary"] is False
        for escape in ("../outside.txt", "link", "/etc/passwd", "src/../../outside.txt"):
            refused = client.get(f"{base}/file", params={"path": escape})
            assert refused.status_code in (403, 404), escape
            assert "private" not in refused.text
        secret = client.get(f"{base}/file", params={"path": ".env"})
        assert secret.status_code == 403 and "sk-secret" not in secret.text
        moved = client.put(f"{base}/workdir", json={"path": "src"})
        assert moved.json()["working_dir"] == str(folder / "src")
        assert client.get(f"{base}/files").json()["entries"][0]["name"] == "app.py"
        nowhere = client.put(f"{base}/workdir", json={"path": "missing"})
        assert nowhere.status_code == 400


def test_uploads_are_kept_and_text_documents_and_images_reach_the_model(
        ui_server: UIServer) -> None:
    ui_server.llm.add(Reply.say("I read it"))
    png = png_bytes()
    with ui_server.client() as client:
        session = new_session(client)
        base = f"/api/sessions/{session['id']}"
        doc = client.post(f"{base}/uploads", files={"file": ("plan.md", b"# Plan\nship it\n",
                                                             "text/markdown")})
        assert doc.status_code == 201 and doc.json()["kind"] == "text"
        image = client.post(f"{base}/uploads", files={"file": ("shot.png", png, "image/png")})
        assert image.json()["kind"] == "image"
        refused = client.post(f"{base}/uploads",
                              files={"file": ("tool.exe", b"MZ\0\0", "application/x-dosexec")})
        assert refused.status_code == 413 and "tool.exe" in refused.json()["detail"]
        fetched = client.get(f"{base}/uploads/{image.json()['id']}")
        assert fetched.content == png and fetched.headers["content-type"] == "image/png"
        assert len(client.get(f"{base}/uploads").json()) == 2
        events = turn(client, session["id"], "see attached",
                      attachments=[doc.json()["id"], image.json()["id"]])
        assert [a["name"] for a in events[0]["attachments"]] == ["plan.md", "shot.png"]
    asked = ui_server.llm.requests[-1].body["messages"][-1]["content"]
    assert "ship it" in asked[0]["text"] and "[The user attached shot.png" in asked[0]["text"]
    assert asked[1] == {"type": "image_url", "image_url": {
        "url": "data:image/png;base64," + base64.b64encode(png).decode()}}
    with ui_server.client() as client:  # the stored message keeps the image for a resumed turn
        history = client.get(f"/api/sessions/{session['id']}").json()["messages"]
    assert [p["type"] for p in history[0]["message"]["parts"]] == ["text", "image"]


def test_usage_counts_the_tokens_of_each_agent(ui_server: UIServer) -> None:
    ui_server.llm.add(Reply.say("ok", input_tokens=120, output_tokens=30))
    with ui_server.client() as client:
        session = new_session(client)
        turn(client, session["id"], "count")
        usage = client.get(f"/api/sessions/{session['id']}/usage").json()
        assert (usage["input_tokens"], usage["output_tokens"]) == (120, 30)
        assert usage["agents"][0]["runs"] == 1
        total = client.get("/api/usage").json()
        assert total["input_tokens"] >= 120 and total["sessions"] >= 1
        view = client.get(f"/api/sessions/{session['id']}").json()
        assert view["input_tokens"] == 120


def test_reference_data_lists_profiles_and_providers_without_keys(
        ui_server: UIServer) -> None:
    with ui_server.client() as client:
        profiles = {p["name"] for p in client.get("/api/profiles").json()}
        assert {"default", "code"} <= profiles
        providers = {p["name"]: p for p in client.get("/api/providers").json()}
        assert providers["openai"]["configured"] and providers["openai"]["is_default"]
        assert not providers["anthropic"]["configured"]
        assert "sk-test" not in client.get("/api/providers").text
        info = client.get("/api/info").json()
        assert info["default_provider"] == "openai"


def test_sessions_share_one_provider_client_per_endpoint(ui_server: UIServer) -> None:
    ui_server.llm.add(Reply.say("a"), Reply.say("b"))
    with ui_server.client() as client:
        first, second = new_session(client), new_session(client)
        turn(client, first["id"], "one")
        turn(client, second["id"], "two")
    # made by the first session's turn, used by the second's (0 if they kept their own)
    assert len(ui_server.app.state.service.provider_pool) == 1
