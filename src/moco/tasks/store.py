"""Background tasks in the moco database: the ``tasks`` row and its ``task_events``.

Life of a task::

    queued --claim--> running --finish--> completed | failed | cancelled | max_turns | blocked
       |                 `--(worker gone: mark_dead)--> interrupted
       `--request_cancel--> cancelled

Every backend (the local detached worker, a Celery worker) goes through the same calls:
:meth:`TaskStore.claim` (atomic, so two workers never run one task), a
:meth:`TaskStore.heartbeat` every :data:`HEARTBEAT_INTERVAL_S` that also answers "was a
cancel requested?", :meth:`TaskStore.append_event` for each run event and
:meth:`TaskStore.finish`. A running task whose heartbeat is older than
:data:`STALE_AFTER_S`, or whose worker process on this host is gone, is shown
``interrupted`` (:meth:`TaskStore.mark_dead`, run whenever tasks are listed or read).
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from moco.errors import ConfigError
from moco.storage.db import Database, open_database, utcnow
from moco.storage.owner import owner_is_alive

TaskStatus = Literal["queued", "running", "completed", "failed", "cancelled", "interrupted",
                     "max_turns", "blocked"]
STATUSES: tuple[str, ...] = ("queued", "running", "completed", "failed", "cancelled",
                             "interrupted", "max_turns", "blocked")
#: statuses a task never leaves
FINAL_STATUSES = frozenset(STATUSES) - {"queued", "running"}
Backend = Literal["local", "celery"]

#: how often a worker writes its heartbeat (and looks for a cancel request)
HEARTBEAT_INTERVAL_S = 2.0
#: a running task whose heartbeat is older than this is taken for dead
STALE_AFTER_S = 15.0


class TaskNotFound(ConfigError):
    """No task (or more than one) has this id or id prefix."""


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: str
    task: str
    status: str
    created_at: str
    options: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None
    worker: str | None = None
    heartbeat_at: str | None = None
    cancel_requested: bool = False
    started_at: str | None = None
    finished_at: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None
    backend: str = "local"

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class TaskEvent:
    task_id: str
    seq: int
    type: str
    data: dict[str, Any]
    created_at: str


def new_task_id() -> str:
    """A fresh task id (12 hex digits)."""
    return uuid.uuid4().hex[:12]


class TaskStore:
    """The tasks of one moco database; safe to use from several processes at once."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    def open(cls, env: Mapping[str, str] | None = None) -> TaskStore:
        """The store in ``$MOCO_HOME/moco.db``."""
        return cls(open_database(env=env))

    # -- creating and reading -----------------------------------------------------------------
    def create(self, task: str, options: Mapping[str, Any] | None = None, *,
               backend: Backend = "local", session_id: str | None = None) -> TaskRecord:
        """A new ``queued`` task."""
        if not task.strip():
            raise ConfigError("the task is empty — say what the agents should do")
        task_id = new_task_id()
        self.db.execute(
            "INSERT INTO tasks (id, session_id, task, options, status, created_at, backend)"
            " VALUES (?, ?, ?, ?, 'queued', ?, ?)",
            (task_id, session_id, task, json.dumps(dict(options or {})), utcnow(), backend))
        return self._require(task_id)

    def get(self, id_or_prefix: str) -> TaskRecord:
        """The task with this id, or the only one whose id starts with it; raises
        :class:`TaskNotFound` when none or several match."""
        self.mark_dead()
        return self._require(self.resolve(id_or_prefix))

    def resolve(self, id_or_prefix: str) -> str:
        """The full id of a task named by id or unambiguous prefix."""
        text = id_or_prefix.strip().lower()
        if not text:
            raise TaskNotFound("give a task id (moco tasks list shows them)")
        rows = self.db.query("SELECT id FROM tasks WHERE id = ? OR id LIKE ? ESCAPE '\\'"
                             " ORDER BY id LIMIT 6", (text, _like_prefix(text)))
        ids = [row["id"] for row in rows]
        if text in ids:
            return text
        if not ids:
            raise TaskNotFound(f"no task '{id_or_prefix}' — moco tasks list shows them")
        if len(ids) > 1:
            raise TaskNotFound(f"'{id_or_prefix}' matches several tasks "
                               f"({', '.join(ids[:5])}) — give more of the id")
        return str(ids[0])

    def list(self, limit: int = 50, status: str | None = None) -> list[TaskRecord]:
        """The most recent tasks first (only those in ``status`` when given)."""
        if status is not None and status not in STATUSES:
            raise ConfigError(f"unknown task status '{status}' — one of {', '.join(STATUSES)}")
        self.mark_dead()
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        rows = self.db.query(f"SELECT * FROM tasks {where} ORDER BY created_at DESC, id"
                             " LIMIT ?", (*params, limit))
        return [_record(row) for row in rows]

    def count(self, status: str) -> int:
        """How many tasks are in ``status``."""
        row = self.db.query_one("SELECT COUNT(*) AS n FROM tasks WHERE status = ?", (status,))
        return int(row["n"]) if row is not None else 0

    def next_queued(self) -> str | None:
        """The oldest queued task's id (what a draining worker claims next)."""
        row = self.db.query_one(
            "SELECT id FROM tasks WHERE status = 'queued' ORDER BY created_at, id LIMIT 1")
        return None if row is None else str(row["id"])

    def _require(self, task_id: str) -> TaskRecord:
        row = self.db.query_one("SELECT * FROM tasks WHERE id = ?", (task_id,))
        if row is None:
            raise TaskNotFound(f"no task '{task_id}' — moco tasks list shows them")
        return _record(row)

    # -- a worker's calls ---------------------------------------------------------------------
    def claim(self, task_id: str, worker: str) -> bool:
        """Take a queued task for ``worker`` (``running`` from now); False when it is not
        queued any more (another worker has it, or it was cancelled)."""
        now = utcnow()
        cursor = self.db.execute(
            "UPDATE tasks SET status = 'running', worker = ?, started_at = ?, heartbeat_at = ?"
            " WHERE id = ? AND status = 'queued'", (worker, now, now, task_id))
        return cursor.rowcount == 1

    def assign(self, task_id: str, worker: str) -> None:
        """Note the local worker process started for a queued task, so a worker that dies
        before it claims the task leaves it ``failed``, not queued for ever."""
        self.db.execute("UPDATE tasks SET worker = ? WHERE id = ? AND status = 'queued'"
                        " AND worker IS NULL", (worker, task_id))

    def set_session(self, task_id: str, session_id: str) -> None:
        self.db.execute("UPDATE tasks SET session_id = ? WHERE id = ?", (session_id, task_id))

    def heartbeat(self, task_id: str, worker: str, *, input_tokens: int | None = None,
                  output_tokens: int | None = None) -> bool:
        """Say ``worker`` is still running the task (with the tokens used so far); returns
        True when the task should stop: a cancel was requested, or the task is no longer
        this worker's running task (it was taken for dead)."""
        with self.db.transaction():
            cursor = self.db.execute(
                "UPDATE tasks SET heartbeat_at = ?,"
                " input_tokens = COALESCE(?, input_tokens),"
                " output_tokens = COALESCE(?, output_tokens)"
                " WHERE id = ? AND worker = ? AND status = 'running'",
                (utcnow(), input_tokens, output_tokens, task_id, worker))
            if cursor.rowcount != 1:
                return True
            row = self.db.query_one("SELECT cancel_requested FROM tasks WHERE id = ?",
                                    (task_id,))
        return bool(row and row["cancel_requested"])

    def request_cancel(self, task_id: str) -> TaskRecord:
        """Cancel a task: a queued one is ``cancelled`` at once, a running one is asked to
        stop (its worker sees it at the next heartbeat). Returns the task as it is now."""
        task_id = self.resolve(task_id)
        now = utcnow()
        with self.db.transaction():
            cursor = self.db.execute(
                "UPDATE tasks SET status = 'cancelled', cancel_requested = 1, finished_at = ?,"
                " error = 'cancelled before it started' WHERE id = ? AND status = 'queued'",
                (now, task_id))
            if cursor.rowcount == 0:
                self.db.execute("UPDATE tasks SET cancel_requested = 1"
                                " WHERE id = ? AND status = 'running'", (task_id,))
        return self._require(task_id)

    def finish(self, task_id: str, status: str, error: str | None = None, *,
               input_tokens: int = 0, output_tokens: int = 0) -> None:
        """End a running task with its run's status and the tokens it used."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"a task cannot finish as {status!r}")
        self.db.execute(
            "UPDATE tasks SET status = ?, error = ?, finished_at = ?, input_tokens = ?,"
            " output_tokens = ? WHERE id = ? AND status IN ('queued', 'running')",
            (status, error, utcnow(), input_tokens, output_tokens, task_id))

    def recover(self, task_id: str) -> TaskRecord | None:
        """The task after :meth:`mark_dead` (so a dead worker's task reads ``interrupted``),
        or None when there is no such task (a broker delivering a task of another store)."""
        self.mark_dead()
        try:
            return self._require(task_id)
        except TaskNotFound:
            return None

    def requeue(self, task_id: str) -> bool:
        """Queue an ``interrupted`` task again (a retry after its worker died); its events
        stay and the next run continues after them. False when it was not interrupted."""
        cursor = self.db.execute(
            "UPDATE tasks SET status = 'queued', worker = NULL, heartbeat_at = NULL,"
            " started_at = NULL, finished_at = NULL, error = NULL"
            " WHERE id = ? AND status = 'interrupted' AND cancel_requested = 0", (task_id,))
        return cursor.rowcount == 1

    # -- events -------------------------------------------------------------------------------
    def append_event(self, task_id: str, data: Mapping[str, Any]) -> int:
        """Store one event (an ``Event.to_dict()``, or a task event); returns its seq."""
        row = self.db.query_one(
            "INSERT INTO task_events (task_id, seq, type, data, created_at)"
            " SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ? FROM task_events WHERE task_id = ?"
            " RETURNING seq",
            (task_id, str(data.get("type", "event")), json.dumps(data, ensure_ascii=False),
             utcnow(), task_id))
        assert row is not None
        return int(row["seq"])

    def events(self, task_id: str, after_seq: int = 0,
               limit: int | None = None) -> builtins.list[TaskEvent]:
        """The task's events after ``after_seq``, in order (at most ``limit``)."""
        sql = "SELECT * FROM task_events WHERE task_id = ? AND seq > ? ORDER BY seq"
        rows = self.db.query(sql if limit is None else sql + " LIMIT ?",
                             (task_id, after_seq) if limit is None else (task_id, after_seq, limit))
        return [TaskEvent(task_id=row["task_id"], seq=row["seq"], type=row["type"],
                          data=json.loads(row["data"]), created_at=row["created_at"])
                for row in rows]

    def last_seq(self, task_id: str) -> int:
        row = self.db.query_one("SELECT MAX(seq) AS seq FROM task_events WHERE task_id = ?",
                                (task_id,))
        return int(row["seq"] or 0) if row is not None else 0

    # -- dead workers -------------------------------------------------------------------------
    def mark_dead(self, stale_after: float = STALE_AFTER_S) -> builtins.list[str]:
        """Mark running tasks whose worker is gone as ``interrupted`` (and queued ones whose
        assigned local worker exited before claiming them as ``failed``); returns their ids."""
        rows = self.db.query(
            "SELECT id, worker, heartbeat_at FROM tasks WHERE status = 'running'")
        limit = (datetime.fromisoformat(utcnow()) - timedelta(seconds=stale_after)).isoformat()
        dead: builtins.list[str] = []
        for row in rows:
            reason = _dead_reason(row["worker"], row["heartbeat_at"], limit, stale_after)
            if reason is None:
                continue
            cursor = self.db.execute(
                "UPDATE tasks SET status = 'interrupted', finished_at = ?, error = ?"
                " WHERE id = ? AND status = 'running' AND heartbeat_at IS ?",
                (utcnow(), reason, row["id"], row["heartbeat_at"]))
            if cursor.rowcount == 1:
                dead.append(str(row["id"]))
        return dead + self._mark_unstarted()

    def _mark_unstarted(self) -> builtins.list[str]:
        """Queued tasks whose assigned worker process exited before claiming them."""
        rows = self.db.query("SELECT id, worker FROM tasks"
                             " WHERE status = 'queued' AND worker IS NOT NULL")
        failed: builtins.list[str] = []
        for row in rows:
            if owner_is_alive(row["worker"]):
                continue
            error = (f"its worker process ({row['worker']}) exited before it started the "
                     f"task — moco tasks logs {row['id']} shows what it printed")
            cursor = self.db.execute(
                "UPDATE tasks SET status = 'failed', finished_at = ?, error = ?"
                " WHERE id = ? AND status = 'queued' AND worker = ?",
                (utcnow(), error, row["id"], row["worker"]))
            if cursor.rowcount == 1:
                failed.append(str(row["id"]))
        return failed


def _dead_reason(worker: str | None, heartbeat_at: str | None, limit: str,
                 stale_after: float) -> str | None:
    """Why a running task's worker is taken for dead, or None while it looks alive."""
    continue_hint = "its session can be continued with moco run -s"
    if not owner_is_alive(worker):
        return f"the worker process ({worker}) is gone — {continue_hint}"
    if heartbeat_at is None or heartbeat_at < limit:
        return (f"no heartbeat from the worker ({worker}) for over {stale_after:.0f} s — "
                f"{continue_hint}")
    return None


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _record(row: Any) -> TaskRecord:
    return TaskRecord(
        id=row["id"], task=row["task"], status=row["status"], created_at=row["created_at"],
        options=json.loads(row["options"] or "{}"), session_id=row["session_id"],
        worker=row["worker"], heartbeat_at=row["heartbeat_at"],
        cancel_requested=bool(row["cancel_requested"]), started_at=row["started_at"],
        finished_at=row["finished_at"], input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"], error=row["error"], backend=row["backend"])
