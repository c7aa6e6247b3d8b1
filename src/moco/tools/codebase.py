"""``codebase_search``: find code by meaning and by keywords in the working directory.

Each call first brings the index (:mod:`moco.storage.code_index`, kept under ``MOCO_HOME``)
up to date — files that did not change are not read again, so this is quick after the first
call — then searches it: hybrid (keyword and vector rankings fused) when an embedder is
available, keyword (BM25) otherwise. The embedder is the one the run put in
``ctx.state["embedder"]``, else the one the environment names (``MOCO_EMBEDDING_MODEL`` or
the default chat provider's embedding model, :func:`moco.providers.embeddings
.resolve_embedder`); when it fails the search answers by keyword and says so.

A result is ``path:line`` and the symbol, then a few lines of the chunk: the start of a
function, class or section, or the lines around the best match in a plain window of lines.
"""

from __future__ import annotations

import asyncio
import os
import re
import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from moco.config import moco_home
from moco.errors import Cancelled, ConfigError, ProviderError, ToolError
from moco.tools.base import tool
from moco.tools.code_files import list_files, within
from moco.tools.context import ToolContext
from moco.tools.git import git_env

if TYPE_CHECKING:
    from moco.storage.code_index import CodeHit, CodeIndex

#: ``ctx.state`` keys: an :class:`Embedder` the run provides; the open indexes by folder
EMBEDDER_KEY = "embedder"
INDEXES_KEY = "code_indexes"
MAX_K = 30
#: a working directory with more files is indexed only under the ``path`` asked for
MAX_FILES = 20_000
SNIPPET_LINES = 4
SNIPPET_CHARS = 120
_WORD = re.compile(r"[A-Za-z0-9]{3,}")


@tool
async def codebase_search(ctx: ToolContext, query: str, k: int = 8, path: str = "") -> str:
    """Search the code by meaning and keywords: `path:line` and a snippet per hit.

    Args:
        query: What to find: words or identifiers.
        k: How many hits.
        path: Only under this path.
    """
    if not query.strip():
        raise ToolError("query is empty: say what to find")
    k = max(1, min(k, MAX_K))
    scope = _scope(ctx, path)
    env = {**os.environ, **(ctx.env or {})}
    index = _index_for(ctx, env)
    try:
        files = await asyncio.to_thread(list_files, ctx.working_dir, git_env(ctx),
                                        limit=MAX_FILES)
        under = ""
        if len(files) > MAX_FILES and scope:
            files = await asyncio.to_thread(list_files, ctx.working_dir, git_env(ctx),
                                            under=scope, limit=MAX_FILES)
            under = scope
        files = _outside_home(ctx, env, files)
        if len(files) > MAX_FILES:
            raise ToolError(f"{'this path' if under else 'the working directory'} holds more "
                            f"than {MAX_FILES:,} files, too many to index: give path a folder")
        await asyncio.to_thread(index.update, files, under=under,
                                cancelled=lambda: ctx.is_cancelled)
        hits, note = await _search(ctx, index, env, query, k, scope)
    except Cancelled:
        raise ToolError("codebase search cancelled") from None
    return format_hits(hits, query, note)


def _scope(ctx: ToolContext, path: str) -> str:
    if not path.strip() or path.strip() in (".", "./"):
        return ""
    resolved = ctx.resolve_path(path, must_exist=True)
    try:
        return resolved.relative_to(ctx.working_dir).as_posix()
    except ValueError:
        raise ToolError(f"{path} is outside the working directory; the index covers only "
                        "the working directory") from None


def _outside_home(ctx: ToolContext, env: Mapping[str, str], files: list[str]) -> list[str]:
    """``files`` without those of ``MOCO_HOME`` when it lies in the working directory (the
    index would otherwise index itself, and the sessions)."""
    try:
        home = moco_home(env).resolve().relative_to(ctx.working_dir).as_posix()
    except ValueError:
        return files
    return [name for name in files if not within(name, home)] if home != "." else files


def _index_for(ctx: ToolContext, env: Mapping[str, str]) -> CodeIndex:
    """The session's open index of the working directory (opened on first use)."""
    from moco.storage.code_index import CodeIndex

    indexes: dict[str, CodeIndex] = ctx.state.setdefault(INDEXES_KEY, {})
    key = str(ctx.working_dir)
    if key not in indexes:
        indexes[key] = CodeIndex.open(ctx.working_dir, env)
    return indexes[key]


async def _search(ctx: ToolContext, index: CodeIndex, env: Mapping[str, str], query: str,
                  k: int, scope: str) -> tuple[list[CodeHit], str]:
    from moco.providers.embeddings import Embedder, resolve_embedder

    given: Any = ctx.state.get(EMBEDDER_KEY)
    embedder: Embedder | None = given if isinstance(given, Embedder) else None
    owned = False
    try:
        if embedder is None:
            embedder = resolve_embedder(env)
            owned = embedder is not None
        if embedder is not None:
            return await index.search(query, k=k, path=scope, embedder=embedder,
                                      cancelled=lambda: ctx.is_cancelled), ""
    except (ProviderError, ConfigError) as error:
        said = str(error).splitlines()[0] if str(error) else type(error).__name__
        hits = await asyncio.to_thread(index.keyword_search, query, k=k, path=scope)
        return hits, f"(keyword search only: embeddings failed: {said})"
    finally:
        if owned and embedder is not None:
            await embedder.aclose()
    return await asyncio.to_thread(index.keyword_search, query, k=k, path=scope), ""


def format_hits(hits: list[CodeHit], query: str, note: str = "") -> str:
    """``path:line symbol`` and up to :data:`SNIPPET_LINES` lines per hit."""
    if not hits:
        return f"no results for {query!r}" + (f" {note}" if note else "")
    words = {word.lower() for word in _WORD.findall(query)}
    blocks = [note] if note else []
    for hit in hits:
        line, lines = snippet(hit, words)
        label = f" {hit.symbol}" if hit.symbol else ""
        span = f" ({hit.start}-{hit.end})" if hit.end > hit.start else ""
        blocks.append("\n".join([f"{hit.path}:{line}{label}{span}",
                                 *(f"  {text}" for text in lines)]))
    return "\n".join(blocks)


def snippet(hit: CodeHit, words: set[str]) -> tuple[int, list[str]]:
    """The line a hit points at and the few lines shown: a definition or section from its
    start, a plain window from its line with the most words of the query."""
    lines = hit.text.split("\n")
    first = 0
    if hit.kind in ("lines", "code") and words:
        counts = [sum(word in text.lower() for word in words) for text in lines]
        best = max(counts)
        first = counts.index(best) if best else 0
    while first < len(lines) - 1 and not lines[first].strip():
        first += 1
    kept = [text.rstrip() for text in lines[first:] if text.strip()][:SNIPPET_LINES]
    shown = textwrap.dedent("\n".join(kept)).split("\n")
    cut = [text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS] + "..."
           for text in shown]
    return hit.start + first, cut
