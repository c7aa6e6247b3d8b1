"""The run's record beside its memories: every tool execution in ``task_run_events``, and
the entity triples learning finds in ``relations`` (the seed's tables, for ``sqlite3`` users).

:class:`ToolJournal` reads the event stream: a ``ToolCallStarted`` is held until its
``ToolCallFinished``, then one row is written — run id, session id, agent, tool, the
arguments as JSON (redacted), the first :data:`SUMMARY_CHARS` characters of the result
(redacted), and whether it succeeded. Sub-agents' calls are in the stream too, with their own
run ids. :func:`relations_graph` gives the triples as a NetworkX ``DiGraph``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from moco.errors import ConfigError
from moco.events import Event, ToolCallFinished, ToolCallStarted
from moco.storage.db import utcnow

if TYPE_CHECKING:
    from moco.storage.db import Database

#: characters of a tool's result kept in ``task_run_events``
SUMMARY_CHARS = 300
#: characters of a call's JSON arguments kept (a write_file's content is cut, not stored whole)
PARAMS_CHARS = 2000


class ToolJournal:
    """Writes one ``task_run_events`` row per finished tool call of a team run."""

    def __init__(self, db: Database, redact: Callable[[str], str]) -> None:
        self.db = db
        self.redact = redact
        self._started: dict[tuple[str, str], ToolCallStarted] = {}
        self.written = 0

    def observe(self, event: Event) -> None:
        """Take one event of the stream (raises ``sqlite3.Error`` when a write fails)."""
        if isinstance(event, ToolCallStarted):
            self._started[(event.run_id, event.call_id)] = event
        elif isinstance(event, ToolCallFinished):
            started = self._started.pop((event.run_id, event.call_id), None)
            self._write(event, started.arguments if started is not None else {})

    def _write(self, event: ToolCallFinished, arguments: dict[str, Any]) -> None:
        params = self.redact(json.dumps(arguments, ensure_ascii=False, default=str))
        self.db.execute(
            "INSERT INTO task_run_events (run_id, session_id, agent, tool_name, params_json,"
            " result_preview, success, duration_ms, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (event.run_id, event.session_id, event.agent, event.name, params[:PARAMS_CHARS],
             self.redact(event.result[:SUMMARY_CHARS]), 0 if event.is_error else 1,
             round(event.duration_ms), utcnow()))
        self.written += 1


def add_relations(db: Database, triples: Iterable[tuple[str, str, str]], *,
                  profile: str | None, project: str | None, source: str | None,
                  memories: Sequence[tuple[int, str]] = ()) -> int:
    """Store entity triples (a triple already stored for the same scope is not repeated);
    returns how many were new. A triple whose subject and object both appear in one of
    ``memories`` (id, text) is linked to it, so forgetting that memory forgets the triple."""
    added = 0
    with db.transaction() as conn:
        for subject, predicate, obj in triples:
            memory_id = next((memory_id for memory_id, text in memories
                              if subject.casefold() in text.casefold()
                              and obj.casefold() in text.casefold()), None)
            exists = conn.execute(
                "SELECT 1 FROM relations WHERE subject = ? AND predicate = ? AND object = ?"
                " AND profile IS ? AND project IS ?",
                (subject, predicate, obj, profile, project)).fetchone()
            if exists:
                continue
            conn.execute(
                "INSERT INTO relations (subject, predicate, object, memory_id, profile, project,"
                " source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (subject, predicate, obj, memory_id, profile, project, source, utcnow()))
            added += 1
    return added


def relations_graph(db: Database, *, profile: str | None = None) -> Any:
    """The stored relations as a ``networkx.DiGraph`` (an edge per triple, its predicate as
    the ``predicate`` attribute); only those of ``profile`` and of no profile when given.
    Raises :class:`ConfigError` when NetworkX is not installed."""
    try:
        import networkx
    except ImportError:
        raise ConfigError("relations_graph needs NetworkX — pip install networkx") from None
    sql = "SELECT subject, predicate, object, source FROM relations"
    params: tuple[Any, ...] = ()
    if profile is not None:
        sql += " WHERE profile IS NULL OR profile = ?"
        params = (profile,)
    graph = networkx.DiGraph()
    for row in db.query(sql, params):
        graph.add_edge(row["subject"], row["object"], predicate=row["predicate"],
                       source=row["source"])
    return graph
