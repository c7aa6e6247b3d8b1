"""A real ``moco ui`` server (uvicorn, in a thread) on 127.0.0.1, in front of a scripted LLM."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from moco.testing import ScriptedOpenAIServer
from moco.web.auth import CSRF_HEADER, Access
from moco.web.service import UIOptions

TOKEN = "test-token-0123456789"


@dataclass
class UIServer:
    url: str
    token: str
    access: Access
    llm: ScriptedOpenAIServer
    working_dir: Path
    app: Any

    def client(self, **options: Any) -> httpx2.Client:
        """A program's client: the bearer token on every request."""
        return httpx2.Client(base_url=self.url, timeout=10,
                             headers={"authorization": f"Bearer {self.token}"}, **options)

    def browser_headers(self) -> dict[str, str]:
        """What the page sends: the cookie and the CSRF header."""
        return {"cookie": f"moco_token={self.token}; moco_csrf={self.access.csrf}",
                CSRF_HEADER: self.access.csrf}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(app: Any, port: int) -> tuple[Any, threading.Thread]:
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the UI server did not start")
        time.sleep(0.02)
    return server, thread


def ui_options(llm: ScriptedOpenAIServer, working_dir: Path, **options: Any) -> UIOptions:
    import os

    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": llm.base_url}
    for var in ("ZAI_API_KEY", "OPENROUTER_API_KEY", "GEMINI_API_KEY", "GENAI_API_KEY",
                "ANTHROPIC_API_KEY", "MOCO_DEFAULT_PROVIDER"):
        env.pop(var, None)
    return UIOptions(working_dir=working_dir, provider="openai", env=env, **options)


@pytest.fixture
def ui_server(tmp_path: Path, scripted_openai: ScriptedOpenAIServer,
              request: pytest.FixtureRequest) -> Iterator[UIServer]:
    from moco.web.app import create_app

    marker = request.node.get_closest_marker("ui_options")
    extra = dict(marker.kwargs) if marker else {}
    working_dir = tmp_path / "project"
    working_dir.mkdir()
    port = free_port()
    access = Access(token=TOKEN, port=port)
    app = create_app(ui_options(scripted_openai, working_dir, **extra), access)
    server, thread = start_server(app, port)
    try:
        yield UIServer(f"http://127.0.0.1:{port}", TOKEN, access, scripted_openai,
                       working_dir, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def read_events(client: httpx2.Client, session_id: str, *, after: int | None = None,
                until: str = "turn_finished", headers: dict[str, str] | None = None,
                limit: float = 20.0) -> list[dict[str, Any]]:
    """The session's events (each with its ``id``) up to the first of type ``until``."""
    import json

    params = {} if after is None else {"after": after}
    found: list[dict[str, Any]] = []
    with client.stream("GET", f"/api/sessions/{session_id}/events", params=params,
                       headers=headers or {}, timeout=limit) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        event: dict[str, Any] = {}
        for line in answer.iter_lines():
            if line.startswith("id: "):
                event["id"] = int(line[4:])
            elif line.startswith("data: "):
                event.update(json.loads(line[6:]))
            elif line == "" and event:
                found.append(event)
                if event.get("type") == until:
                    return found
                event = {}
    return found
