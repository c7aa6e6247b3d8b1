"""The gateway against a real ``moco ui`` server (and the scripted LLM behind it); only the
messaging channel is faked, by one that records what it would send."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from moco.gateway import Gateway, IncomingMessage, Media
from tests.web.conftest import UIServer, ui_server  # noqa: F401

OWNER = "+15550001"


@dataclass
class FakeChannel:
    """A channel that keeps what it would send: ``sent`` is ``[(chat_id, text)]``."""

    max_message_chars: int = 4000
    sent: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, Path, str | None]] = field(default_factory=list)

    async def send_text(self, chat_id: str, text: str) -> None:
        self.sent.append((chat_id, text))

    async def send_file(self, chat_id: str, path: Path, caption: str | None) -> None:
        self.files.append((chat_id, path, caption))

    def texts(self, chat_id: str = "chat-1") -> list[str]:
        return [text for chat, text in self.sent if chat == chat_id]


def message(text: str, *, chat_id: str = "chat-1", sender: str = OWNER,
            media: list[Media] | None = None) -> IncomingMessage:
    return IncomingMessage(chat_id=chat_id, sender=sender, text=text, media=media or [])


@pytest.fixture
def channel() -> FakeChannel:
    return FakeChannel()


@pytest.fixture
def state_file(moco_home: Path) -> Path:
    return moco_home / "gateway" / "chats.json"


def make_gateway(server: UIServer, channel: FakeChannel, state_file: Path,
                 **options: Any) -> Gateway:
    settings: dict[str, Any] = {"allowed_senders": [OWNER], "rate_per_minute": 30,
                                "state_file": state_file, **options}
    return Gateway(server.url, server.token, channel, **settings)


@pytest.fixture
async def gateway(ui_server: UIServer, channel: FakeChannel,  # noqa: F811
                  state_file: Path) -> AsyncIterator[Gateway]:
    gateway = make_gateway(ui_server, channel, state_file)
    try:
        yield gateway
    finally:
        await gateway.aclose()
