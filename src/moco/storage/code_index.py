"""The codebase index behind ``codebase_search``: a folder's files in chunks, searchable by
keyword (SQLite FTS5, BM25) and, with an embedder, by meaning (FAISS), fused by rank.

Where
    ``$MOCO_HOME/code-index/<hash of the folder's path>/``, never in the project: ``index.db``
    (its own small SQLite file: the index is a cache that can be rebuilt at any time, can
    grow to tens of megabytes, and is removed with its folder — it has no place in the
    sessions database, its exports and its migrations) and ``vectors/<embedder>.faiss``, one
    FAISS file per embedder name (the dimension read from the first vector).

Incremental
    A file whose size and modification time are those recorded is not read, unless it was
    modified within :data:`RACY_NS` of when it was last read (an edit in the same clock tick
    would keep both). A file that is read is hashed: same content, nothing else happens;
    other content, it is chunked again (:mod:`moco.tools.code_chunks`) and its chunks replace
    the old ones (the FTS rows follow by trigger, vectors by cascade and reconciliation).
    Files no longer listed leave the index. Binary files (a NUL byte), files over
    :data:`MAX_FILE_BYTES` and lock/minified/media files are recorded without chunks. Chunks
    without a vector for the embedder in use are embedded on the next search; a query vector
    of another length than the stored ones (a new model under the same name) starts over.

Writers are serialised by an ``flock`` on ``lock`` in the index folder (chats, background
tasks and parallel agents may search the same folder at once).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import re
import sqlite3
import stat
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from moco.config import ensure_private_dir, moco_home
from moco.errors import Cancelled, ProviderError
from moco.storage.db import Database, Migration
from moco.tools.code_chunks import Chunk, chunk_file
from moco.tools.code_files import within

if TYPE_CHECKING:
    from moco.providers.embeddings import Embedder
    from moco.storage.code_vectors import VectorFile

INDEX_DIR = "code-index"
MAX_FILE_BYTES = 1_000_000
SNIFF_BYTES = 8192
RACY_NS = 2_000_000_000
#: how much of a chunk an embedder sees (tokens are money; the start says what it is)
EMBED_CHARS = 2_000
EMBED_BATCH = 96
#: requests in flight at once while a large tree is embedded the first time
EMBED_PARALLEL = 4
#: how many candidates each ranking gives the fusion
CANDIDATES = 50
RRF_K = 60
SKIP_NAMES = frozenset({"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock",
                        "uv.lock", "Cargo.lock", "Gemfile.lock", "composer.lock", "go.sum"})
SKIP_SUFFIXES = (
    ".min.js", ".min.css", ".map", ".lock", ".pyc", ".pyo", ".so", ".dylib", ".dll", ".exe",
    ".o", ".a", ".class", ".jar", ".whl", ".zip", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".tar",
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".ico", ".bmp", ".pdf", ".mp3", ".mp4", ".mov",
    ".wav", ".woff", ".woff2", ".ttf", ".otf", ".sqlite", ".db", ".parquet", ".npy", ".pt",
)  # fmt: skip

MIGRATIONS = [
    Migration("001_code_index", """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE files (
            path       TEXT PRIMARY KEY,
            size       INTEGER NOT NULL,
            mtime_ns   INTEGER NOT NULL,
            checked_ns INTEGER NOT NULL,
            hash       TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE chunks (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            path       TEXT NOT NULL,
            start_line INTEGER NOT NULL,
            end_line   INTEGER NOT NULL,
            kind       TEXT NOT NULL,
            symbol     TEXT NOT NULL,
            text       TEXT NOT NULL,
            terms      TEXT NOT NULL
        );
        CREATE INDEX chunks_path ON chunks (path);
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            path, symbol, text, terms, content='chunks', content_rowid='id');
        CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts (rowid, path, symbol, text, terms)
            VALUES (new.id, new.path, new.symbol, new.text, new.terms);
        END;
        CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts (chunks_fts, rowid, path, symbol, text, terms)
            VALUES ('delete', old.id, old.path, old.symbol, old.text, old.terms);
        END;
        CREATE TABLE vectors (
            embedder TEXT NOT NULL,
            chunk_id INTEGER NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
            PRIMARY KEY (embedder, chunk_id)
        ) WITHOUT ROWID;
        CREATE INDEX vectors_chunk ON vectors (chunk_id);
    """),
]


@dataclass(slots=True)
class IndexStats:
    """What one :meth:`CodeIndex.update` did."""

    files: int = 0  # files listed
    read: int = 0  # files read and hashed (their size or time had changed)
    chunked: int = 0  # files chunked again (their content had changed)
    removed: int = 0  # files that left the index
    chunks: int = 0  # chunks written
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class CodeHit:
    id: int
    path: str
    start: int
    end: int
    kind: str
    symbol: str
    text: str
    score: float  # fused rank score, higher is better
    via: str  # "keyword" | "vector" | "hybrid"


@dataclass(frozen=True, slots=True)
class _Change:
    path: str
    size: int
    mtime_ns: int
    hash: str
    chunks: list[Chunk] | None  # None: same content, only the file's times are new


def index_folder(home: Path, root: Path) -> Path:
    """Where the index of ``root`` lives under the moco home ``home``."""
    digest = hashlib.sha256(os.fsencode(root)).hexdigest()[:16]
    return home / INDEX_DIR / digest


class CodeIndex:
    """The index of one folder (``root``), kept in ``folder``."""

    def __init__(self, root: Path, folder: Path) -> None:
        self.root = root
        self.folder = ensure_private_dir(folder)
        self.db = Database(folder / "index.db", migrations=MIGRATIONS)
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('root', ?)", (str(root),))
        self._vectors: dict[str, VectorFile] = {}

    @classmethod
    def open(cls, root: Path, env: Mapping[str, str] | None = None) -> CodeIndex:
        """The index of ``root`` under ``MOCO_HOME`` (of ``env``), created when missing."""
        root = root.resolve()
        home = ensure_private_dir(moco_home(env))
        return cls(root, index_folder(home, root))

    def close(self) -> None:
        self.db.close()

    # -- updating ----------------------------------------------------------------------------

    def update(self, files: Sequence[str], *, under: str = "",
               cancelled: Callable[[], bool] | None = None) -> IndexStats:
        """Bring the index in line with ``files`` (paths relative to the root); with
        ``under`` (a folder or file), ``files`` are those under it and only the indexed files
        under it may leave the index."""
        started = time.perf_counter()
        stats = IndexStats(files=len(files))
        with self._locked():
            known = {row[0]: (row[1], row[2], row[3], row[4]) for row in self.db.query(
                "SELECT path, size, mtime_ns, checked_ns, hash FROM files")}
            present: set[str] = set()
            changes: list[_Change] = []
            for number, path in enumerate(files):
                if cancelled is not None and number % 256 == 0 and cancelled():
                    raise Cancelled("codebase index update cancelled")
                change = self._examine(path, known.get(path), stats, present)
                if change is not None:
                    changes.append(change)
            gone = sorted(path for path in known.keys() - present if within(path, under))
            self._write(changes, gone, stats)
        stats.seconds = time.perf_counter() - started
        return stats

    def _examine(self, path: str, known: tuple[int, int, int, str] | None, stats: IndexStats,
                 present: set[str]) -> _Change | None:
        try:
            info = os.lstat(self.root / path)
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None  # symlinks are not followed, folders (submodules) not files
        present.add(path)
        size, mtime = info.st_size, info.st_mtime_ns
        if known is not None and known[:2] == (size, mtime) and mtime + RACY_NS < known[2]:
            return None
        name = path.rsplit("/", 1)[-1]
        if size > MAX_FILE_BYTES or name in SKIP_NAMES or name.lower().endswith(SKIP_SUFFIXES):
            digest = f"skipped:{size}"
            return _Change(path, size, mtime, digest, None if known and known[3] == digest else [])
        try:
            data = (self.root / path).read_bytes()
        except OSError:
            present.discard(path)
            return None
        stats.read += 1
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        if known is not None and known[3] == digest:
            return _Change(path, size, mtime, digest, None)
        stats.chunked += 1
        if b"\0" in data[:SNIFF_BYTES]:
            return _Change(path, size, mtime, digest, [])
        return _Change(path, size, mtime, digest,
                       chunk_file(name, data.decode("utf-8", errors="replace")))

    def _write(self, changes: list[_Change], gone: list[str], stats: IndexStats) -> None:
        now = time.time_ns()
        with self.db.transaction() as conn:
            for path in gone:
                conn.execute("DELETE FROM chunks WHERE path = ?", (path,))
                conn.execute("DELETE FROM files WHERE path = ?", (path,))
            stats.removed = len(gone)
            for change in changes:
                conn.execute(
                    "INSERT OR REPLACE INTO files (path, size, mtime_ns, checked_ns, hash)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (change.path, change.size, change.mtime_ns, now, change.hash))
                if change.chunks is None:
                    continue
                conn.execute("DELETE FROM chunks WHERE path = ?", (change.path,))
                conn.executemany(
                    "INSERT INTO chunks (path, start_line, end_line, kind, symbol, text, terms)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(change.path, c.start, c.end, c.kind, c.symbol, c.text,
                      split_terms(f"{c.symbol}\n{c.text}")) for c in change.chunks])
                stats.chunks += len(change.chunks)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.folder / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @asynccontextmanager
    async def _alocked(self) -> AsyncIterator[None]:
        """The writers' lock, waited for without blocking the event loop."""
        handle = await asyncio.to_thread(open, self.folder / "lock", "a")
        with handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- vectors -----------------------------------------------------------------------------

    def _vector_file(self, name: str) -> VectorFile:
        """The FAISS file of embedder ``name`` (FAISS and numpy are imported here, so keyword
        search never pays for them)."""
        from moco.storage.code_vectors import VectorFile

        if name not in self._vectors:
            slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60]
            digest = hashlib.sha256(name.encode()).hexdigest()[:8]
            self._vectors[name] = VectorFile(self.folder / "vectors" / f"{slug}-{digest}.faiss")
        return self._vectors[name]

    async def embed_missing(self, embedder: Embedder, *, dim: int | None = None,
                            cancelled: Callable[[], bool] | None = None) -> int:
        """Embed the chunks that have no vector for ``embedder`` yet; returns how many. With
        ``dim`` (the length of a vector it just gave) other than the stored one, the model
        changed under the same name: every chunk is embedded again."""
        name, vectors = embedder.name, self._vector_file(embedder.name)
        done = 0
        async with self._alocked():
            if dim is not None and vectors.dim not in (None, dim):
                await asyncio.to_thread(self._forget_vectors, name, vectors)
            missing = await asyncio.to_thread(self._reconcile, name, vectors)
            step = EMBED_BATCH * EMBED_PARALLEL
            try:
                for first in range(0, len(missing), step):
                    if cancelled is not None and cancelled():
                        raise Cancelled("codebase index embedding cancelled")
                    group = missing[first : first + step]
                    found = await asyncio.gather(*(
                        embedder.embed([text for _, text in group[at : at + EMBED_BATCH]])
                        for at in range(0, len(group), EMBED_BATCH)))
                    await asyncio.to_thread(self._add_vectors, name, vectors,
                                            [chunk_id for chunk_id, _ in group],
                                            [vector for part in found for vector in part])
                    done += len(group)
            finally:
                if done:
                    await asyncio.to_thread(vectors.save)
        return done

    def _forget_vectors(self, name: str, vectors: VectorFile) -> None:
        vectors.drop()
        self.db.execute("DELETE FROM vectors WHERE embedder = ?", (name,))

    def _reconcile(self, name: str, vectors: VectorFile) -> list[tuple[int, str]]:
        """Make the FAISS file and the ``vectors`` rows agree (a crash or a deleted chunk
        leaves them apart); returns ``(chunk id, text to embed)`` of the chunks to embed.
        When the counts of chunks, rows and vectors agree, nothing is read (every search)."""
        rows_count = self._count_of("SELECT count(*) FROM vectors WHERE embedder = ?", name)
        if rows_count == vectors.count() == self._count_of("SELECT count(*) FROM chunks"):
            return []
        rows = {row[0] for row in self.db.query(
            "SELECT chunk_id FROM vectors WHERE embedder = ?", (name,))}
        held = vectors.ids()
        if rows != held:
            vectors.remove(sorted(held - rows))
            vectors.save()
            orphans = sorted(rows - held)
            with self.db.transaction() as conn:
                conn.executemany("DELETE FROM vectors WHERE embedder = ? AND chunk_id = ?",
                                 [(name, chunk_id) for chunk_id in orphans])
        missing = self.db.query(
            "SELECT id, path, symbol, text FROM chunks WHERE id NOT IN"
            " (SELECT chunk_id FROM vectors WHERE embedder = ?) ORDER BY id", (name,))
        return [(row[0], f"{row[1]} {row[2]}\n{row[3][:EMBED_CHARS]}") for row in missing]

    def _add_vectors(self, name: str, vectors: VectorFile, ids: list[int],
                     found: Sequence[Sequence[float]]) -> None:
        if len(found) != len(ids):
            raise ProviderError(f"the embedder {name} returned {len(found)} vectors for "
                                f"{len(ids)} texts")
        if found and vectors.dim not in (None, len(found[0])):  # same name, another model
            self._forget_vectors(name, vectors)
        try:
            vectors.add(ids, found)
        except ValueError as error:
            raise ProviderError(f"the embedder {name} returned unusable vectors: {error}") from None
        with self.db.transaction() as conn:
            conn.executemany("INSERT OR IGNORE INTO vectors (embedder, chunk_id) VALUES (?, ?)",
                             [(name, chunk_id) for chunk_id in ids])

    # -- searching ---------------------------------------------------------------------------

    def keyword_ranking(self, query: str, path: str = "", limit: int = CANDIDATES) -> list[int]:
        """Chunk ids matching words of ``query``, best (BM25) first, within ``path``."""
        match = fts_query(query)
        if not match:
            return []
        scope = path.strip("/")
        rows = self.db.query(
            "SELECT c.id FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid"
            " WHERE chunks_fts MATCH ? AND (? = '' OR c.path = ? OR substr(c.path, 1, ?) = ?)"
            " ORDER BY bm25(chunks_fts, 2.0, 4.0, 1.0, 1.0) LIMIT ?",
            (match, scope, scope, len(scope) + 1, f"{scope}/", limit))
        return [row[0] for row in rows]

    async def vector_ranking(self, name: str, vector: Sequence[float], path: str = "",
                             limit: int = CANDIDATES) -> list[int]:
        """Chunk ids nearest to ``vector`` among embedder ``name``'s, within ``path``."""
        vectors = self._vector_file(name)
        scope = path.strip("/")
        found = await asyncio.to_thread(vectors.search, vector, limit * (20 if scope else 1))
        ids = [chunk_id for chunk_id, _ in found]
        if scope:
            inside = {row[0] for row in self._rows(ids) if within(row[1], scope)}
            ids = [chunk_id for chunk_id in ids if chunk_id in inside]
        return ids[:limit]

    def keyword_search(self, query: str, *, k: int = 8, path: str = "") -> list[CodeHit]:
        return self.hits(fuse({"keyword": self.keyword_ranking(query, path)}), k)

    async def search(self, query: str, *, k: int = 8, path: str = "",
                     embedder: Embedder | None = None,
                     cancelled: Callable[[], bool] | None = None) -> list[CodeHit]:
        """Hybrid search (keyword and vector rankings fused) with ``embedder`` — the query is
        embedded, then the chunks that have no vector yet — keyword search without. The
        files are not looked at here (see :meth:`update`)."""
        rankings = {"keyword": await asyncio.to_thread(self.keyword_ranking, query, path)}
        if embedder is not None:
            [vector] = await embedder.embed([query])
            await self.embed_missing(embedder, dim=len(vector), cancelled=cancelled)
            rankings["vector"] = await self.vector_ranking(embedder.name, vector, path)
        return await asyncio.to_thread(self.hits, fuse(rankings), k)

    def hits(self, fused: list[tuple[int, float, str]], k: int) -> list[CodeHit]:
        """The ``k`` best of ``fused`` ``(chunk id, score, via)`` as hits (ids of chunks gone
        meanwhile are skipped)."""
        rows = {row[0]: row for row in self._rows([chunk_id for chunk_id, _, _ in fused])}
        found = []
        for chunk_id, score, via in fused:
            row = rows.get(chunk_id)
            if row is not None:
                found.append(CodeHit(chunk_id, row[1], row[2], row[3], row[4], row[5], row[6],
                                     score, via))
        return found[:k]

    def _rows(self, ids: Sequence[int]) -> list[sqlite3.Row]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return list(self.db.query(
            "SELECT id, path, start_line, end_line, kind, symbol, text FROM chunks"
            f" WHERE id IN ({marks})", list(ids)))

    def counts(self) -> dict[str, int]:
        """How many files, chunks and vectors (per embedder name) the index holds."""
        found = {"files": self._count_of("SELECT count(*) FROM files"),
                 "chunks": self._count_of("SELECT count(*) FROM chunks")}
        for row in self.db.query("SELECT embedder, count(*) FROM vectors GROUP BY embedder"):
            found[f"vectors:{row[0]}"] = int(row[1])
        return found

    def _count_of(self, sql: str, *params: object) -> int:
        row = self.db.query_one(sql, params)
        return 0 if row is None else int(row[0])


def fuse(rankings: Mapping[str, Sequence[int]]) -> list[tuple[int, float, str]]:
    """Reciprocal rank fusion: ``(id, score, via)`` best first; ``via`` names the one ranking
    an id came from, or ``hybrid``."""
    scores: dict[int, float] = {}
    sources: dict[int, set[str]] = {}
    for name, ranking in rankings.items():
        for rank, chunk_id in enumerate(ranking):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
            sources.setdefault(chunk_id, set()).add(name)
    ordered = sorted(scores, key=lambda chunk_id: -scores[chunk_id])
    return [(chunk_id, scores[chunk_id],
             "hybrid" if len(sources[chunk_id]) > 1 else next(iter(sources[chunk_id])))
            for chunk_id in ordered]


_WORD = re.compile(r"[A-Za-z0-9]+")
_CAMEL = re.compile(r"\b[A-Za-z0-9]*[a-z0-9][A-Z][A-Za-z0-9]*\b")
_PART = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "i",
    "in", "is", "it", "of", "on", "or", "that", "the", "this", "to", "we", "what", "when",
    "where", "which", "who", "why", "with"})  # fmt: skip


def split_terms(text: str) -> str:
    """The parts of the camelCase identifiers in ``text`` (``parseHeader`` -> ``parse
    header``), so a search for a word finds it inside such names too."""
    words = {part.lower() for name in set(_CAMEL.findall(text)) for part in _PART.findall(name)}
    return " ".join(sorted(words))


_ENDINGS = ("ing", "ed", "es", "s")


def _root(word: str) -> str:
    """``truncated`` -> ``truncat``, so the prefix query finds truncate, truncation ..."""
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)]
    return word


def fts_query(query: str) -> str:
    """An FTS5 query matching any word of ``query`` (words of three letters or more as
    prefixes, their common English endings cut); ``""`` when ``query`` has no words."""
    words = [word.lower() for word in _WORD.findall(query)]
    words += split_terms(query).split()
    kept = [w for w in words if w not in STOPWORDS] or words
    roots = dict.fromkeys(_root(w) for w in kept)
    return " OR ".join(f'"{w}"*' if len(w) >= 3 else f'"{w}"' for w in roots)
