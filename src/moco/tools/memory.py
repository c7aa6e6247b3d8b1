"""``memory_search`` and ``memory_save``: the agents' own way into the learning memory.

They are offered when memory is on for the profile (:mod:`moco.memory`), which puts itself
in ``ctx.state["memory"]`` as a :class:`MemoryBackend`. Schemas are kept short: they travel
with every request.
"""

from __future__ import annotations

from typing import Literal, Protocol

from moco.errors import ToolError
from moco.tools.base import tool
from moco.tools.context import ToolContext

STATE_KEY = "memory"


class MemoryBackend(Protocol):
    async def search_text(self, query: str, k: int, session_id: str | None) -> str: ...

    async def save_text(self, text: str, kind: str, source: str) -> str: ...


def _backend(ctx: ToolContext) -> MemoryBackend:
    backend: MemoryBackend | None = ctx.state.get(STATE_KEY)
    if backend is None:
        raise ToolError("memory is off for this run (profile.yaml memory: or MOCO_MEMORY)")
    return backend


@tool
async def memory_search(ctx: ToolContext, query: str, k: int = 5) -> str:
    """Search what was learned in past sessions.

    Args:
        query: What to find.
        k: Max results.
    """
    return await _backend(ctx).search_text(query, max(1, min(k, 20)), ctx.session_id)


@tool
async def memory_save(ctx: ToolContext, text: str,
                      kind: Literal["fact", "preference", "procedure", "note"] = "fact") -> str:
    """Remember something for later sessions.

    Args:
        text: One self-contained sentence.
        kind: What it is.
    """
    if not text.strip():
        raise ToolError("text is empty — give the sentence to remember")
    source = f"session:{ctx.session_id}" if ctx.session_id else f"run:{ctx.run_id}"
    return await _backend(ctx).save_text(text, kind, source)
