"""Sessions, runs and their messages in the moco database.

A **session** is a conversation (``moco chat``, a named ``moco run --session``, a web UI tab).
Each task given to an agent is a **run**; a sub-agent's run has ``parent_run_id`` set, so the
main conversation is the messages whose run has no parent (or no run at all). Messages are
appended one committed transaction at a time: a process killed mid-run loses at most the
message being written, and ``seq`` (1, 2, 3 ... per session) has no gaps.

``append_message`` returns that ``seq``; ``load_messages(upto_seq=...)`` and
``truncate_after`` take it, so a checkpoint only needs to remember a number.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any, Literal, Protocol

from moco.errors import ConfigError, MocoError
from moco.messages import Message
from moco.storage.db import Database, open_database, utcnow
from moco.storage.export import render_markdown
from moco.storage.owner import current_owner, owner_is_alive

MIN_PREFIX = 4
ExportFormat = Literal["md", "json"]

_SESSION_FIELDS = frozenset(
    {"name", "title", "profile", "provider", "model", "working_dir", "metadata", "status"}
)
_SESSION_SELECT = (
    "SELECT s.*, (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) AS message_count"
    " FROM sessions s"
)
_MESSAGE_COLUMNS = (
    "m.id, m.session_id, m.run_id, m.seq, m.agent, m.role, m.content, m.created_at, m.status"
)


class SessionNotFound(ConfigError):
    """No session has the id, id prefix or name the user gave."""


class DuplicateSessionName(ConfigError):
    """Session names are unique."""


class AmbiguousSession(ConfigError):
    """An id prefix matches more than one session."""


class StorageError(MocoError):
    """A write referred to something that does not exist (a deleted session, an unknown run)."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    name: str | None
    title: str | None
    profile: str | None
    provider: str | None
    model: str | None
    working_dir: str | None
    created_at: str
    updated_at: str
    metadata: dict[str, Any] = field(default_factory=dict)
    status: str = "active"
    message_count: int = 0

    @property
    def label(self) -> str:
        """What to show a person: the name, else the title, else the id."""
        return self.name or self.title or self.id

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    session_id: str
    parent_run_id: str | None
    agent: str
    task: str
    status: str
    started_at: str
    finished_at: str | None
    input_tokens: int
    output_tokens: int
    model: str | None
    provider: str | None
    #: the process running it (``host:pid:start``); None for runs older than the column
    owner: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: int
    session_id: str
    seq: int
    agent: str
    role: str
    run_id: str | None
    created_at: str
    status: str | None
    message: Message

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "session_id": self.session_id, "seq": self.seq, "agent": self.agent,
            "role": self.role, "run_id": self.run_id, "created_at": self.created_at,
            "status": self.status, "message": self.message.to_dict(),
        }


_RUN_COLUMNS = tuple(f.name for f in dataclass_fields(RunRecord))


class TranscriptStore(Protocol):
    """What the runtime needs from a session store (SQLite today, PostgreSQL later)."""

    def start_run(
        self, session_id: str, *, agent: str, task: str, parent_run_id: str | None = None,
        model: str | None = None, provider: str | None = None, run_id: str | None = None,
    ) -> str: ...

    def finish_run(
        self, run_id: str, status: str, input_tokens: int = 0, output_tokens: int = 0
    ) -> None: ...

    def append_message(
        self, session_id: str, message: Message, *, agent: str, run_id: str | None = None,
        status: str | None = None,
    ) -> int: ...

    def load_messages(
        self, session_id: str, *, agent: str | None = None, include_children: bool = False,
        upto_seq: int | None = None,
    ) -> list[Message]: ...


class SessionLogger:
    """Reads and writes sessions, runs and messages. Safe to share between threads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.mark_interrupted_runs()

    @classmethod
    def open(cls, home: Path | None = None, env: Mapping[str, str] | None = None) -> SessionLogger:
        """A logger on ``$MOCO_HOME/moco.db`` (or ``home/moco.db``)."""
        return cls(open_database(home, env))

    def mark_interrupted_runs(self) -> int:
        """Runs still ``running`` whose process has died (killed, crashed, power cut) become
        ``interrupted``; returns how many. Done whenever the store is opened."""
        rows = self.db.query("SELECT DISTINCT owner FROM runs WHERE status = 'running'")
        dead = [row["owner"] for row in rows if not owner_is_alive(row["owner"])]
        if not dead:
            return 0
        now = utcnow()
        marks = ",".join("?" * len(dead))
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ? WHERE status = 'running'"
                f" AND (owner IN ({marks}) OR owner IS NULL)", (now, *dead))
        return cursor.rowcount

    # -- sessions -----------------------------------------------------------------------------

    def create_session(
        self,
        *,
        title: str | None = None,
        name: str | None = None,
        profile: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        working_dir: str | Path | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        name = _check_name(name)
        now = utcnow()
        session_id = uuid.uuid4().hex[:12]
        with self.db.transaction() as conn:
            if name is not None:
                self._refuse_taken_name(conn, name)
            conn.execute(
                "INSERT INTO sessions (id, name, title, profile, provider, model, working_dir,"
                " created_at, updated_at, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, name, title, profile, provider, model, _norm_dir(working_dir),
                 now, now, _dump(dict(metadata or {}))),
            )
        return self._require_by_id(session_id)

    def get_session(self, id_or_name: str) -> SessionRecord | None:
        """By exact id, then exact name, then a unique id prefix of at least 4 characters."""
        session_id = self._resolve(id_or_name)
        return None if session_id is None else self._require_by_id(session_id)

    def require_session(self, id_or_name: str) -> SessionRecord:
        """Like :meth:`get_session`, but a missing session is a user-facing error."""
        record = self.get_session(id_or_name)
        if record is None:
            raise _not_found(id_or_name)
        return record

    def find_or_create_named(self, name: str, **fields: Any) -> SessionRecord:
        """The session called ``name``; created with ``fields`` when there is none."""
        checked = _require_name(name)
        row = self.db.query_one(_SESSION_SELECT + " WHERE s.name = ?", (checked,))
        if row is not None:
            return _session(row)
        try:
            return self.create_session(name=checked, **fields)
        except DuplicateSessionName:  # another process created it just now
            return self.require_session(checked)

    def latest_session(self, working_dir: str | Path | None = None) -> SessionRecord | None:
        """The most recently active session, optionally only those of ``working_dir``."""
        found = self.list_sessions(limit=1, working_dir=working_dir)
        return found[0] if found else None

    def list_sessions(
        self, limit: int = 50, working_dir: str | Path | None = None
    ) -> list[SessionRecord]:
        """Most recently active first, each with its message count."""
        if working_dir is None:
            rows = self.db.query(
                _SESSION_SELECT + " ORDER BY s.updated_at DESC, s.rowid DESC LIMIT ?", (limit,)
            )
        else:
            rows = self.db.query(
                _SESSION_SELECT + " WHERE s.working_dir = ?"
                " ORDER BY s.updated_at DESC, s.rowid DESC LIMIT ?",
                (_norm_dir(working_dir), limit),
            )
        return [_session(row) for row in rows]

    def delete_session(self, id_or_name: str) -> bool:
        """Delete a session with its runs and messages; False when there is no such session."""
        session_id = self._resolve(id_or_name)
        if session_id is None:
            return False
        cursor = self.db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        return cursor.rowcount > 0

    def update_session(self, id_or_name: str, **fields: Any) -> SessionRecord:
        """Change some of: name, title, profile, provider, model, working_dir, metadata,
        status. Does not count as activity (``updated_at`` is left alone)."""
        unknown = set(fields) - _SESSION_FIELDS
        if unknown:
            raise TypeError(f"unknown session fields: {', '.join(sorted(unknown))}")
        record = self.require_session(id_or_name)
        if "name" in fields:
            fields["name"] = _check_name(fields["name"])
        if "working_dir" in fields:
            fields["working_dir"] = _norm_dir(fields["working_dir"])
        if "metadata" in fields:
            fields["metadata"] = _dump(dict(fields["metadata"] or {}))
        if not fields:
            return record
        assignments = ", ".join(f"{key} = ?" for key in fields)
        with self.db.transaction() as conn:
            if fields.get("name") not in (None, record.name):
                self._refuse_taken_name(conn, fields["name"])
            conn.execute(
                f"UPDATE sessions SET {assignments} WHERE id = ?", (*fields.values(), record.id)
            )
        return self._require_by_id(record.id)

    def rename(self, id_or_name: str, name: str | None) -> SessionRecord:
        """Give a session a (unique) name, or remove it with ``None``."""
        return self.update_session(id_or_name, name=name)

    def set_title(self, id_or_name: str, title: str | None) -> SessionRecord:
        return self.update_session(id_or_name, title=title)

    # -- runs ---------------------------------------------------------------------------------

    def start_run(
        self,
        session_id: str,
        *,
        agent: str,
        task: str,
        parent_run_id: str | None = None,
        model: str | None = None,
        provider: str | None = None,
        run_id: str | None = None,
    ) -> str:
        """Record a run (the runtime may pass its own ``run_id``); returns its id."""
        run_id = run_id or uuid.uuid4().hex[:12]
        now = utcnow()
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    "INSERT INTO runs (id, session_id, parent_run_id, agent, task, started_at,"
                    " model, provider, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, session_id, parent_run_id, agent, task, now, model, provider,
                     current_owner()),
                )
                _touch(conn, session_id, now)
        except sqlite3.IntegrityError as exc:
            raise StorageError(
                f"cannot record run {run_id}: session '{session_id}' or parent run "
                f"'{parent_run_id}' does not exist, or the run id is taken ({exc})"
            ) from exc
        return run_id

    def finish_run(
        self, run_id: str, status: str, input_tokens: int = 0, output_tokens: int = 0
    ) -> None:
        """Close a run. Tokens are the run's own (not its children's): totals add them up."""
        now = utcnow()
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, input_tokens = ?,"
                " output_tokens = ? WHERE id = ? RETURNING session_id",
                (status, now, input_tokens, output_tokens, run_id),
            )
            row = cursor.fetchone()
            if row is None:
                raise StorageError(f"cannot finish run '{run_id}': no such run")
            _touch(conn, row[0], now)

    def get_run(self, run_id: str) -> RunRecord | None:
        row = self.db.query_one("SELECT * FROM runs WHERE id = ?", (run_id,))
        return None if row is None else _run(row)

    def runs(self, session_id: str) -> list[RunRecord]:
        rows = self.db.query(
            "SELECT * FROM runs WHERE session_id = ? ORDER BY started_at, rowid", (session_id,)
        )
        return [_run(row) for row in rows]

    def usage_totals(self, session_id: str) -> tuple[int, int]:
        """``(input_tokens, output_tokens)`` over every run of the session, sub-agents too."""
        row = self.db.query_one(
            "SELECT COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0)"
            " FROM runs WHERE session_id = ?",
            (session_id,),
        )
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    # -- messages -----------------------------------------------------------------------------

    def append_message(
        self,
        session_id: str,
        message: Message,
        *,
        agent: str,
        run_id: str | None = None,
        status: str | None = None,
    ) -> int:
        """Store one message in its own committed transaction; returns its ``seq``."""
        content = _dump(message.to_dict())
        now = utcnow()
        try:
            with self.db.transaction() as conn:
                row = conn.execute(
                    "INSERT INTO messages (session_id, run_id, seq, agent, role, content,"
                    " created_at, status) SELECT ?, ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?"
                    " FROM messages WHERE session_id = ? RETURNING seq",
                    (session_id, run_id, agent, message.role, content, now, status, session_id),
                ).fetchone()
                _touch(conn, session_id, now)
        except sqlite3.IntegrityError as exc:
            raise StorageError(
                f"cannot store the message: session '{session_id}' or run '{run_id}' "
                "does not exist"
            ) from exc
        return int(row[0])

    def load_messages(
        self,
        session_id: str,
        *,
        agent: str | None = None,
        include_children: bool = False,
        upto_seq: int | None = None,
    ) -> list[Message]:
        """The messages of a session in order.

        - default: the main conversation (messages of runs without a parent, or of no run);
        - ``agent="a > b"``: that agent's own messages (plus its sub-agents' with
          ``include_children``);
        - ``include_children=True`` and no ``agent``: the full transcript;
        - ``upto_seq``: stop at that ``seq`` (inclusive), e.g. to replay up to a checkpoint.
        """
        rows = self._message_rows(session_id, agent, include_children, upto_seq, "m.content")
        return [Message.from_dict(data) for data in _decode_all(row[0] for row in rows)]

    def load_records(
        self,
        session_id: str,
        *,
        include_children: bool = True,
        agent: str | None = None,
        upto_seq: int | None = None,
    ) -> list[MessageRecord]:
        """Like :meth:`load_messages` with each message's bookkeeping; full transcript by
        default."""
        rows = self._message_rows(session_id, agent, include_children, upto_seq)
        contents = _decode_all(row["content"] for row in rows)
        return [_message_record(row, data) for row, data in zip(rows, contents, strict=True)]

    def truncate_after(self, session_id: str, seq: int) -> int:
        """Delete the messages after ``seq`` (rewind); returns how many were deleted.

        The next append gets ``seq + 1`` again, so checkpoints taken after ``seq`` no longer
        describe the transcript and should be dropped by their owner.
        """
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM messages WHERE session_id = ? AND seq > ?", (session_id, seq)
            )
            _touch(conn, session_id, utcnow())
        return cursor.rowcount

    def last_seq(self, session_id: str) -> int:
        """The ``seq`` of the last message (0 for an empty session)."""
        row = self.db.query_one(
            "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE session_id = ?", (session_id,)
        )
        return 0 if row is None else int(row[0])

    # -- export -------------------------------------------------------------------------------

    def export_session(self, id_or_name: str, fmt: ExportFormat = "md") -> str:
        """The whole session as Markdown (a readable transcript) or JSON (everything)."""
        record = self.require_session(id_or_name)
        runs = self.runs(record.id)
        messages = self.load_records(record.id, include_children=True)
        if fmt == "json":
            return json.dumps(
                {
                    "format": "moco.session/1",
                    "session": record.to_dict(),
                    "runs": [run.to_dict() for run in runs],
                    "messages": [message.to_dict() for message in messages],
                },
                indent=2,
                ensure_ascii=False,
            )
        if fmt == "md":
            totals = self.usage_totals(record.id)
            return render_markdown(record, runs, messages, totals)
        raise ConfigError(f"unknown export format '{fmt}' — use md or json")

    # -- helpers ------------------------------------------------------------------------------

    def _resolve(self, id_or_name: str) -> str | None:
        key = id_or_name.strip()
        if not key:
            return None
        for column in ("id", "name"):
            row = self.db.query_one(f"SELECT id FROM sessions WHERE {column} = ?", (key,))
            if row is not None:
                return str(row[0])
        if len(key) < MIN_PREFIX or not _is_hex(key):
            return None
        rows = self.db.query(
            "SELECT id FROM sessions WHERE id >= ? AND id < ? ORDER BY id LIMIT 3",
            (key.lower(), key.lower() + "g"),
        )
        if len(rows) > 1:
            shown = ", ".join(str(r[0]) for r in rows[:2])
            raise AmbiguousSession(
                f"session id '{key}' matches several sessions ({shown} ...) — type more of it"
            )
        return str(rows[0][0]) if rows else None

    def _require_by_id(self, session_id: str) -> SessionRecord:
        row = self.db.query_one(_SESSION_SELECT + " WHERE s.id = ?", (session_id,))
        if row is None:
            raise _not_found(session_id)
        return _session(row)

    @staticmethod
    def _refuse_taken_name(conn: sqlite3.Connection, name: str) -> None:
        if conn.execute("SELECT 1 FROM sessions WHERE name = ?", (name,)).fetchone():
            raise DuplicateSessionName(
                f"a session named '{name}' already exists — choose another name, or delete "
                f"it with `moco sessions delete {name}`"
            )

    def _message_rows(
        self,
        session_id: str,
        agent: str | None,
        include_children: bool,
        upto_seq: int | None,
        columns: str = _MESSAGE_COLUMNS,
    ) -> list[sqlite3.Row]:
        source = "messages m"
        where = ["m.session_id = ?"]
        params: list[Any] = [session_id]
        if agent is not None and include_children:
            # the agent's runs and every run below them, by the run tree (not by path text)
            where.append(
                "(m.agent = ? OR m.run_id IN (WITH RECURSIVE tree(id) AS ("
                "SELECT id FROM runs WHERE session_id = ? AND agent = ? UNION ALL "
                "SELECT r.id FROM runs r JOIN tree t ON r.parent_run_id = t.id) "
                "SELECT id FROM tree))")
            params += [agent, session_id, agent]
        elif agent is not None:
            where.append("m.agent = ?")
            params.append(agent)
        elif not include_children:
            source += " LEFT JOIN runs r ON r.id = m.run_id"
            where.append("(m.run_id IS NULL OR r.parent_run_id IS NULL)")
        if upto_seq is not None:
            where.append("m.seq <= ?")
            params.append(upto_seq)
        sql = f"SELECT {columns} FROM {source} WHERE {' AND '.join(where)} ORDER BY m.seq"
        return self.db.query(sql, params)


# -- rows -------------------------------------------------------------------------------------


def _session(row: sqlite3.Row) -> SessionRecord:
    return SessionRecord(
        id=row["id"], name=row["name"], title=row["title"], profile=row["profile"],
        provider=row["provider"], model=row["model"], working_dir=row["working_dir"],
        created_at=row["created_at"], updated_at=row["updated_at"],
        metadata=json.loads(row["metadata"] or "{}"), status=row["status"],
        message_count=int(row["message_count"]),
    )


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(**{name: row[name] for name in _RUN_COLUMNS})


def _message_record(row: sqlite3.Row, content: dict[str, Any]) -> MessageRecord:
    return MessageRecord(
        id=row["id"], session_id=row["session_id"], seq=row["seq"], agent=row["agent"],
        role=row["role"], run_id=row["run_id"], created_at=row["created_at"],
        status=row["status"], message=Message.from_dict(content),
    )


def _decode_all(contents: Iterable[str]) -> list[dict[str, Any]]:
    """Decode many JSON documents with one parser call (half the cost of one call each)."""
    decoded: list[dict[str, Any]] = json.loads("[" + ",".join(contents) + "]")
    return decoded


def _touch(conn: sqlite3.Connection, session_id: str, now: str) -> None:
    conn.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now, session_id))


def _dump(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _norm_dir(path: str | Path | None) -> str | None:
    return None if path is None else str(Path(path).expanduser().resolve())


def _check_name(name: str | None) -> str | None:
    return None if name is None else _require_name(name)


def _require_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ConfigError("a session name cannot be empty — give it a few characters")
    return name


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def _not_found(id_or_name: str) -> SessionNotFound:
    return SessionNotFound(
        f"no session named '{id_or_name}' — list them with `moco sessions list`"
    )
