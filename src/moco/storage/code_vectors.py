"""One FAISS index file of the codebase index: an embedder's vectors, keyed by chunk id.

Vectors are normalised and kept in an ``IndexIDMap2(IndexFlatIP)``, so the inner product is
the cosine similarity and a chunk's vector can be removed by its id. The dimension is read
from the first vector added and stored in the file; the file is reloaded when another process
rewrote it (its ``mtime_ns`` changed). Callers serialise writers (the index's file lock).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from moco.storage.memory_vectors import normalised


class VectorFile:
    """The vectors of one embedder, in memory and in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._index: Any = None
        self._stamp: int | None = None
        #: changed in memory since it was saved (the writer's copy wins over the file)
        self._dirty = False

    @property
    def dim(self) -> int | None:
        self.refresh()
        return None if self._index is None else int(self._index.d)

    def refresh(self) -> None:
        """Load the file when it changed since it was read (or drop it when it is gone),
        unless this copy has changes not saved yet."""
        if self._dirty:
            return
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._index, self._stamp = None, None
            return
        if stamp != self._stamp:
            self._index = faiss.read_index(str(self.path))
            self._stamp = stamp

    def count(self) -> int:
        self.refresh()
        return 0 if self._index is None else int(self._index.ntotal)

    def ids(self) -> set[int]:
        self.refresh()
        if self._index is None:
            return set()
        return set(faiss.vector_to_array(self._index.id_map).tolist())

    def add(self, ids: Sequence[int], vectors: Sequence[Sequence[float]]) -> None:
        if not ids:
            return
        matrix = normalised(vectors)
        self.refresh()
        if self._index is None or self._index.d != matrix.shape[1]:
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(matrix.shape[1]))
        self._index.add_with_ids(matrix, np.asarray(ids, dtype=np.int64))
        self._dirty = True

    def remove(self, ids: Sequence[int]) -> None:
        self.refresh()
        if self._index is not None and ids:
            self._index.remove_ids(np.asarray(sorted(ids), dtype=np.int64))
            self._dirty = True

    def save(self) -> None:
        if self._index is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".tmp")
        faiss.write_index(self._index, str(partial))
        os.replace(partial, self.path)
        self._stamp = self.path.stat().st_mtime_ns
        self._dirty = False

    def drop(self) -> None:
        """Forget every vector (the embedder's dimension changed)."""
        self._index, self._stamp, self._dirty = None, None, False
        self.path.unlink(missing_ok=True)

    def search(self, vector: Sequence[float], count: int) -> list[tuple[int, float]]:
        """Up to ``count`` ``(chunk id, cosine)`` pairs, nearest first."""
        self.refresh()
        if self._index is None or self._index.ntotal == 0:
            return []
        query = normalised([vector])
        if query.shape[1] != self._index.d:
            return []
        scores, ids = self._index.search(query, min(count, int(self._index.ntotal)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

