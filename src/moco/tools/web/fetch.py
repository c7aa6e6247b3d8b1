"""Fetching a URL for ``web_fetch``: guarded connections, manual redirects, bounded reads.

The address guard sits where the connection is made, in an ``httpcore2`` network backend:
the host is resolved here with ``loop.getaddrinfo``, every address of the answer is checked,
and the socket is opened to a checked address, while TLS still verifies (and SNI and the
``Host`` header still name) the host of the URL. Every new connection goes through it, so
each redirect hop and each DNS answer is checked; there is no window between the check and
the connect (no TOCTOU), because nothing is resolved twice. Proxies from the environment
are not used (``trust_env=False``): a proxy would resolve the name where the guard cannot
see it. Redirects are followed by hand, at most ``max_redirects``, only to http(s) URLs.

Private (RFC 1918, unique-local), loopback, link-local (cloud metadata at 169.254.169.254),
carrier-grade NAT, multicast, unspecified and reserved addresses are refused unless
``web: {allow_private: true}`` / ``MOCO_WEB_ALLOW_PRIVATE=1`` (:mod:`.settings`).

The body is read as a stream and reading stops at ``max_bytes`` (the result says it was
cut); the whole fetch, connecting and every hop included, has one deadline (``timeout``).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moco.errors import ToolError
from moco.tools.context import ToolContext
from moco.tools.web.settings import WebSettings

if TYPE_CHECKING:
    import httpcore2
    import httpx2

USER_AGENT = "moco/0.1 (web_fetch; +https://github.com/moco)"
ACCEPT = ("text/markdown, text/html;q=0.9, application/xhtml+xml;q=0.9, application/json;q=0.9, "
          "text/plain;q=0.8, application/pdf;q=0.8, */*;q=0.5")
PRIVATE_HINT = ("private, loopback and link-local addresses are refused; the user can allow "
                "them with web: {allow_private: true} in profile.yaml or MOCO_WEB_ALLOW_PRIVATE=1")
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
CHUNK = 65_536


class BlockedAddress(ToolError):
    """The URL's host is, or resolves to, an address the settings do not allow."""


@dataclass(slots=True)
class Fetched:
    """What a fetch read: the final URL, its media type and charset, and the body."""

    url: str
    status: int
    media_type: str
    charset: str | None
    body: bytes
    #: the body is longer than ``max_bytes``: reading stopped there
    cut: bool = False
    #: the URLs that redirected, in order
    redirects: list[str] = field(default_factory=list)


def refusal(address: str) -> str | None:
    """Why ``address`` (an IP address) may not be fetched by default, or ``None``."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            ip = embedded
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "not a unicast public address"
    if ip.is_private or not ip.is_global:
        return "a private address"
    return None


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    loop = asyncio.get_running_loop()
    try:
        answer = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        import httpcore2

        raise httpcore2.ConnectError(f"cannot resolve {host}: {error}") from None
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in answer:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _guarded_backend(allow_private: bool) -> httpcore2.AsyncNetworkBackend:
    import httpcore2

    class GuardedBackend(httpcore2.AsyncNetworkBackend):
        """Resolves, checks every address, connects to a checked one (see module docstring)."""

        def __init__(self) -> None:
            self.inner = httpcore2.AnyIOBackend()
            #: (host, address) of every connection opened, for tests and diagnostics
            self.connected: list[tuple[str, str]] = []

        async def connect_tcp(
            self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109
            local_address: str | None = None,
            socket_options: Iterable[Any] | None = None,
        ) -> httpcore2.AsyncNetworkStream:
            addresses = await resolve(host, port)
            if not allow_private:
                for address in addresses:
                    reason = refusal(address)
                    if reason is not None:
                        shown = host if host == address else f"{host} ({address})"
                        raise BlockedAddress(f"refused {shown}: {reason}; {PRIVATE_HINT}")
            failure: Exception | None = None
            for address in addresses:
                try:
                    stream = await self.inner.connect_tcp(
                        address, port, timeout=timeout, local_address=local_address,
                        socket_options=socket_options)
                except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as error:
                    failure = error
                    continue
                self.connected.append((host, address))
                return stream
            raise failure or httpcore2.ConnectError(f"{host} has no address")

        async def connect_unix_socket(
            self, path: str, timeout: float | None = None,  # noqa: ASYNC109
            socket_options: Iterable[Any] | None = None,
        ) -> httpcore2.AsyncNetworkStream:
            raise BlockedAddress("unix sockets are not fetched")

        async def sleep(self, seconds: float) -> None:
            await self.inner.sleep(seconds)

    return GuardedBackend()


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One TLS context for every fetch and search: building one costs ~0.1 s (the system's
    certificates are loaded each time)."""
    import httpx2

    return httpx2.create_ssl_context(trust_env=False)


def guarded_client(settings: WebSettings) -> httpx2.AsyncClient:
    """An ``httpx2`` client whose every connection passes the address guard and which does
    not follow redirects by itself."""
    import httpcore2
    import httpx2

    transport = httpx2.AsyncHTTPTransport(verify=ssl_context(), trust_env=False)
    # the transport builds its pool without a way to pass a network backend: replace it
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=ssl_context(),
        network_backend=_guarded_backend(settings.allow_private),
        max_connections=10, keepalive_expiry=5.0,
    )
    return httpx2.AsyncClient(
        transport=transport, follow_redirects=False, trust_env=False,
        timeout=httpx2.Timeout(settings.timeout),
        headers={"User-Agent": USER_AGENT, "Accept": ACCEPT},
    )


def check_url(url: str) -> None:
    """Only absolute http(s) URLs with a host are fetched."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ToolError(f"{url!r} is not an http(s) URL; give a full URL such as "
                        "https://example.com/page")


async def fetch(ctx: ToolContext, url: str, settings: WebSettings) -> Fetched:
    """GET ``url`` with the settings' limits; raises :class:`ToolError` saying what failed."""
    import httpx2

    check_url(url)
    try:
        async with asyncio.timeout(settings.timeout), guarded_client(settings) as client:
            return await _follow(ctx, client, url, settings)
    except TimeoutError:
        raise ToolError(f"{url}: no complete answer within {settings.timeout:g} s "
                        "(web timeout); try again later or another source") from None
    except httpx2.TimeoutException:
        raise ToolError(f"{url}: timed out after {settings.timeout:g} s") from None
    except httpx2.HTTPError as error:
        raise ToolError(f"{url}: {type(error).__name__}: {error}") from None


async def _follow(
    ctx: ToolContext, client: httpx2.AsyncClient, url: str, settings: WebSettings
) -> Fetched:
    current, hops = url, []
    while True:
        if ctx.is_cancelled:
            raise ToolError("fetch cancelled")
        async with client.stream("GET", current) as response:
            location = response.headers.get("location")
            if response.status_code in REDIRECT_CODES and location:
                target = str(response.url.join(location))
                hops.append(current)
                if len(hops) > settings.max_redirects:
                    raise ToolError(f"{url}: more than {settings.max_redirects} redirects "
                                    f"({' -> '.join([*hops, target])})")
                check_url(target)
                current = target
                continue
            body, cut = await _read_capped(ctx, response, settings.max_bytes)
            media, charset = _content_type(response.headers.get("content-type", ""))
            return Fetched(str(response.url), response.status_code, media, charset, body, cut,
                           hops)


async def _read_capped(
    ctx: ToolContext, response: httpx2.Response, limit: int
) -> tuple[bytes, bool]:
    """The (decoded) body up to ``limit`` bytes, and whether more was left unread."""
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes(CHUNK):
        if ctx.is_cancelled:
            raise ToolError("fetch cancelled")
        if size + len(chunk) > limit:
            parts.append(chunk[: limit - size])
            return b"".join(parts), True
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts), False


def _content_type(header: str) -> tuple[str, str | None]:
    media, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip().strip("'\"") or None
    return media.strip().lower(), charset
