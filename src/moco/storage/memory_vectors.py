"""The FAISS index files of the memory store: one per embedder name and dimension.

``<index dir>/<embedder name>/<dimension>.faiss`` holds an ``IndexIDMap2(IndexFlatIP)`` of
normalised vectors keyed by memory id (so the inner product is the cosine similarity and a
memory's vector can be removed by its id); ``<dimension>.json`` beside it names the embedder,
the dimension and the count, so ``stats`` need not load the index. Files are written to a
temporary file (mode 0600) and renamed over the old one; a file another process rewrote is
read again before use. The rows in SQLite are the truth: an index is brought in step with
them by :class:`~moco.storage.semantic_memory.SemanticMemory`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
INDEX_SUFFIX = ".faiss"


def _faiss() -> Any:
    """FAISS, set to one thread: a search is one query, and OpenMP's worker threads spinning
    on shared cores made a 100k-vector search twenty times slower (26 ms against 1.2 ms)."""
    import faiss

    if faiss.omp_get_max_threads() != 1:
        faiss.omp_set_num_threads(1)
    return faiss


def embedder_dir(index_dir: Path, embedder: str) -> Path:
    """The directory of an embedder's indexes: its name, one directory per ``/`` segment,
    with characters a file name should not hold replaced."""
    parts = [_UNSAFE.sub("_", part) for part in embedder.split("/")]
    parts = ["_" if not part or set(part) == {"."} else part for part in parts]
    return index_dir.joinpath(*parts)


def normalised(vectors: Sequence[Sequence[float]]) -> Any:
    """A C-contiguous float32 matrix of unit rows (a zero row stays zero)."""
    import numpy as np

    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise ValueError("embeddings must be a non-empty list of equally long vectors")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(matrix / norms)


class VectorIndex:
    """The vectors of one embedder at one dimension, in memory and in a file."""

    def __init__(self, directory: Path, embedder: str, dim: int) -> None:
        self.directory = directory
        self.embedder = embedder
        self.dim = dim
        self.path = directory / f"{dim}{INDEX_SUFFIX}"
        self.meta_path = directory / f"{dim}.json"
        #: the ``memory_state.generation`` this index was last brought in step with
        self.synced: int | None = None
        self.dirty = False
        self._index: Any = None
        self._stamp: tuple[int, int, int] | None = None

    @classmethod
    def at(cls, path: Path) -> VectorIndex:
        """The index of an existing file (its embedder read from the file beside it)."""
        dim = int(path.stem)
        meta_path = path.with_suffix(".json")
        embedder = ""
        if meta_path.is_file():
            embedder = str(json.loads(meta_path.read_text()).get("embedder", ""))
        return cls(path.parent, embedder, dim)

    # -- the file -------------------------------------------------------------------------
    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def changed_on_disk(self) -> bool:
        return self._index is None or self._file_stamp() != self._stamp

    def refresh(self) -> bool:
        """Read the file when it changed since this process read or wrote it; True when the
        vectors in memory were replaced (the index must be brought in step again)."""
        if not self.changed_on_disk():
            return False
        faiss = _faiss()
        stamp = self._file_stamp()
        index = None
        if stamp is not None:
            try:
                index = faiss.read_index(str(self.path))
            except RuntimeError:  # a damaged file: rebuilt from the rows
                index = None
        if index is None or index.d != self.dim:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self._index, self._stamp = index, stamp
        self.synced, self.dirty = None, False
        return True

    def save(self) -> None:
        """Write the index and its description atomically (nothing when unchanged)."""
        if not self.dirty or self._index is None:
            return
        faiss = _faiss()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_atomic(self.path, faiss.serialize_index(self._index).tobytes())
        meta = {"embedder": self.embedder, "dimension": self.dim, "count": self.ntotal}
        _write_atomic(self.meta_path, json.dumps(meta).encode())
        self._stamp = self._file_stamp()
        self.dirty = False

    def delete_files(self) -> None:
        self.path.unlink(missing_ok=True)
        self.meta_path.unlink(missing_ok=True)
        self._index, self._stamp, self.synced = None, None, None

    # -- vectors --------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        self.refresh()
        return int(self._index.ntotal)

    def ids(self) -> set[int]:
        faiss = _faiss()
        self.refresh()
        return set(faiss.vector_to_array(self._index.id_map).tolist())

    def add(self, ids: Sequence[int], vectors: Sequence[Sequence[float]]) -> None:
        import numpy as np

        if not ids:
            return
        matrix = normalised(vectors)
        if matrix.shape[1] != self.dim:
            raise ValueError(f"a {matrix.shape[1]}-dimension vector for a {self.dim}-dimension"
                             " index")
        self.refresh()
        self._index.add_with_ids(matrix, np.asarray(ids, dtype=np.int64))
        self.dirty = True

    def remove(self, ids: Iterable[int]) -> int:
        import numpy as np

        wanted = sorted(set(ids))
        self.refresh()
        if not wanted or self._index.ntotal == 0:
            return 0
        removed = int(self._index.remove_ids(np.asarray(wanted, dtype=np.int64)))
        self.dirty = self.dirty or removed > 0
        return removed

    def search(self, vector: Sequence[float], count: int) -> list[tuple[int, float]]:
        """Up to ``count`` ``(memory id, cosine)`` pairs, nearest first."""
        self.refresh()
        total = int(self._index.ntotal)
        if total == 0 or count <= 0:
            return []
        scores, ids = self._index.search(normalised([vector]), min(count, total))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


def index_files(index_dir: Path) -> list[Path]:
    """Every index file under ``index_dir`` (all embedders, all dimensions)."""
    if not index_dir.is_dir():
        return []
    return sorted(p for p in index_dir.rglob(f"*{INDEX_SUFFIX}") if p.stem.isdigit())


def describe(path: Path) -> dict[str, Any]:
    """What the file beside an index says about it (no index is loaded)."""
    meta_path = path.with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        meta = {}
    return {"embedder": meta.get("embedder", ""), "dimension": int(path.stem),
            "vectors": meta.get("count"), "path": str(path)}


def _write_atomic(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
