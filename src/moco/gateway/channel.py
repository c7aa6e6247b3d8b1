"""What a messaging client implements (:class:`Channel`) and what it hands over."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol


class Media(NamedTuple):
    """A file that came with a message."""

    filename: str
    data: bytes
    media_type: str


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message from a chat; ``sender`` is what the allow-list and rate limit key on."""

    chat_id: str
    sender: str
    text: str
    media: list[Media] = field(default_factory=list)


class Channel(Protocol):
    """A messaging client: it sends what the gateway answers."""

    @property
    def max_message_chars(self) -> int: ...

    async def send_text(self, chat_id: str, text: str) -> None: ...

    async def send_file(self, chat_id: str, path: Path, caption: str | None) -> None: ...


def _cut(text: str, limit: int) -> int:
    """Where to cut ``text`` (longer than ``limit``): a paragraph, a line, a space, or hard."""
    for separator in ("\n\n", "\n", " "):
        at = text.rfind(separator, 0, limit + 1)
        if at > 0:
            return at
    return limit


def split_message(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut on paragraph, line or word
    boundaries when there is one (a word longer than ``limit`` is cut where it must)."""
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        at = _cut(rest, limit)
        piece = rest[:at].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[at:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces
