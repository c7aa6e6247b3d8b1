"""Persistence: one SQLite database under ``MOCO_HOME`` (see :mod:`moco.storage.db`)."""

from moco.storage.db import (
    MIGRATIONS,
    Database,
    DatabaseError,
    Migration,
    database_path,
    open_database,
    utcnow,
)
from moco.storage.session_logger import (
    AmbiguousSession,
    DuplicateSessionName,
    MessageRecord,
    RunRecord,
    SessionLogger,
    SessionNotFound,
    SessionRecord,
    StorageError,
    TranscriptStore,
)

__all__ = [
    "MIGRATIONS",
    "AmbiguousSession",
    "Database",
    "DatabaseError",
    "DuplicateSessionName",
    "MessageRecord",
    "Migration",
    "RunRecord",
    "SessionLogger",
    "SessionNotFound",
    "SessionRecord",
    "StorageError",
    "TranscriptStore",
    "database_path",
    "open_database",
    "utcnow",
]
