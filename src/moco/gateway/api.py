"""The web UI's HTTP API as the gateway uses it (docs/web-api.md), with the bearer token."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import httpx2

from moco.errors import MocoError
from moco.gateway.channel import Media


class UIError(MocoError):
    """The UI answered with an error (``detail`` is its readable line)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _checked(answer: httpx2.Response) -> Any:
    if answer.status_code >= 400:
        try:
            detail = str(answer.json().get("detail", answer.text))
        except ValueError:
            detail = answer.text
        raise UIError(answer.status_code, detail)
    return answer.json() if answer.content else None


class UIClient:
    """One async client for one UI server."""

    def __init__(self, api_url: str, token: str, *, timeout: float = 30.0) -> None:
        self.http = httpx2.AsyncClient(base_url=api_url.rstrip("/"), timeout=timeout,
                                       headers={"authorization": f"Bearer {token}"})

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, **options: Any) -> Any:
        return _checked(await self.http.request(method, f"/api{path}", **options))

    async def create_session(self, *, profile: str | None,
                             provider: str | None) -> dict[str, Any]:
        body = {key: value for key, value in (("profile", profile), ("provider", provider))
                if value}
        return dict(await self._call("POST", "/sessions", json=body))

    async def profiles(self) -> list[dict[str, Any]]:
        return list(await self._call("GET", "/profiles"))

    async def session(self, session_id: str) -> dict[str, Any]:
        return dict(await self._call("GET", f"/sessions/{session_id}"))

    async def upload(self, session_id: str, media: Media) -> str:
        files = {"file": (media.filename, media.data, media.media_type)}
        view = await self._call("POST", f"/sessions/{session_id}/uploads", files=files)
        return str(view["id"])

    async def send(self, session_id: str, text: str, attachments: list[str]) -> int:
        body: dict[str, Any] = {"text": text}
        if attachments:
            body["attachments"] = attachments
        accepted = await self._call("POST", f"/sessions/{session_id}/messages", json=body)
        return int(accepted["event_id"])

    async def cancel(self, session_id: str) -> bool:
        return bool((await self._call("POST", f"/sessions/{session_id}/cancel"))["cancelled"])

    async def set_model(self, session_id: str, model: str) -> dict[str, Any]:
        return dict(await self._call("PUT", f"/sessions/{session_id}/model",
                                     json={"model": model}))

    async def set_workdir(self, session_id: str, path: str) -> dict[str, Any]:
        return dict(await self._call("PUT", f"/sessions/{session_id}/workdir",
                                     json={"path": path}))

    async def deny(self, session_id: str, ask_id: str, message: str) -> None:
        try:
            await self._call("POST", f"/sessions/{session_id}/permissions/{ask_id}",
                             json={"choice": "deny", "message": message})
        except UIError as error:
            if error.status != 404:  # 404: answered elsewhere or withdrawn meanwhile
                raise

    async def events(self, session_id: str, after: int) -> AsyncGenerator[dict[str, Any], None]:
        """The session's events after ``after``, for as long as the caller reads."""
        path = f"/api/sessions/{session_id}/events"
        timeout = httpx2.Timeout(30.0, read=None)
        async with self.http.stream("GET", path, params={"after": after},
                                    timeout=timeout) as answer:
            if answer.status_code >= 400:
                await answer.aread()
                _checked(answer)
            data: list[str] = []
            async for line in answer.aiter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif line == "" and data:
                    yield dict(json.loads("\n".join(data)))
                    data = []
