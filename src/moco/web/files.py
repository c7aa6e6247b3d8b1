"""The read-only file view of the web UI: folders and text files inside a working directory.

Paths are resolved (symbolic links followed) and must stay inside the folder; a file the
permission rules would not let an agent read without asking (``.env``, private keys) is not
shown either — secrets never reach the UI.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from moco.errors import ConfigError

MAX_SHOWN_BYTES = 1_000_000
MAX_ENTRIES = 2_000


class OutsideFolder(ConfigError):
    """The path leads out of the working directory."""


class FileMissing(ConfigError):
    """No such file or folder (HTTP 404)."""


def inside(root: Path, relative: str) -> Path:
    """``root/relative`` resolved, refused when it is not inside ``root``."""
    base = root.resolve()
    target = (base / relative.lstrip("/")).resolve() if relative else base
    if target != base and base not in target.parents:
        raise OutsideFolder(f"{relative} is outside the working directory")
    return target


def list_folder(root: Path, relative: str = "") -> dict[str, Any]:
    folder = inside(root, relative)
    if not folder.is_dir():
        raise FileMissing(f"no folder {relative or '.'} in {root}")
    entries: list[dict[str, Any]] = []
    for child in sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower())):
        if len(entries) >= MAX_ENTRIES:
            break
        try:
            is_dir = child.is_dir()
            size = None if is_dir else child.stat().st_size
        except OSError:  # a dangling link, a file gone since the listing
            continue
        entries.append({"name": child.name, "type": "dir" if is_dir else "file", "size": size})
    shown = "" if folder == root.resolve() else str(folder.relative_to(root.resolve()))
    return {"path": shown, "entries": entries, "truncated": len(entries) >= MAX_ENTRIES}


def read_text_file(root: Path, relative: str, may_read: Callable[[str], bool]) -> dict[str, Any]:
    path = inside(root, relative)
    if not path.is_file():
        raise FileMissing(f"no file {relative} in {root}")
    shown = str(path.relative_to(root.resolve()))
    if not may_read(shown):
        raise OutsideFolder(f"{shown} is protected (it may hold secrets) and is not shown")
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(MAX_SHOWN_BYTES)
    binary = b"\0" in head[:8192]
    text = None if binary else head.decode("utf-8", errors="replace")
    return {"path": shown, "size": size, "text": text, "binary": binary,
            "truncated": size > MAX_SHOWN_BYTES}
