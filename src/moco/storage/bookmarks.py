"""Working-directory bookmarks (``/workdir add`` in ``moco chat``), in the ``bookmarks`` table.

A bookmark is a short name for a folder, so ``/cd api`` can jump to ``~/work/shop/api`` from
any chat, in any later process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from moco.errors import ConfigError
from moco.storage.db import Database, utcnow


@dataclass(frozen=True, slots=True)
class Bookmark:
    name: str
    path: Path
    created_at: str


class BookmarkStore:
    """Adds, finds, lists and removes bookmarks in one moco database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, name: str, path: str | Path) -> tuple[Bookmark, bool]:
        """Bookmark ``path`` as ``name``; returns the bookmark and whether it replaced one."""
        name = check_bookmark_name(name)
        resolved = Path(path).expanduser().resolve()
        with self.db.transaction() as conn:
            existed = conn.execute(
                "SELECT 1 FROM bookmarks WHERE name = ?", (name,)
            ).fetchone() is not None
            conn.execute(
                "INSERT INTO bookmarks (name, path, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET path = excluded.path,"
                " created_at = excluded.created_at",
                (name, str(resolved), utcnow()),
            )
        found = self.get(name)
        assert found is not None
        return found, existed

    def get(self, name: str) -> Bookmark | None:
        row = self.db.query_one(
            "SELECT name, path, created_at FROM bookmarks WHERE name = ?", (name.strip(),)
        )
        return None if row is None else Bookmark(row[0], Path(row[1]), row[2])

    def entries(self) -> list[Bookmark]:
        rows = self.db.query("SELECT name, path, created_at FROM bookmarks ORDER BY name")
        return [Bookmark(row[0], Path(row[1]), row[2]) for row in rows]

    def names(self) -> list[str]:
        return [row[0] for row in self.db.query("SELECT name FROM bookmarks ORDER BY name")]

    def remove(self, name: str) -> bool:
        """Delete the bookmark; False when there was none."""
        cursor = self.db.execute("DELETE FROM bookmarks WHERE name = ?", (name.strip(),))
        return cursor.rowcount > 0


def check_bookmark_name(name: str) -> str:
    """A bookmark name is one word: no spaces, no path separators."""
    name = name.strip()
    if not name or any(c.isspace() for c in name) or "/" in name or "\\" in name:
        raise ConfigError(
            f"'{name}' cannot be a bookmark name — use one word without spaces or slashes"
        )
    return name
