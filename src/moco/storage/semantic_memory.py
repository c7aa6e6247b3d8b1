"""The memory store: rows in SQLite, keyword search by FTS5 (BM25), vectors in FAISS files.

Each memory is a row of ``memories`` (the seed's table) with its FTS5 entry kept by triggers.
With an embedder, its vector goes to the index of that embedder's name and dimension
(:mod:`moco.storage.memory_vectors`): a model change starts a new index, never mixes two.
The rows are the truth: before a vector search the index is brought in step with them — rows
without a vector (added with no embedder, under another model, or by another process) are
embedded, vectors of deleted rows removed — and ``memory_state.generation`` (bumped by the
triggers) makes "nothing changed" one cheap read. Search fuses the vector and the keyword
ranking by reciprocal rank fusion; without an embedder, or when the embedding request fails,
it is keyword search alone.

Scopes: a search with ``profile="p"`` sees memories of ``p`` and of no profile; with
``project="/x"`` those of ``/x`` and of no project. Superseded memories are kept as history
and left out of searches unless asked for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moco.errors import ConfigError, ProviderError
from moco.storage.db import (
    MEMORY_MIGRATION,
    Database,
    database_path,
    database_url,
    utcnow,
)
from moco.storage.memory_vectors import VectorIndex, describe, embedder_dir, index_files

if TYPE_CHECKING:
    from moco.providers.embeddings import Embedder

log = logging.getLogger(__name__)

KINDS = ("fact", "preference", "procedure", "note")
#: the memory file in MOCO_HOME when the rest of the store is in PostgreSQL (MOCO_DB_URL)
LOCAL_MEMORY_DB = "memory.db"
#: reciprocal rank fusion constant (Cormack et al.): 1 / (RRF_K + rank)
RRF_K = 60
_WORD = re.compile(r"\w+")
_MAX_TERMS = 24
#: from this many memories on, keyword search treats words most memories hold apart
LARGE_STORE = 20_000
#: a word in more memories than this (or than 0.5% of them) is common
MIN_COMMON = 200
_STOPWORDS = frozenset({
    "a", "about", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been",
    "but", "by", "can", "could", "did", "do", "just", "no", "not", "only", "some", "very",
    "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it",
    "its", "me", "my", "of", "on", "or", "our", "should", "so", "than", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "to", "us", "was", "we", "were", "what",
    "when", "where", "which", "who", "whom", "why", "will", "with", "would", "you", "your",
})


class MemoryNotFound(ConfigError):
    """No memory has the id given."""


@dataclass(frozen=True)
class MemoryRecord:
    id: int
    text: str
    kind: str
    profile: str | None
    project: str | None
    source: str | None
    created_at: str
    updated_at: str
    superseded_by: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "kind": self.kind, "profile": self.profile,
                "project": self.project, "source": self.source, "created_at": self.created_at,
                "updated_at": self.updated_at, "superseded_by": self.superseded_by,
                "metadata": dict(self.metadata)}


@dataclass(frozen=True)
class MemoryHit:
    record: MemoryRecord
    #: fused rank score, higher is better
    score: float
    #: "vector" | "keyword" | "hybrid"
    via: str
    #: cosine similarity of the memory's vector and the query's (vector hits only)
    similarity: float | None = None
    #: BM25 score of the keyword match, higher is better (keyword hits only)
    bm25: float | None = None


# the class has a method named ``list``: its annotations use these names instead
Ids = list[int]
Vectors = list[list[float]]
Ranking = list[tuple[int, float]]


def query_terms(query: str) -> list[str]:
    """The words of ``query`` worth searching for: stopwords left out unless the query has
    nothing else, each once, at most :data:`_MAX_TERMS`."""
    words = list(dict.fromkeys(_WORD.findall(query.casefold())))
    return ([w for w in words if w not in _STOPWORDS] or words)[:_MAX_TERMS]


def match_expression(query: str | Sequence[str], operator: str = "OR") -> str:
    """An FTS5 query for the words of ``query`` (any of them, or all with ``AND``), each
    quoted so nothing in it is FTS5 syntax; empty when it has no words."""
    terms = query_terms(query) if isinstance(query, str) else list(query)
    return f" {operator} ".join(f'"{term}"' for term in terms)


def _scope(profile: str | None, project: str | None, include_superseded: bool,
           table: str = "m") -> tuple[str, list[Any]]:
    clauses, params = ["1"], []
    if not include_superseded:
        clauses.append(f"{table}.superseded_by IS NULL")
    if profile is not None:
        clauses.append(f"({table}.profile = ? OR {table}.profile IS NULL)")
        params.append(profile)
    if project is not None:
        clauses.append(f"({table}.project = ? OR {table}.project IS NULL)")
        params.append(project)
    return " AND ".join(clauses), params


def _record(row: sqlite3.Row) -> MemoryRecord:
    try:
        metadata = json.loads(row["metadata"] or "{}")
    except ValueError:
        metadata = {}
    return MemoryRecord(
        id=row["id"], text=row["text"], kind=row["kind"], profile=row["profile"],
        project=row["project"], source=row["source"], created_at=row["created_at"],
        updated_at=row["updated_at"], superseded_by=row["superseded_by"],
        metadata=metadata if isinstance(metadata, dict) else {},
    )


def _fuse(rankings: Mapping[str, Sequence[int]]) -> list[tuple[int, float, str]]:
    """Reciprocal rank fusion: ``(id, score, via)``, best first."""
    scores: dict[int, float] = {}
    seen_by: dict[int, set[str]] = {}
    for name, ids in rankings.items():
        for rank, memory_id in enumerate(ids, start=1):
            scores[memory_id] = scores.get(memory_id, 0.0) + 1.0 / (RRF_K + rank)
            seen_by.setdefault(memory_id, set()).add(name)
    ordered = sorted(scores, key=lambda i: (-scores[i], i))
    return [(i, scores[i], "hybrid" if len(seen_by[i]) > 1 else next(iter(seen_by[i])))
            for i in ordered]


Records = list[MemoryRecord]
Hits = list[MemoryHit]


class SemanticMemory:
    """Memories of every profile and project, searchable by meaning and by keyword."""

    def __init__(self, db: Database, embedder: Embedder | None, index_dir: Path) -> None:
        self.db = db
        self.embedder = embedder
        self.index_dir = index_dir
        #: the last embedding failure (search fell back to keywords), for front ends to show
        self.last_error: str | None = None
        self._indexes: dict[int, VectorIndex] = {}
        self._lock: asyncio.Lock | None = None
        self._count: tuple[int, int] | None = None

    @classmethod
    def open(cls, env: Mapping[str, str], embedder: Embedder | None = None) -> SemanticMemory:
        """The store of ``MOCO_HOME/moco.db`` (indexes under ``MOCO_HOME/memory``), or of the
        file ``MEMORY_DB_PATH`` (or the seed's ``SEMANTIC_DB_PATH``) names, with its indexes
        in ``<file>.index/`` beside it."""
        from moco.config import ensure_private_dir, moco_home

        named = (env.get("MEMORY_DB_PATH") or env.get("SEMANTIC_DB_PATH") or "").strip()
        home = moco_home(env)
        if not named and database_url(env) is None:
            return cls(Database(database_path(home)), embedder,
                       ensure_private_dir(home / "memory"))
        # a PostgreSQL store (MOCO_DB_URL) holds no memories: FTS5 and the vector index stay
        # in a SQLite file on this node, MOCO_HOME/memory.db
        path = Path(named).expanduser() if named else ensure_private_dir(home) / LOCAL_MEMORY_DB
        if path.is_dir():
            path = path / "memory.db"
        db = Database(path, migrations=[MEMORY_MIGRATION])
        return cls(db, embedder, path.with_name(path.name + ".index"))

    def close(self) -> None:
        self.db.close()

    # -- writing --------------------------------------------------------------------------
    async def add(self, text: str, *, kind: str = "fact", profile: str | None = None,
                  project: str | None = None, source: str | None = None,
                  metadata: dict[str, Any] | None = None) -> MemoryRecord:
        (record,) = await self.add_many([text], kind=kind, profile=profile, project=project,
                                        source=source, metadata=metadata)
        return record

    async def add_many(self, texts: Sequence[str], *, kind: str = "fact",
                       profile: str | None = None, project: str | None = None,
                       source: str | None = None, metadata: dict[str, Any] | None = None
                       ) -> list[MemoryRecord]:
        """Add several memories of the same kind and scope: one transaction, one embedding
        request per batch, one index write."""
        cleaned = [" ".join(text.split()) for text in texts]
        if any(not text for text in cleaned):
            raise ValueError("a memory needs some text")
        if kind not in KINDS:
            raise ValueError(f"unknown memory kind {kind!r} — one of {', '.join(KINDS)}")
        vectors = await self._embed(cleaned)
        now, meta = utcnow(), json.dumps(metadata or {}, ensure_ascii=False, default=str)
        rows = [(text, kind, profile, project, source, now, now, meta) for text in cleaned]
        with self.db.transaction() as conn:
            before = self._generation(conn)
            first = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence"
                                 " WHERE name = 'memories'").fetchone()[0]
            conn.executemany(
                "INSERT INTO memories (text, kind, profile, project, source, created_at,"
                " updated_at, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            ids = list(range(first + 1, first + 1 + len(rows)))
            after = self._generation(conn)
        records = [MemoryRecord(i, text, kind, profile, project, source, now, now,
                                None, dict(metadata or {})) for i, text in zip(ids, cleaned,
                                                                                 strict=True)]
        if vectors is not None:
            await self._store_vectors(ids, vectors, before, after)
        return records

    async def supersede(self, old_id: int, text: str, **fields: Any) -> MemoryRecord:
        """Add ``text`` in place of memory ``old_id``, which is kept as history (its
        ``superseded_by`` points at the new one). Unset fields are the old memory's."""
        old = self.require(old_id)
        options: dict[str, Any] = {"kind": old.kind, "profile": old.profile,
                                   "project": old.project, "source": old.source,
                                   "metadata": old.metadata}
        unknown = set(fields) - set(options)
        if unknown:
            raise TypeError(f"supersede() got unexpected fields {sorted(unknown)}")
        options.update(fields)
        record = await self.add(text, **options)
        self.db.execute("UPDATE memories SET superseded_by = ?, updated_at = ? WHERE id = ?",
                        (record.id, utcnow(), old_id))
        return record

    def delete(self, memory_id: int) -> bool:
        """Delete the memory: its row, its FTS entry and its vector in every index."""
        return self._delete("id = ?", [memory_id]) > 0

    def forget_all(self, *, profile: str | None = None) -> int:
        """Delete every memory (or every memory of ``profile``); returns how many."""
        if profile is None:
            return self._delete("1", [])
        return self._delete("profile = ?", [profile])

    def _delete(self, where: str, params: list[Any]) -> int:
        with self.db.lock:
            secure = self.db.pragma("secure_delete")
            self.db.execute("PRAGMA secure_delete = ON")  # the text is overwritten on disk
            try:
                with self.db.transaction() as conn:
                    before = self._generation(conn)
                    ids = [row[0] for row in conn.execute(
                        f"SELECT id FROM memories WHERE {where}", params)]
                    conn.execute(f"DELETE FROM memories WHERE {where}", params)
                    after = self._generation(conn)
            finally:
                self.db.execute(f"PRAGMA secure_delete = {int(secure or 0)}")
        if ids:
            self._remove_vectors(ids, before, after)
        return len(ids)

    def _remove_vectors(self, ids: list[int], before: int, after: int) -> None:
        """Take ``ids`` out of every index file, whichever embedder made it."""
        loaded = {index.path: index for index in self._indexes.values()}
        for path in index_files(self.index_dir):
            index = loaded.get(path) or VectorIndex.at(path)
            in_step = index.synced == before and not index.changed_on_disk()
            index.remove(ids)
            index.save()
            if in_step:
                index.synced = after

    # -- reading --------------------------------------------------------------------------
    def get(self, memory_id: int) -> MemoryRecord | None:
        row = self.db.query_one("SELECT * FROM memories WHERE id = ?", (memory_id,))
        return None if row is None else _record(row)

    def require(self, memory_id: int) -> MemoryRecord:
        record = self.get(memory_id)
        if record is None:
            raise MemoryNotFound(f"no memory {memory_id} — see moco memory list")
        return record

    def list(self, *, limit: int = 50, profile: str | None = None, project: str | None = None,
             include_superseded: bool = False) -> list[MemoryRecord]:
        """Memories, newest first (``limit`` <= 0: all of them)."""
        where, params = _scope(profile, project, include_superseded)
        sql = f"SELECT * FROM memories m WHERE {where} ORDER BY m.id DESC"
        if limit > 0:
            sql += " LIMIT ?"
            params.append(limit)
        return [_record(row) for row in self.db.query(sql, params)]

    def keyword_search(self, query: str, *, k: int = 5, profile: str | None = None,
                       project: str | None = None, include_superseded: bool = False
                       ) -> Hits:
        """BM25 over the memories' words (stemmed); no embedder needed."""
        ranked = self._keyword_ranking(query, k, profile, project, include_superseded)
        records = self._records([memory_id for memory_id, _ in ranked])
        return [MemoryHit(records[i], 1.0 / (RRF_K + rank), "keyword", bm25=score)
                for rank, (i, score) in enumerate(ranked, start=1) if i in records]

    async def search(self, query: str, *, k: int = 5, profile: str | None = None,
                     project: str | None = None, include_superseded: bool = False
                     ) -> Hits:
        """Hybrid search: the vector and the keyword rankings fused by reciprocal rank."""
        depth = max(4 * k, 20)
        keyword = self._keyword_ranking(query, depth, profile, project, include_superseded,
                                        enough=k)
        vector: Ranking = []
        vectors = await self._embed([query]) if query.strip() else None
        if vectors is not None:
            index = await self._in_step(len(vectors[0]))
            if index is not None:
                vector = self._vector_ranking(index, vectors[0], depth, profile, project,
                                              include_superseded)
        fused = _fuse({"vector": [i for i, _ in vector], "keyword": [i for i, _ in keyword]})
        fused = fused[:k]
        records = self._records([i for i, _, _ in fused])
        similarity, bm25 = dict(vector), dict(keyword)
        return [MemoryHit(records[i], score, via, similarity.get(i), bm25.get(i))
                for i, score, via in fused if i in records]

    def _keyword_ranking(self, query: str, limit: int, profile: str | None,
                         project: str | None, include_superseded: bool,
                         enough: int | None = None) -> Ranking:
        """Up to ``limit`` ``(id, bm25)``, best first; the next, slower query of
        :meth:`_expressions` is tried only while fewer than ``enough`` were found."""
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        where, params = _scope(profile, project, include_superseded)
        ranked: dict[int, float] = {}
        for expression in self._expressions(terms):
            rows = self.db.query(
                "SELECT m.id, bm25(memories_fts) AS rank FROM memories_fts"
                " JOIN memories m ON m.id = memories_fts.rowid"
                f" WHERE memories_fts MATCH ? AND {where} ORDER BY rank LIMIT ?",
                [expression, *params, limit])
            for memory_id, rank in rows:
                ranked.setdefault(memory_id, -float(rank))
            if len(ranked) >= (enough or limit):
                break
        return list(ranked.items())[:limit]

    def _expressions(self, terms: Sequence[str]) -> Iterator[str]:
        """The FTS5 queries to try in turn, until enough memories are found. In a small
        store, any of the terms. In a large one BM25 over every memory holding a common word
        is slow, so: any of the selective terms, then all the terms together, and only then
        any of the common ones."""
        size = self._size()
        if size < LARGE_STORE or len(terms) == 1:
            yield match_expression(terms)
            return
        cap = max(MIN_COMMON, size // 200)
        rare = [term for term in terms if self._documents_with(term, cap + 1) <= cap]
        common = [term for term in terms if term not in rare]
        if rare:
            yield match_expression(rare)
        if common:
            yield match_expression(terms, "AND")
            yield match_expression(common)

    def _documents_with(self, term: str, cap: int) -> int:
        row = self.db.query_one(
            "SELECT COUNT(*) FROM (SELECT rowid FROM memories_fts WHERE memories_fts MATCH ?"
            " LIMIT ?)", (f'"{term}"', cap))
        return int(row[0]) if row is not None else 0

    def _size(self) -> int:
        """How many memories there are (counted again only after a change)."""
        generation = self._current_generation()
        if self._count is None or self._count[0] != generation:
            row = self.db.query_one("SELECT COUNT(*) FROM memories")
            self._count = (generation, int(row[0]) if row is not None else 0)
        return self._count[1]

    def _vector_ranking(self, index: VectorIndex, vector: Sequence[float], limit: int,
                        profile: str | None, project: str | None, include_superseded: bool
                        ) -> Ranking:
        """The nearest memories in scope: the index is searched ever deeper until ``limit``
        of them pass the scope filter or the index has no more."""
        total = index.ntotal
        fetch = limit * 4
        while True:
            found = index.search(vector, fetch)
            allowed = self._in_scope([i for i, _ in found], profile, project,
                                     include_superseded)
            kept = [(i, score) for i, score in found if i in allowed]
            if len(kept) >= limit or fetch >= total:
                return kept[:limit]
            fetch *= 4

    def _in_scope(self, ids: Ids, profile: str | None, project: str | None,
                  include_superseded: bool) -> set[int]:
        if not ids:
            return set()
        where, params = _scope(profile, project, include_superseded)
        marks = ",".join("?" * len(ids))
        rows = self.db.query(f"SELECT m.id FROM memories m WHERE m.id IN ({marks}) AND {where}",
                             [*ids, *params])
        return {row[0] for row in rows}

    def _records(self, ids: Ids) -> dict[int, MemoryRecord]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.query(f"SELECT * FROM memories WHERE id IN ({marks})", ids)
        return {row["id"]: _record(row) for row in rows}

    def stats(self) -> dict[str, Any]:
        """Counts by kind and profile, the database file and the index files."""
        rows = self.db.query(
            "SELECT kind, profile, superseded_by IS NOT NULL AS old, COUNT(*) AS n"
            " FROM memories GROUP BY kind, profile, old")
        by_kind: dict[str, int] = {}
        by_profile: dict[str, int] = {}
        superseded = 0
        for row in rows:
            if row["old"]:
                superseded += row["n"]
                continue
            by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + row["n"]
            name = row["profile"] or "(all profiles)"
            by_profile[name] = by_profile.get(name, 0) + row["n"]
        return {
            "memories": sum(by_kind.values()), "superseded": superseded,
            "by_kind": by_kind, "by_profile": by_profile,
            "database": str(self.db.path),
            "embedder": self.embedder.name if self.embedder is not None else None,
            "indexes": [describe(path) for path in index_files(self.index_dir)],
            "last_error": self.last_error,
        }

    # -- vectors --------------------------------------------------------------------------
    @staticmethod
    def _generation(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT generation FROM memory_state WHERE id = 1").fetchone()
        return int(row[0]) if row is not None else 0

    def _current_generation(self) -> int:
        row = self.db.query_one("SELECT generation FROM memory_state WHERE id = 1")
        return int(row[0]) if row is not None else 0

    async def _embed(self, texts: Sequence[str]) -> Vectors | None:
        """Vectors for ``texts``, or None (no embedder, or it failed: keyword search only)."""
        if self.embedder is None or not texts:
            return None
        try:
            vectors = await self.embedder.embed(texts)
        except ProviderError as error:
            self.last_error = str(error)
            log.warning("memory: embeddings failed, keyword search only: %s", error)
            return None
        if (not vectors or len(vectors) != len(texts) or not vectors[0]
                or any(len(vector) != len(vectors[0]) for vector in vectors)):
            self.last_error = f"{self.embedder.name} returned no usable vectors"
            return None
        self.last_error = None
        return vectors

    def _index(self, dim: int) -> VectorIndex:
        assert self.embedder is not None
        index = self._indexes.get(dim)
        if index is None:
            directory = embedder_dir(self.index_dir, self.embedder.name)
            index = self._indexes[dim] = VectorIndex(directory, self.embedder.name, dim)
        return index

    def _guard(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _store_vectors(self, ids: Ids, vectors: Vectors, before: int,
                             after: int) -> None:
        async with self._guard():
            index = self._index(len(vectors[0]))
            index.refresh()
            in_step = index.synced == before
            index.add(ids, vectors)
            if in_step:
                index.synced = after
                index.save()
            else:
                await self._sync(index)

    async def _in_step(self, dim: int) -> VectorIndex | None:
        """The index of ``dim``, in step with the rows (None when that failed)."""
        async with self._guard():
            index = self._index(dim)
            index.refresh()
            if index.synced == self._current_generation():
                return index
            return index if await self._sync(index) else None

    async def _sync(self, index: VectorIndex) -> bool:
        """Embed the rows the index lacks and drop the vectors of deleted rows."""
        generation = self._current_generation()
        rows = {row[0] for row in self.db.query("SELECT id FROM memories")}
        present = index.ids()
        index.remove(present - rows)
        missing = sorted(rows - present)
        ok = True
        for start in range(0, len(missing), 512):
            chunk = self._records(missing[start : start + 512])
            ids = sorted(chunk)
            vectors = await self._embed([chunk[i].text for i in ids])
            if vectors is None or any(len(v) != index.dim for v in vectors):
                ok = False
                break
            index.add(ids, vectors)
        index.save()
        if ok:
            index.synced = generation
        return ok
