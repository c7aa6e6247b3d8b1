"""Provider clients kept and shared: one per endpoint (provider, key, base URL) and event loop.

An orchestrator keeps its own pool by default. Several orchestrators on one loop — the web
UI's sessions, a program running many teams — can share one, so each endpoint's client (its
connection pool, and the CA bundle its TLS context loads, ~25 ms) is made once; whoever
made the shared pool closes it.
"""

from __future__ import annotations

import asyncio
import dataclasses

from moco.config import ProviderSettings
from moco.providers.base import Provider
from moco.providers.registry import create_provider


class ProviderPool:
    def __init__(self) -> None:
        self._clients: dict[ProviderSettings, Provider] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self, settings: ProviderSettings) -> Provider:
        """The client for ``settings``' endpoint on the running loop (a client is bound to
        the loop it was made on; another loop gets new ones)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._clients, self._loop = {}, loop
        key = dataclasses.replace(settings, model="")
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = create_provider(
                settings.adapter, name=settings.name, api_key=settings.api_key,
                base_url=settings.base_url, key_var=settings.key_var,
            )
        return client

    def __len__(self) -> int:
        return len(self._clients)

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
