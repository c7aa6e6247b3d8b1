"""Checkpoints of a session: rewind the conversation *and* the files the agents changed.

Claude Code calls it rewind, OpenCode undo. A **checkpoint** remembers a point of a session:
the ``seq`` of its last message, the session's state (todo list, loaded skills and ``/model``
choice, see :mod:`moco.storage.session_state`), the working directory, profile and model, and
a *manifest* — the content hash of every file the agents have written or edited since the
session began. Restoring it truncates the transcript after that ``seq`` (later checkpoints go
too: their messages are gone) and puts every such file back as it was at the checkpoint;
files created after it are deleted. The todo list and the loaded skills come back as they
were (in the session store too, so the next ``moco run -c`` sees them); the model in use stays
as it is — the result names the checkpoint's model, and switching back is the caller's choice.

How files are tracked
    :class:`FileTracker` is handed to the tools as ``ToolContext.on_file_change``: ``write_file``
    and ``edit_file`` call :meth:`FileTracker.before_change` with the resolved path just before
    they modify a file. The first time a path changes in a session its *original* content (or
    its absence) is stored; at each checkpoint the current content of every tracked path is
    stored in the manifest. So the state of any file at any checkpoint is known: the manifest
    entry when the file was tracked by then, otherwise its original (nothing changed it yet).

    Only changes made through the file tools are tracked. Side effects of shell commands
    (``execute_bash``, ``rm``, ``git checkout``, a build) and of other programs are not — the
    same limit as Claude Code's checkpoints. A file a tool changes *after* a shell command
    changed it is restored to what the tool saw.

Storage
    Everything lives in the moco database (one file, one backup, deleted with the session):
    ``tracked_files`` (path -> original), ``checkpoints`` (with the manifest as JSON) and
    ``file_blobs``: file versions addressed by their sha256, zlib-compressed, stored once per
    session however many checkpoints refer to them, and dropped when none does. Content is
    bytes, so binary files round-trip. Files over :data:`MAX_TRACKED_BYTES` are not kept; the
    manifest records a note instead, and a restore leaves them as they are and says so.
    Directories created for new files are left in place when those files are removed.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moco.errors import ConfigError, MocoError
from moco.storage.db import utcnow
from moco.storage.session_state import ModelChoice, SessionState, SessionStateStore

if TYPE_CHECKING:
    from moco.core.orchestrator import Orchestrator
    from moco.storage.session_logger import SessionLogger

MAX_TRACKED_BYTES = 10 * 1024 * 1024
#: manifest markers for content that was not kept (a real state is a sha256 hex or None)
TOO_LARGE = "!too-large"
UNREADABLE = "!unreadable"
AUTO_PREFIX = "cp-"
MAX_NAME_CHARS = 100

#: a file's state: the sha256 of its content, None when it does not exist, or a marker
FileState = str | None
Manifest = dict[str, FileState]
Todos = list[dict[str, Any]]


class CheckpointError(MocoError):
    """A stored file version is missing or damaged."""


class CheckpointNotFound(ConfigError):
    """No checkpoint of the session has that name."""


class DuplicateCheckpoint(ConfigError):
    """Checkpoint names are unique within a session."""


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    id: int
    session_id: str
    name: str
    seq: int
    #: the todo list at that point; None when it was not known (saved outside a chat)
    todos: Todos | None
    working_dir: str | None
    profile: str | None
    model: str | None
    #: absolute path -> state, for every file the agents changed before this checkpoint
    manifest: Manifest
    created_at: str
    #: the session's todo list, loaded skills and /model choice then (None: not recorded)
    state: SessionState | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What a restore changed (``applied``) or would change (a preview)."""

    checkpoint: CheckpointRecord
    restored: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    #: files left as they are, with the reason (not kept when saved, a directory now, an error)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    messages_dropped: int = 0
    checkpoints_dropped: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def todos(self) -> Todos | None:
        return self.checkpoint.todos

    @property
    def loaded_skills(self) -> list[str] | None:
        state = self.checkpoint.state
        return None if state is None else state.skill_names

    @property
    def working_dir(self) -> str | None:
        return self.checkpoint.working_dir

    @property
    def profile(self) -> str | None:
        return self.checkpoint.profile

    @property
    def model(self) -> str | None:
        return self.checkpoint.model

    @property
    def changes_anything(self) -> bool:
        return bool(self.restored or self.removed or self.messages_dropped
                    or self.checkpoints_dropped)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A file as read now: its state, its bytes when kept, and why not otherwise."""

    state: FileState
    data: bytes | None = None
    note: str | None = None


def read_state(path: Path, max_bytes: int = MAX_TRACKED_BYTES) -> Snapshot:
    """Read ``path`` for tracking (never raises for a missing or unreadable file)."""
    try:
        if not path.exists() and not path.is_symlink():
            return Snapshot(None)
        if not path.is_file():
            return Snapshot(UNREADABLE, note="not a regular file")
        size = path.stat().st_size
        if size > max_bytes:
            return Snapshot(TOO_LARGE, note=f"{size} bytes, over the {max_bytes}-byte limit")
        data = path.read_bytes()
    except FileNotFoundError:
        return Snapshot(None)
    except OSError as exc:
        return Snapshot(UNREADABLE, note=f"cannot be read ({exc.strerror or exc})")
    return Snapshot(hashlib.sha256(data).hexdigest(), data)


def is_content(state: FileState) -> bool:
    """True when ``state`` names stored content (not absence, not a marker)."""
    return state is not None and not state.startswith("!")


class FileTracker:
    """Keeps the original of every file a session's tools change; thread-safe.

    Pass :meth:`before_change` as ``ToolContext.on_file_change``.
    """

    def __init__(
        self, sessions: SessionLogger, session_id: str, *, max_bytes: int = MAX_TRACKED_BYTES
    ) -> None:
        self.sessions = sessions
        self.session_id = session_id
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._known: set[str] | None = None

    def before_change(self, path: Path) -> None:
        """Record ``path``'s content (or absence) if this session has not changed it yet."""
        key = str(Path(path).absolute())
        with self._lock:
            if self._known is None:
                self._known = set(self.originals())
            if key in self._known:
                return
            snapshot = read_state(Path(key), self.max_bytes)
            with self.sessions.db.transaction() as conn:
                self.store(conn, snapshot)
                conn.execute(
                    "INSERT INTO tracked_files (session_id, path, original, note,"
                    " first_changed_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (self.session_id, key, snapshot.state, snapshot.note, utcnow()),
                )
            self._known.add(key)

    def originals(self) -> Manifest:
        """Every tracked path with its state before the session first changed it."""
        rows = self.sessions.db.query(
            "SELECT path, original FROM tracked_files WHERE session_id = ? ORDER BY path",
            (self.session_id,),
        )
        return {str(row["path"]): row["original"] for row in rows}

    def notes(self) -> dict[str, str]:
        """Why some originals were not kept (too large, unreadable)."""
        rows = self.sessions.db.query(
            "SELECT path, note FROM tracked_files WHERE session_id = ? AND note IS NOT NULL",
            (self.session_id,),
        )
        return {str(row["path"]): str(row["note"]) for row in rows}

    def snapshot(self, conn: sqlite3.Connection) -> tuple[Manifest, dict[str, str]]:
        """The current state of every tracked file (content stored) and notes on any skipped."""
        manifest: Manifest = {}
        notes: dict[str, str] = {}
        for path in self.originals():
            current = read_state(Path(path), self.max_bytes)
            self.store(conn, current)
            manifest[path] = current.state
            if current.note:
                notes[path] = current.note
        return manifest, notes

    def store(self, conn: sqlite3.Connection, snapshot: Snapshot) -> None:
        """Keep ``snapshot``'s bytes (once per session and content)."""
        if snapshot.data is None or snapshot.state is None:
            return
        exists = conn.execute(
            "SELECT 1 FROM file_blobs WHERE session_id = ? AND hash = ?",
            (self.session_id, snapshot.state),
        ).fetchone()
        if exists is None:
            conn.execute(
                "INSERT INTO file_blobs (session_id, hash, size, data, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (self.session_id, snapshot.state, len(snapshot.data),
                 zlib.compress(snapshot.data, 6), utcnow()),
            )

    def load(self, state: str) -> bytes:
        """The content whose sha256 is ``state``."""
        row = self.sessions.db.query_one(
            "SELECT data FROM file_blobs WHERE session_id = ? AND hash = ?",
            (self.session_id, state),
        )
        if row is None:
            raise CheckpointError(f"the stored file version {state[:12]} is missing")
        data = zlib.decompress(row["data"])
        if hashlib.sha256(data).hexdigest() != state:
            raise CheckpointError(f"the stored file version {state[:12]} is damaged")
        return data


class CheckpointManager:
    """Save, list, restore and delete the checkpoints of one session."""

    def __init__(
        self, sessions: SessionLogger, session_id: str, *, tracker: FileTracker | None = None
    ) -> None:
        self.sessions = sessions
        self.session_id = session_id
        self.tracker = tracker if tracker is not None else FileTracker(sessions, session_id)
        self.db = sessions.db
        self.states = SessionStateStore(sessions.db)

    # -- saving -------------------------------------------------------------------------------
    def save(
        self,
        name: str | None = None,
        *,
        state: Mapping[str, Any] | None = None,
        working_dir: str | Path | None = None,
        profile: str | None = None,
        model: str | None = None,
        model_choice: ModelChoice | None = None,
    ) -> CheckpointRecord:
        """Remember this point of the session; ``name`` defaults to ``cp-1``, ``cp-2`` ...

        ``state`` is the tools' shared state (its todo list and loaded skills are kept, with
        ``model_choice``); without it, the session's stored state is kept. ``working_dir``,
        ``profile`` and ``model`` default to the session's.
        """
        session = self.sessions.require_session(self.session_id)
        kept = (SessionState.capture(state, model_choice) if state is not None
                else self.states.load(self.session_id))
        todos = None if kept is None else [dict(item) for item in kept.todos]
        folder = str(working_dir) if working_dir is not None else session.working_dir
        with self.db.transaction() as conn:
            chosen = self._auto_name(conn) if name is None else _check_name(name)
            self._refuse_taken(conn, chosen)
            manifest, _notes = self.tracker.snapshot(conn)
            try:
                conn.execute(
                    "INSERT INTO checkpoints (session_id, name, seq, todos, working_dir,"
                    " profile, model, manifest, created_at, state)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (self.session_id, chosen, self.sessions.last_seq(self.session_id),
                     None if todos is None else _dump(todos), folder,
                     profile or session.profile, model or session.model, _dump(manifest),
                     utcnow(), None if kept is None else kept.to_json()),
                )
            except sqlite3.IntegrityError as exc:
                raise _duplicate(chosen) from exc
        return self.require(chosen)

    def _auto_name(self, conn: sqlite3.Connection) -> str:
        rows = conn.execute(
            "SELECT name FROM checkpoints WHERE session_id = ? AND name LIKE ?",
            (self.session_id, AUTO_PREFIX + "%"),
        ).fetchall()
        numbers = [int(m.group(1)) for row in rows
                   if (m := re.fullmatch(re.escape(AUTO_PREFIX) + r"(\d+)", row[0]))]
        return f"{AUTO_PREFIX}{max(numbers, default=0) + 1}"

    def _refuse_taken(self, conn: sqlite3.Connection, name: str) -> None:
        taken = conn.execute(
            "SELECT 1 FROM checkpoints WHERE session_id = ? AND name = ?", (self.session_id, name)
        ).fetchone()
        if taken:
            raise _duplicate(name)

    # -- reading ------------------------------------------------------------------------------
    def list(self) -> list[CheckpointRecord]:
        """The session's checkpoints, oldest first."""
        rows = self.db.query(
            "SELECT * FROM checkpoints WHERE session_id = ? ORDER BY seq, id", (self.session_id,)
        )
        return [_record(row) for row in rows]

    def get(self, name: str) -> CheckpointRecord | None:
        row = self.db.query_one(
            "SELECT * FROM checkpoints WHERE session_id = ? AND name = ?",
            (self.session_id, name.strip()),
        )
        return None if row is None else _record(row)

    def require(self, name: str) -> CheckpointRecord:
        record = self.get(name)
        if record is None:
            known = ", ".join(cp.name for cp in self.list()) or "none yet"
            raise CheckpointNotFound(f"no checkpoint named '{name}' in this session "
                                     f"(checkpoints: {known})")
        return record

    # -- restoring ----------------------------------------------------------------------------
    def preview(self, name: str) -> RestoreResult:
        """What :meth:`restore` would change, without changing anything."""
        checkpoint = self.require(name)
        restored: list[Path] = []
        removed: list[Path] = []
        skipped: list[tuple[Path, str]] = []
        for path, target in self.targets(checkpoint).items():
            action = _action(Path(path), target, self.tracker.max_bytes)
            if action == "restore":
                restored.append(Path(path))
            elif action == "remove":
                removed.append(Path(path))
            elif action:
                skipped.append((Path(path), action))
        later = [cp.name for cp in self.list() if cp.seq > checkpoint.seq]
        dropped = max(self.sessions.last_seq(self.session_id) - checkpoint.seq, 0)
        return RestoreResult(checkpoint, restored, removed, skipped, dropped, later)

    def targets(self, checkpoint: CheckpointRecord) -> Manifest:
        """Every tracked file's state at ``checkpoint``: its manifest entry, or its original
        when the session first changed it after the checkpoint."""
        return {path: checkpoint.manifest.get(path, original)
                for path, original in self.tracker.originals().items()}

    def restore(self, name: str) -> RestoreResult:
        """Rewind the conversation and the tracked files to checkpoint ``name``."""
        plan = self.preview(name)
        checkpoint = plan.checkpoint
        targets = self.targets(checkpoint)
        restored: list[Path] = []
        removed: list[Path] = []
        skipped = list(plan.skipped)
        for path in plan.restored:
            try:
                _write(path, self.tracker.load(str(targets[str(path)])))
                restored.append(path)
            except OSError as exc:
                skipped.append((path, f"cannot be written ({exc.strerror or exc})"))
        for path in plan.removed:
            try:
                path.unlink(missing_ok=True)
                removed.append(path)
            except OSError as exc:
                skipped.append((path, f"cannot be deleted ({exc.strerror or exc})"))
        with self.db.transaction() as conn:
            dropped = self.sessions.truncate_after(self.session_id, checkpoint.seq)
            self._forget_compaction_after(checkpoint.seq)
            conn.execute("DELETE FROM checkpoints WHERE session_id = ? AND seq > ?",
                         (self.session_id, checkpoint.seq))
            self._collect_garbage(conn)
            rewound = self._state_at(checkpoint)
            if rewound is not None:
                self.states.save(self.session_id, rewound, conn)
        return RestoreResult(checkpoint, restored, removed, skipped, dropped,
                             plan.checkpoints_dropped, applied=True)

    def _state_at(self, checkpoint: CheckpointRecord) -> SessionState | None:
        """The session's state after restoring ``checkpoint``: its todo list and loaded
        skills, the model choice of now (None when the checkpoint recorded nothing)."""
        current = self.states.load(self.session_id) or SessionState()
        kept = checkpoint.state
        if kept is None and checkpoint.todos is None:
            return None
        if kept is None:  # saved before the state was recorded: the todo list only
            return SessionState(tuple(checkpoint.todos or ()), current.loaded_skills,
                                current.model)
        return SessionState(kept.todos, kept.loaded_skills, current.model)

    def _forget_compaction_after(self, seq: int) -> None:
        """A compaction summary covering messages after ``seq`` summarizes dropped messages:
        forget it, so the history reloads from the messages kept (compacted again if long)."""
        session = self.sessions.require_session(self.session_id)
        compaction = session.metadata.get("compaction")
        if isinstance(compaction, dict) and int(compaction.get("upto_seq") or 0) > seq:
            metadata = {k: v for k, v in session.metadata.items() if k != "compaction"}
            self.sessions.update_session(self.session_id, metadata=metadata)

    # -- deleting -----------------------------------------------------------------------------
    def delete(self, name: str) -> bool:
        """Delete a checkpoint (files and messages are untouched); False when there is none."""
        with self.db.transaction() as conn:
            cursor = conn.execute("DELETE FROM checkpoints WHERE session_id = ? AND name = ?",
                                  (self.session_id, name.strip()))
            if cursor.rowcount:
                self._collect_garbage(conn)
        return cursor.rowcount > 0

    def _collect_garbage(self, conn: sqlite3.Connection) -> None:
        """Drop stored file versions no original and no checkpoint refers to any more."""
        used = {str(row[0]) for row in conn.execute(
            "SELECT original FROM tracked_files WHERE session_id = ? AND original IS NOT NULL",
            (self.session_id,))}
        for (manifest,) in conn.execute(
            "SELECT manifest FROM checkpoints WHERE session_id = ?", (self.session_id,)
        ).fetchall():
            used.update(state for state in json.loads(manifest).values() if state)
        stored = [str(row[0]) for row in conn.execute(
            "SELECT hash FROM file_blobs WHERE session_id = ?", (self.session_id,))]
        conn.executemany("DELETE FROM file_blobs WHERE session_id = ? AND hash = ?",
                         [(self.session_id, state) for state in stored if state not in used])


# -- the chat REPL's /checkpoint and /restore ---------------------------------------------------


def manager_for(orchestrator: Orchestrator) -> CheckpointManager:
    """The checkpoints of the orchestrator's current session (sharing its file tracker)."""
    session_id = orchestrator.session_id
    if session_id is None:
        raise ConfigError("there is no session to checkpoint yet — send a message first")
    tracker = getattr(orchestrator, "file_tracker", None)
    if not isinstance(tracker, FileTracker) or tracker.session_id != session_id:
        tracker = None
    return CheckpointManager(orchestrator.sessions, session_id, tracker=tracker)


def save_checkpoint(orchestrator: Orchestrator, name: str | None = None) -> CheckpointRecord:
    """``/checkpoint [name]``: save the current point of the orchestrator's session."""
    return manager_for(orchestrator).save(
        name, state=orchestrator.state, working_dir=orchestrator.working_dir,
        profile=orchestrator.profile.name, model=orchestrator.settings.model,
        model_choice=orchestrator.model_choice,
    )


def restore_checkpoint(orchestrator: Orchestrator, name: str) -> RestoreResult:
    """``/restore <name>``: rewind the session and files, and put the todo list and the
    loaded skills back (in memory and in the session store).

    The working directory, profile and model of the checkpoint are in the result; switching
    them is the caller's choice (a REPL may re-create its orchestrator with them).
    """
    manager = manager_for(orchestrator)
    result = manager.restore(name)
    if result.checkpoint.state is not None or result.todos is not None:
        rewound = manager.states.load(manager.session_id) or SessionState()
        rewound.apply_to(orchestrator.state)
    return result


# -- helpers ----------------------------------------------------------------------------------


def _action(path: Path, target: FileState, max_bytes: int) -> str:
    """``"restore"``, ``"remove"``, ``""`` (already right) or why the file is left alone."""
    if target == TOO_LARGE:
        return "was too large to keep when saved; left as it is"
    if target == UNREADABLE:
        return "could not be read when saved; left as it is"
    if path.is_dir() and not path.is_symlink():
        return "is a directory now; left as it is"
    current = read_state(path, max_bytes)
    if current.state == target:
        return ""
    return "remove" if target is None else "restore"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_bytes(data)


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ConfigError("a checkpoint name cannot be empty — leave it out for cp-1, cp-2 ...")
    if len(name) > MAX_NAME_CHARS or any(char.isspace() for char in name):
        raise ConfigError(f"checkpoint names are one word of at most {MAX_NAME_CHARS} "
                          f"characters; '{name[:40]}' is not")
    return name


def _duplicate(name: str) -> DuplicateCheckpoint:
    return DuplicateCheckpoint(f"this session already has a checkpoint named '{name}' — "
                               "choose another name, or delete it first")


def _record(row: sqlite3.Row) -> CheckpointRecord:
    return CheckpointRecord(
        id=int(row["id"]), session_id=row["session_id"], name=row["name"], seq=int(row["seq"]),
        todos=None if row["todos"] is None else json.loads(row["todos"]),
        working_dir=row["working_dir"], profile=row["profile"], model=row["model"],
        manifest=json.loads(row["manifest"]), created_at=row["created_at"],
        state=SessionState.from_json(row["state"]),
    )


def _dump(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def relative_paths(paths: Iterable[Path], root: str | Path | None) -> list[str]:
    """Paths as a person reads them: relative to ``root`` when inside it."""
    shown: list[str] = []
    for path in paths:
        try:
            shown.append(str(path.relative_to(root)) if root else str(path))
        except ValueError:
            shown.append(str(path))
    return shown
