"""What a session holds besides its transcript: the todo list, the loaded skills, the model.

These belong to the session, not to the process: a session reopened with ``moco run -c``,
``moco run -s NAME``, ``moco chat -s NAME`` or ``Orchestrator.run(..., session_id=...)``
finds them as they were, and a checkpoint keeps them with its messages and files.

The record is written whenever it changes (``todowrite``, ``load_skill``, ``/model``, a
checkpoint restore), each write its own committed transaction, so a process killed in the
middle of a run loses nothing that was done before the kill. It is one JSON document per
session in the ``session_state`` table (migration ``007_session_state``); unknown keys are
ignored on reading, so later fields can be added without a migration.

In memory the tools keep the todo list and the loaded skills in ``ToolContext.state`` (keys
:data:`TODOS_KEY` and :data:`SKILLS_KEY`, plain JSON-serialisable dicts);
:meth:`SessionState.capture` and :meth:`SessionState.apply_to` convert between the two.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from moco.storage.db import Database, utcnow

#: where ``todowrite`` keeps the todo list in ``ToolContext.state``
TODOS_KEY = "todos"
#: where ``load_skill`` keeps the loaded skills in ``ToolContext.state``
SKILLS_KEY = "loaded_skills"
STATE_KEYS = (TODOS_KEY, SKILLS_KEY)

Entries = tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """A model chosen for the session with ``/model``: provider name and model."""

    provider: str
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class SessionState:
    """The todo list (``todowrite`` items), the loaded skills (``load_skill`` entries, in
    load order) and the ``/model`` choice (None: the configured model) of one session."""

    todos: Entries = ()
    loaded_skills: Entries = ()
    model: ModelChoice | None = None

    @property
    def skill_names(self) -> list[str]:
        return [str(entry.get("name", "")) for entry in self.loaded_skills]

    # -- the tools' shared state -------------------------------------------------------------
    @classmethod
    def capture(cls, tool_state: Mapping[str, Any],
                model: ModelChoice | None = None) -> SessionState:
        """The record of ``tool_state`` (``ToolContext.state``) and a model choice."""
        return cls(todos=_entries(tool_state.get(TODOS_KEY)),
                   loaded_skills=_entries(tool_state.get(SKILLS_KEY)), model=model)

    def apply_to(self, tool_state: MutableMapping[str, Any]) -> None:
        """Put the todo list and loaded skills into ``tool_state`` (copies; an empty list
        removes the key, as in a session that never had one)."""
        for key, entries in ((TODOS_KEY, self.todos), (SKILLS_KEY, self.loaded_skills)):
            if entries:
                tool_state[key] = [dict(entry) for entry in entries]
            else:
                tool_state.pop(key, None)

    # -- JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        model = None if self.model is None else {"provider": self.model.provider,
                                                 "model": self.model.model}
        return {"todos": [dict(e) for e in self.todos],
                "loaded_skills": [dict(e) for e in self.loaded_skills], "model": model}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionState:
        """The record of a stored document; malformed parts are dropped, not fatal."""
        raw = data.get("model")
        model = None
        if isinstance(raw, Mapping) and raw.get("provider") and raw.get("model"):
            model = ModelChoice(str(raw["provider"]), str(raw["model"]))
        return cls(todos=_entries(data.get("todos")),
                   loaded_skills=_entries(data.get("loaded_skills")), model=model)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> SessionState | None:
        if not text:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
        return cls.from_dict(data) if isinstance(data, Mapping) else None


class SessionStateStore:
    """Reads and writes the :class:`SessionState` of sessions in the moco database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def load(self, session_id: str) -> SessionState | None:
        """The stored record, or None when the session never stored one."""
        row = self.db.query_one("SELECT state FROM session_state WHERE session_id = ?",
                                (session_id,))
        return None if row is None else SessionState.from_json(row["state"])

    def save(self, session_id: str, state: SessionState,
             conn: sqlite3.Connection | None = None) -> None:
        """Replace the session's record (in ``conn``'s transaction when given, else in its
        own). A session deleted meanwhile is left deleted."""
        sql = ("INSERT INTO session_state (session_id, state, updated_at)"
               " SELECT id, ?, ? FROM sessions WHERE id = ?"
               " ON CONFLICT (session_id) DO UPDATE SET state = excluded.state,"
               " updated_at = excluded.updated_at")
        params = (state.to_json(), utcnow(), session_id)
        if conn is not None:
            conn.execute(sql, params)
        else:
            self.db.execute(sql, params)


def _entries(value: Any) -> Entries:
    """A JSON-clean tuple of the dicts in ``value`` (anything else is dropped)."""
    if not isinstance(value, list | tuple):
        return ()
    copied = json.loads(json.dumps([dict(v) for v in value if isinstance(v, Mapping)],
                                   default=str))
    return tuple(copied)
