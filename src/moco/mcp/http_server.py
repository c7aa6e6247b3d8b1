"""``moco mcp serve --transport http``: the MCP server on streamable HTTP at ``/mcp``.

Safe by default: it binds to 127.0.0.1; a non-loopback host is refused unless
``--allow-remote`` is given, and then ``MOCO_MCP_TOKEN`` must be set. Whenever
``MOCO_MCP_TOKEN`` is set (on loopback too), every request must carry
``Authorization: Bearer <token>`` or is answered 401 — checked by a small ASGI middleware
around the SDK's streamable HTTP app, in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import uvicorn

from moco.errors import ConfigError
from moco.mcp.server import TOKEN_VAR, AgentService, build_server

#: the shortest token accepted when serving other machines
MIN_REMOTE_TOKEN = 16
MCP_PATH = "/mcp"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.x.x.x`` and ``::1`` are loopback; any other name or address is not."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def bearer_token(host: str, allow_remote: bool, env: Mapping[str, str]) -> str | None:
    """The token requests must carry (None: no check), or a ConfigError when ``host`` may
    not be served as asked."""
    token = (env.get(TOKEN_VAR) or "").strip() or None
    if is_loopback(host):
        return token
    if not allow_remote:
        raise ConfigError(
            f"refusing to listen on {host}: it is not a loopback address, so other machines "
            f"could run agents here — pass --allow-remote and set {TOKEN_VAR}, or use "
            "--host 127.0.0.1")
    if token is None or len(token) < MIN_REMOTE_TOKEN:
        raise ConfigError(
            f"--allow-remote needs a bearer token: set {TOKEN_VAR} to a secret of at least "
            f"{MIN_REMOTE_TOKEN} characters (e.g. `export {TOKEN_VAR}=$(openssl rand -hex 24)`)")
    return token


class BearerTokenGuard:
    """ASGI middleware: HTTP requests without ``Authorization: Bearer <token>`` get a 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            await _unauthorized(send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers") or ():
            if name.lower() == b"authorization":
                scheme, _, credentials = bytes(value).strip().partition(b" ")
                given = scheme.lower() + b" " + credentials.strip()
                return hmac.compare_digest(given, self._expected)
        return False


async def _unauthorized(send: Send) -> None:
    body = json.dumps({"error": f"missing or wrong bearer token — send "
                                f"'Authorization: Bearer ${TOKEN_VAR}'"}).encode()
    await send({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="moco"'),
    ]})
    await send({"type": "http.response.body", "body": body})


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``, or a one-line ConfigError."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, IndexError) as error:
        raise ConfigError(f"cannot listen on {host}:{port}: {_reason(error)}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {_reason(error)} — "
                          "choose another --port") from None
    return sock


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


async def serve_http(service: AgentService, sock: socket.socket, host: str,
                     token: str | None) -> None:
    """Serve streamable HTTP on ``sock`` until SIGINT/SIGTERM."""
    server = build_server(service)
    app: ASGIApp = server.streamable_http_app(streamable_http_path=MCP_PATH, host=host)
    if token is not None:
        app = BearerTokenGuard(app, token)
    config = uvicorn.Config(app, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=5)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"moco MCP server (profile {service.profile_name}) on http://{shown}:{port}{MCP_PATH}"
          + (" — bearer token required" if token else ""), file=sys.stderr, flush=True)
    if not is_loopback(host):
        print("note: plain HTTP — the token and the tasks cross the network unencrypted; put "
              "a TLS proxy in front or use an SSH tunnel", file=sys.stderr, flush=True)
    await _UvicornServer(config, service).serve(sockets=[sock])


class _UvicornServer(uvicorn.Server):
    """uvicorn's server, closing the agent service (the MCP servers the profile started) on
    shutdown — before uvicorn re-raises the signal that stopped it."""

    def __init__(self, config: uvicorn.Config, service: AgentService) -> None:
        super().__init__(config)
        self.service = service

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().shutdown(sockets)
        finally:
            await self.service.aclose()
