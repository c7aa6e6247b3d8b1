"""Who may talk to the web UI: a token, the Host and Origin checks, CSRF, and a closed CORS.

The UI runs commands on this machine, so every request but the page's static files needs the
token: a bearer header (programs) or the ``moco_token`` cookie (the page; set by opening the
``/?token=…`` URL ``moco ui`` prints, as Jupyter does). A cookie-authenticated request that
changes anything must also carry ``X-Moco-CSRF`` with the value of the ``moco_csrf`` cookie,
which only the page's own script can read, and an ``Origin`` (when the browser sends one) that
is the server's own. The ``Host`` header must name this server, so a DNS-rebinding page
cannot reach it under another name. No CORS header is ever sent.

It is a plain ASGI middleware, so streaming responses (SSE) pass through untouched.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_COOKIE = "moco_token"
CSRF_COOKIE = "moco_csrf"
CSRF_HEADER = "x-moco-csrf"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: paths anyone may fetch: the page and its assets hold no data, and the page must load to
#: show its login box
PUBLIC_PREFIXES = ("/static/",)
PUBLIC_PATHS = frozenset({"/", "/favicon.ico", "/favicon.svg"})

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def new_token() -> str:
    """A fresh token for one ``moco ui`` start."""
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    return host.strip("[]") in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


@dataclass(frozen=True)
class Access:
    """The token and the names this server answers to."""

    token: str
    port: int
    host: str = "127.0.0.1"
    #: more ``Host`` names to accept (``--allowed-host``); ``*`` accepts any (remote use)
    extra_hosts: tuple[str, ...] = ()
    secure_cookies: bool = False
    allowed: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        names = {*LOOPBACK_NAMES, self.host, *self.extra_hosts}
        accepted = set()
        for name in names:
            shown = f"[{name}]" if ":" in name and not name.startswith("[") else name
            accepted.update({shown.lower(), f"{shown}:{self.port}".lower()})
        object.__setattr__(self, "allowed", frozenset(accepted))

    @property
    def csrf(self) -> str:
        """The CSRF value: derived from the token, so every tab and restart with the same
        token agrees on it."""
        return hmac.new(self.token.encode(), b"moco-csrf", hashlib.sha256).hexdigest()[:32]

    def host_allowed(self, host: str) -> bool:
        return "*" in self.extra_hosts or host.lower() in self.allowed

    def token_matches(self, candidate: str | None) -> bool:
        if not candidate:
            return False
        return hmac.compare_digest(candidate.encode(), self.token.encode())


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header authenticates nothing
        return {}
    return {key: morsel.value for key, morsel in jar.items()}


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, credentials = value.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def _same_origin(origin: str, host: str, scheme: str) -> bool:
    parts = urlsplit(origin)
    return parts.netloc.lower() == host.lower() and parts.scheme in (scheme, "http", "https")


class AccessMiddleware:
    """Refuses what :class:`Access` does not allow; adds the security headers to answers."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            status, detail = refusal
            await _send_json(send, status, {"detail": detail})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", [])
                           if h[0].lower() != b"access-control-allow-origin"]
                message["headers"] = [*headers, *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """``(status, reason)`` when the request may not pass, else None."""
        headers = _headers(scope)
        host = headers.get("host", "")
        if not self.access.host_allowed(host):
            return 421, f"this server does not answer to the host '{host}'"
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        if method in SAFE_METHODS and (path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)):
            return None
        bearer = _bearer(headers)
        if bearer is not None:
            if self.access.token_matches(bearer):
                return None  # a program: browsers cannot send this header cross-site
            return 401, "wrong token — use the one moco ui printed (or MOCO_UI_TOKEN)"
        cookies = _cookies(headers)
        if not self.access.token_matches(cookies.get(TOKEN_COOKIE)):
            return 401, ("missing or wrong token — open the URL moco ui printed, or send "
                         "Authorization: Bearer <token>")
        if method in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None and not _same_origin(origin, host, scope.get("scheme", "http")):
            return 403, f"requests from {origin} are not accepted"
        sent = headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), self.access.csrf.encode()):
            return 403, "missing CSRF header — reload the page"
        return None


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(payload)).encode()), *SECURITY_HEADERS]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="moco"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def login_cookies(access: Access) -> Iterable[tuple[str, str, bool]]:
    """``(name, value, http_only)`` of the cookies a successful ``/?token=`` login sets."""
    yield TOKEN_COOKIE, access.token, True
    yield CSRF_COOKIE, access.csrf, False
