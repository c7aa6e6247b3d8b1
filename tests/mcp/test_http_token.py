"""``moco mcp serve --transport http`` against the real server on a loopback port: a token
is made by default and required on every request; the Host/Origin check covers every
loopback address (127.0.0.2 too), so DNS rebinding cannot reach it."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from moco.mcp.http_server import choose_token, loopback_hosts
from moco.testing import ScriptedOpenAIServer
from tests.mcp import free_port

INITIALIZE = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "test", "version": "1"}}}).encode()


@pytest.fixture
def env(moco_home: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    with ScriptedOpenAIServer([]) as llm:
        clean = {k: v for k, v in os.environ.items()
                 if not k.endswith(("_API_KEY", "_BASE_URL")) and k != "MOCO_MCP_TOKEN"}
        yield {**clean, "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": llm.base_url,
               "MOCO_HOME": str(moco_home)}


@contextmanager
def server(env: dict[str, str], project: Path, host: str, *flags: str) -> Iterator[
        tuple[int, str]]:
    """The server on ``host``; yields its port and what it printed up to the URL lines."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moco", "mcp", "serve", "--transport", "http", "--host", host,
         "--port", str(port), "-w", str(project), *flags],
        env=env, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    printed = ""
    try:
        for _ in range(20):  # bounded: the start-up lines, or the end of a failed start
            line = process.stderr.readline()
            printed += line
            said = "no token" in line or "token required" in line
            if not line or "Authorization: Bearer" in line or (
                    "moco MCP server" in line and said):
                break
        if process.poll() is not None:
            pytest.fail(f"moco mcp serve exited: {printed}")
        yield port, printed
    finally:
        process.terminate()
        process.wait(timeout=15)
        process.stderr.close()


def request(host: str, port: int, headers: dict[str, str], path: str = "/mcp") -> int:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        for _ in range(50):  # the port is bound before uvicorn answers: retry refusals only
            try:
                connection.request("POST", path, INITIALIZE, headers={
                    "Content-Type": "application/json",
                    "Accept": "application/json, text/event-stream", **headers})
                break
            except ConnectionRefusedError:
                connection.close()
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_a_token_is_made_printed_and_required(env: dict[str, str], tmp_path: Path) -> None:
    with server(env, tmp_path, "127.0.0.1") as (port, printed):
        found = re.search(r"\?token=(\S+)", printed)
        assert found, printed
        token = found.group(1)
        assert f"Authorization: Bearer {token}" in printed
        assert request("127.0.0.1", port, {}) == 401
        assert request("127.0.0.1", port, {"Authorization": "Bearer wrong"}) == 401
        assert request("127.0.0.1", port, {"Authorization": f"Bearer {token}"}) == 200
        assert request("127.0.0.1", port, {}, f"/mcp?token={token}") == 200
        evil = {"Authorization": f"Bearer {token}", "Host": f"evil.example:{port}"}
        assert request("127.0.0.1", port, evil) == 421
        origin = {"Authorization": f"Bearer {token}", "Origin": "http://evil.example"}
        assert request("127.0.0.1", port, origin) == 403
        local = {"Authorization": f"Bearer {token}", "Origin": f"http://localhost:{port}"}
        assert request("127.0.0.1", port, local) == 200


def test_every_loopback_address_checks_the_host(env: dict[str, str], tmp_path: Path) -> None:
    with server(env, tmp_path, "127.0.0.2", "--token", "chosen-token-123") as (port, _):
        token = {"Authorization": "Bearer chosen-token-123"}
        assert request("127.0.0.2", port, {}) == 401
        assert request("127.0.0.2", port, {**token, "Host": f"rebound.example:{port}"}) == 421
        assert request("127.0.0.2", port, {**token, "Origin": "http://rebound.example"}) == 403
        assert request("127.0.0.2", port, token) == 200


@pytest.mark.slow
def test_no_token_serves_without_one_on_loopback_only(
    env: dict[str, str], tmp_path: Path
) -> None:
    with server(env, tmp_path, "127.0.0.1", "--no-token") as (port, printed):
        assert "no token" in printed
        assert request("127.0.0.1", port, {}) == 200
        assert request("127.0.0.1", port, {"Host": f"evil.example:{port}"}) == 421


def test_choosing_the_token() -> None:
    made, generated = choose_token("127.0.0.1", False, {})
    assert generated and made and len(made) >= 24
    assert choose_token("127.0.0.1", False, {"MOCO_MCP_TOKEN": "env"}) == ("env", False)
    assert choose_token("127.0.0.1", False, {"MOCO_MCP_TOKEN": "env"}, token="flag") == (
        "flag", False)
    assert choose_token("::1", False, {"MOCO_MCP_TOKEN": "env"}, no_token=True) == (None, False)
    with pytest.raises(Exception, match="needs a bearer token"):
        choose_token("0.0.0.0", True, {}, no_token=True)
    assert loopback_hosts("127.0.0.2", 80) == {"127.0.0.1:80", "localhost:80", "[::1]:80",
                                                 "127.0.0.2:80"}
    assert "[::1]:80" in loopback_hosts("::1", 80)
