"""The codebase index (``codebase_search``) on a synthetic 5,000-file git repository.

The tree: 70 % Python modules (functions, classes with methods), 15 % Markdown with sections,
15 % YAML; about 80 lines each, words drawn half from 22 common ones, half from 1,728 rare
ones; the queries mix both kinds. Timed, each including ``git ls-files``:
- the first index (every file read, chunked, written to SQLite/FTS5);
- a re-index of the unchanged tree (target <= 2 s: nothing is read), and one after every
  file's modification time changed but not its content (all read and hashed, none chunked);
- keyword queries (BM25) p50, and hybrid queries p50 (FAISS + FTS5 + fusion) with a local
  stand-in embedder of 384 dimensions — the embedding call itself is excluded, as it is
  the provider's time, not the index's.
Run: python bench/code_index.py [files]
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from moco.storage.code_index import CodeIndex
from moco.tools.code_files import list_files

WORDS = ["parse", "token", "cache", "session", "record", "header", "payload", "render", "index",
         "vector", "stream", "commit", "branch", "retry", "backoff", "schema", "column",
         "encode", "decode", "signal", "worker", "queue"]
SYLLABLES = ["ka", "lo", "mi", "ner", "tu", "vas", "pri", "zen", "dor", "qui", "bel", "tra"]
#: 1,728 rarer words, so that posting lists are as uneven as in real code
RARE = [a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES]


def word(rng: random.Random) -> str:
    """A word: half the time one of the 22 common ones, else a rare one."""
    return rng.choice(WORDS) if rng.random() < 0.5 else rng.choice(RARE)


def words(rng: random.Random, count: int) -> list[str]:
    return [word(rng) for _ in range(count)]


QUERIES = ["verify the token signature", "retry with backoff", "parse header payload",
           "render the session record", "encode schema column", "queue worker signal",
           "cache index vector", "decode stream commit", "kalomi nertu", "vaspri zendor",
           "quibel trakalo", "minervas token", "pridorqui cache", "belzenka tutrami",
           "lotuvas parse header", "dorbelmi render"]


def python_module(rng: random.Random, number: int) -> str:
    parts = [f'"""Module {number}: {" ".join(words(rng, 6))}."""\n\nimport os\n\n']
    for f in range(4):
        a, b = words(rng, 2)
        parts.append(f"\ndef {a}_{b}_{f}(value: str) -> str:\n"
                     f'    """{a.title()} the {b} of the value."""\n'
                     f"    result = value.strip()\n    if not result:\n        return ''\n"
                     f"    return result + {a!r}\n\n")
    parts.append(f"\nclass {word(rng).title()}Store{number}:\n"
                 f'    """Keeps {word(rng)} records."""\n\n')
    for m in range(5):
        a = word(rng)
        parts.append(f"    def {a}_{m}(self, key: str) -> None:\n"
                     f'        """{a.title()} one {word(rng)}."""\n'
                     f"        self.items[key] = {m}\n        os.sync()\n\n")
    return "".join(parts)


def markdown_page(rng: random.Random, number: int) -> str:
    sections = [f"# Page {number}\n\nAbout {' '.join(words(rng, 5))}.\n"]
    for s in range(6):
        body = "\n".join(" ".join(words(rng, 12)) for _ in range(10))
        sections.append(f"\n## {word(rng).title()} {s}\n\n{body}\n")
    return "".join(sections)


def yaml_file(rng: random.Random, _: int) -> str:
    return "".join(f"{word(rng)}_{i}: {rng.randint(0, 999)}\n" for i in range(80))


def build_tree(root: Path, count: int) -> None:
    rng = random.Random(13)
    for number in range(count):
        folder = root / f"pkg{number // 100:02d}"
        folder.mkdir(exist_ok=True)
        kind = number % 20
        if kind < 14:
            (folder / f"mod{number}.py").write_text(python_module(rng, number))
        elif kind < 17:
            (folder / f"doc{number}.md").write_text(markdown_page(rng, number))
        else:
            (folder / f"conf{number}.yaml").write_text(yaml_file(rng, number))
    (root / ".gitignore").write_text("*.log\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=b@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "."], cwd=root, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "tree"], cwd=root, check=True)


class StandInEmbedder:
    """Vectors from a seeded generator: no network, no model (the index is what is timed)."""

    name = "bench/stand-in-384"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [np.random.default_rng(zlib.crc32(text.encode())).standard_normal(384).tolist()
                for text in texts]

    async def aclose(self) -> None:
        return None


def timed_update(index: CodeIndex, root: Path, label: str, target: str = "") -> None:
    start = time.perf_counter()
    stats = index.update(list_files(root))
    elapsed = time.perf_counter() - start
    print(f"{label}: {elapsed:.2f} s ({stats.files:,} files, {stats.read:,} read, "
          f"{stats.chunked:,} chunked, {stats.chunks:,} chunks){target}")


def age(root: Path) -> None:
    old = time.time_ns() - 3600 * 10**9
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            os.utime(path, ns=(old, old))


async def query_times(index: CodeIndex, embedder: StandInEmbedder | None) -> list[float]:
    timings = []
    vectors = {q: (await embedder.embed([q]))[0] for q in QUERIES} if embedder else {}

    class Cached(StandInEmbedder):
        async def embed(self, texts: Sequence[str]) -> list[list[float]]:
            return [vectors[text] for text in texts]

    cached = Cached() if embedder else None
    for _ in range(5):
        for query in QUERIES:
            start = time.perf_counter()
            hits = await index.search(query, k=8, embedder=cached)
            timings.append((time.perf_counter() - start) * 1000)
            assert hits, query
    return timings


async def run(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, home = Path(tmp) / "tree", Path(tmp) / "home"
        root.mkdir()
        build_tree(root, count)
        index = CodeIndex.open(root, {"MOCO_HOME": str(home)})
        timed_update(index, root, "first index")
        timed_update(index, root, "re-index, unchanged", " (target <= 2 s)")
        age(root)
        timed_update(index, root, "re-index, every file touched (read and hashed, not chunked)")
        timed_update(index, root, "re-index, unchanged again", " (target <= 2 s)")
        keyword = await query_times(index, None)
        print(f"keyword query: p50 {statistics.median(keyword):.1f} ms, "
              f"max {max(keyword):.1f} ms")
        embedder = StandInEmbedder()
        start = time.perf_counter()
        embedded = await index.embed_missing(embedder)
        print(f"embed_missing: {embedded:,} chunks in {time.perf_counter() - start:.1f} s "
              "(stand-in embedder; a provider adds its own time)")
        hybrid = await query_times(index, embedder)
        print(f"hybrid query (embedding excluded): p50 {statistics.median(hybrid):.1f} ms, "
              f"max {max(hybrid):.1f} ms")
        size = sum(f.stat().st_size for f in home.rglob("*") if f.is_file())
        print(f"index size: {size / 1e6:.1f} MB; counts {index.counts()}")
        index.close()


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 5_000))
