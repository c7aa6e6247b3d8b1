"""Files given to the model with the next chat message: ``/image PATH``, ``/file PATH``, and
image paths pasted into a message (what a terminal types when a file is dropped on it)."""

from __future__ import annotations

import shlex
from pathlib import Path

from moco.chat.state import ChatState
from moco.core.attachments import load_attachment
from moco.messages import DocumentPart, ImagePart, Part

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})


def attach(chat: ChatState, text: str, *, image: bool) -> str:
    """Load the file named by ``text`` (relative to the working directory) for the next
    message; returns what to tell the person."""
    path = (chat.working_dir / Path(_unquoted(text)).expanduser()).resolve()
    part = load_attachment(path, image=image)
    chat.attachments.append(part)
    return f"attached {path.name} ({describe(part)}) — it goes with your next message"


def describe(part: Part) -> str:
    if isinstance(part, ImagePart):
        return f"image, {len(part.data or '') * 3 // 4 // 1024} KB"
    if isinstance(part, DocumentPart):
        return "PDF"
    return "text"


def pasted_images(text: str, working_dir: Path) -> list[Path]:
    """The image files a message names as a whole word (a dropped file's path, quoted or with
    escaped spaces); other paths in the text stay words."""
    try:
        words = shlex.split(text, posix=True)
    except ValueError:  # an unmatched quote: plain words
        words = text.split()
    found: list[Path] = []
    for word in words:
        if Path(word).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        path = (working_dir / Path(word).expanduser()).resolve()
        if path.is_file() and path not in found:
            found.append(path)
    return found


def take_attachments(chat: ChatState, text: str) -> list[Part]:
    """What the next turn sends with ``text``: the files attached with ``/image``/``/file``
    and the images pasted into it. The chat's list is emptied."""
    parts, chat.attachments = chat.attachments, []
    for path in pasted_images(text, chat.working_dir):
        parts.append(load_attachment(path, image=True))
    return parts


def _unquoted(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text.replace("\\ ", " ")
