"""Which moco session each chat talks to, kept in a small JSON file so a restart keeps it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(slots=True)
class ChatState:
    """A chat's session and what its next session is created with."""

    session_id: str | None = None
    profile: str | None = None
    provider: str | None = None


class ChatStore:
    """``chat id -> ChatState`` in ``path`` (``MOCO_HOME/gateway/chats.json``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._chats: dict[str, ChatState] = {}
        if path.exists():
            raw = json.loads(path.read_text(encoding="utf-8"))
            self._chats = {chat: ChatState(**fields) for chat, fields in raw.items()}

    def get(self, chat_id: str) -> ChatState:
        return self._chats.setdefault(chat_id, ChatState())

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = self.path.with_suffix(".tmp")
        data = {chat: asdict(state) for chat, state in self._chats.items()}
        partial.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(partial, self.path)
