"""Finding sessions by what they are called or what was said in them (``moco sessions list -q``,
the web UI's search box)."""

from __future__ import annotations

from moco.storage.session_logger import _SESSION_SELECT, SessionLogger, SessionRecord, _session


def _like_pattern(text: str) -> str:
    """``50%_off`` -> ``%50\\%\\_off%``: the words as typed, matched anywhere."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_sessions(logger: SessionLogger, query: str, limit: int = 50) -> list[SessionRecord]:
    """Sessions whose id, name or title contains ``query`` or whose messages do (case-
    insensitive for ASCII), most recently active first; every word of ``query`` must match."""
    words = query.split()
    if not words:
        return logger.list_sessions(limit=limit)
    conditions, params = [], []
    for word in words:
        pattern = _like_pattern(word)
        conditions.append(
            "(s.id LIKE ? ESCAPE '\\' OR COALESCE(s.name, '') LIKE ? ESCAPE '\\'"
            " OR COALESCE(s.title, '') LIKE ? ESCAPE '\\'"
            " OR EXISTS (SELECT 1 FROM messages m WHERE m.session_id = s.id"
            " AND m.content LIKE ? ESCAPE '\\'))")
        params.extend([pattern] * 4)
    sql = (_SESSION_SELECT + " WHERE " + " AND ".join(conditions)
           + " ORDER BY s.updated_at DESC, s.rowid DESC LIMIT ?")
    rows = logger.db.query(sql, (*params, limit))
    return [_session(row) for row in rows]
