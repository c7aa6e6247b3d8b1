"""Only the token's holder gets in: bearer or login cookie, Host and Origin checked, CSRF,
no CORS, and a page that cannot be framed or made to run foreign script."""

from __future__ import annotations

import httpx2

from tests.web.conftest import UIServer


def raw(server: UIServer, **options: object) -> httpx2.Client:
    return httpx2.Client(base_url=server.url, timeout=10, **options)  # type: ignore[arg-type]


def test_the_api_refuses_a_missing_or_wrong_token(ui_server: UIServer) -> None:
    with raw(ui_server) as client:
        missing = client.get("/api/sessions")
        assert missing.status_code == 401 and "token" in missing.json()["detail"]
        wrong = client.get("/api/sessions", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        cookie = client.get("/api/sessions", headers={"cookie": "moco_token=nope"})
        assert cookie.status_code == 401
        stream = client.get("/api/sessions/x/events")
        assert stream.status_code == 401
        assert client.get("/docs").status_code == 401
    with ui_server.client() as client:
        assert client.get("/api/sessions").status_code == 200
        assert "/api/sessions/{session_id}/cancel" in client.get("/openapi.json").json()["paths"]
        assert client.get("/docs").status_code == 200


def test_the_login_url_sets_the_cookies_and_drops_the_token_from_the_address(
        ui_server: UIServer) -> None:
    with raw(ui_server) as client:
        bad = client.get("/", params={"token": "guess"})
        assert bad.status_code == 401 and "moco_token" not in bad.headers.get("set-cookie", "")
        login = client.get("/", params={"token": ui_server.token})
        assert login.status_code == 303 and login.headers["location"] == "/"
        cookies = login.headers.get_list("set-cookie")
        token_cookie = next(c for c in cookies if c.startswith("moco_token="))
        assert "HttpOnly" in token_cookie and "SameSite=strict" in token_cookie
        assert any(c.startswith("moco_csrf=") and "HttpOnly" not in c for c in cookies)
        page = client.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()


def test_a_cookie_request_that_changes_something_needs_the_csrf_header(
        ui_server: UIServer) -> None:
    headers = ui_server.browser_headers()
    cookie_only = {"cookie": headers["cookie"]}
    with raw(ui_server) as client:
        assert client.get("/api/sessions", headers=cookie_only).status_code == 200
        forged = client.post("/api/sessions", json={}, headers=cookie_only)
        assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
        wrong = client.post("/api/sessions", json={},
                            headers={**cookie_only, "x-moco-csrf": "0" * 32})
        assert wrong.status_code == 403
        foreign = client.post("/api/sessions", json={},
                              headers={**headers, "origin": "http://evil.example"})
        assert foreign.status_code == 403 and "evil.example" in foreign.json()["detail"]
        own = client.post("/api/sessions", json={},
                          headers={**headers, "origin": ui_server.url})
        assert own.status_code == 201


def test_another_host_name_is_refused_against_dns_rebinding(ui_server: UIServer) -> None:
    with ui_server.client() as client:
        rebound = client.get("/api/sessions", headers={"host": "attacker.example:80"})
        assert rebound.status_code == 421
        page = client.get("/", headers={"host": "attacker.example"})
        assert page.status_code == 421
        port = ui_server.url.rsplit(":", 1)[1]
        assert client.get("/api/info", headers={"host": f"localhost:{port}"}).status_code == 200


def test_cors_stays_closed_and_the_page_sends_its_security_headers(
        ui_server: UIServer) -> None:
    with ui_server.client() as client:
        preflight = client.options("/api/sessions", headers={
            "origin": "http://evil.example", "access-control-request-method": "POST"})
        assert "access-control-allow-origin" not in preflight.headers
        answer = client.get("/api/info", headers={"origin": "http://evil.example"})
        assert "access-control-allow-origin" not in answer.headers
    with raw(ui_server) as client:
        page = client.get("/")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["x-content-type-options"] == "nosniff"


def test_the_page_is_sent_compressed_and_the_stream_is_not(ui_server: UIServer) -> None:
    with raw(ui_server, headers={"accept-encoding": "gzip"}) as client:
        script = client.get("/static/app.js")
        assert script.status_code == 200 and script.headers["content-encoding"] == "gzip"
    with ui_server.client() as client:
        session = client.post("/api/sessions", json={}).json()
        with client.stream("GET", f"/api/sessions/{session['id']}/events",
                           headers={"accept-encoding": "gzip"}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in stream.headers
