"""``moco mcp serve --transport http``: the MCP server on streamable HTTP at ``/mcp``.

Safe by default: it binds to 127.0.0.1; a non-loopback host is refused unless
``--allow-remote`` is given, and then ``MOCO_MCP_TOKEN`` (or ``--token``) must be set. On
loopback a random token is made when none is given (printed as a URL with ``?token=`` and
as the header to send, like Jupyter's; ``--no-token`` serves without one). Every request
must carry ``Authorization: Bearer <token>`` or ``?token=<token>`` or is answered 401, in
constant time; on a loopback address (any of 127/8, ``::1``, ``localhost``) the Host header
must name that address and an Origin header a loopback one, or the request is answered 421
or 403 — a web page cannot reach the server through DNS rebinding. Both checks are small
ASGI middlewares around the SDK's streamable HTTP app.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qs

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


def choose_token(host: str, allow_remote: bool, env: Mapping[str, str], *,
                 token: str | None = None, no_token: bool = False) -> tuple[str | None, bool]:
    """The token to require and whether it was made here: ``--token`` > ``--no-token`` >
    ``MOCO_MCP_TOKEN`` > a new random one. A ConfigError as :func:`bearer_token`."""
    if token is not None:
        env = {**env, TOKEN_VAR: token}
    elif no_token:
        env = {name: value for name, value in env.items() if name != TOKEN_VAR}
    found = bearer_token(host, allow_remote, env)
    if found is not None or no_token:
        return found, False
    return secrets.token_urlsafe(24), True


def loopback_hosts(host: str, port: int) -> frozenset[str]:
    """The Host header values a server on loopback ``host:port`` answers."""
    bare = host.strip().strip("[]").lower()
    names = {"127.0.0.1", "localhost", "[::1]", f"[{bare}]" if ":" in bare else bare}
    return frozenset(f"{name}:{port}" for name in names)


class LoopbackHostGuard:
    """ASGI middleware against DNS rebinding: the Host header must be one of ``hosts``
    (else 421) and an Origin header, when sent, ``http://`` one of them (else 403)."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts
        self.origins = frozenset(f"http://{name}" for name in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = _header(scope, b"host")
            origin = _header(scope, b"origin")
            if host is None or host.lower() not in self.hosts:
                await _refuse(send, 421, f"wrong Host header {host!r}: this server answers "
                                         f"only {', '.join(sorted(self.hosts))}")
                return
            if origin is not None and origin.lower() not in self.origins:
                await _refuse(send, 403, f"requests from the web origin {origin!r} are "
                                         "not allowed")
                return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1").strip()
    return None


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BearerTokenGuard:
    """ASGI middleware: HTTP requests without ``Authorization: Bearer <token>`` (or
    ``?token=<token>`` in the URL) get a 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"bearer {token}".encode()
        self._token = token.encode()

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
        query = parse_qs(bytes(scope.get("query_string") or b"").decode("latin-1"))
        given_tokens = query.get("token") or [""]
        return hmac.compare_digest(given_tokens[-1].encode("latin-1"), self._token)


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


def guarded_app(app: ASGIApp, host: str, port: int, token: str | None) -> ASGIApp:
    """``app`` behind the token check and, on loopback, the Host/Origin check."""
    if token is not None:
        app = BearerTokenGuard(app, token)
    if is_loopback(host):
        app = LoopbackHostGuard(app, loopback_hosts(host, port))
    return app


async def serve_http(service: AgentService, sock: socket.socket, host: str,
                     token: str | None, *, generated: bool = False) -> None:
    """Serve streamable HTTP on ``sock`` until SIGINT/SIGTERM."""
    server = build_server(service)
    port = sock.getsockname()[1]
    app = guarded_app(server.streamable_http_app(streamable_http_path=MCP_PATH, host=host),
                      host, port, token)
    config = uvicorn.Config(app, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=5)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}{MCP_PATH}"
    print(f"moco MCP server (profile {service.profile_name}) on {url}"
          + (" — bearer token required" if token and not generated else "")
          + (" — no token: any local program can run agents" if token is None else ""),
          file=sys.stderr, flush=True)
    if token is not None and generated:
        print(f"    {url}?token={token}\n  or send the header  Authorization: Bearer {token}\n"
              f"  (set {TOKEN_VAR} or --token to choose it, --no-token to serve without)",
              file=sys.stderr, flush=True)
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
