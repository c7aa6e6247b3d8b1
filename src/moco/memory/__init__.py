"""The learning memory: agents recall what earlier runs learned, and learn from each run.

Built on the store (:mod:`moco.storage.semantic_memory`) and the embedders
(:mod:`moco.providers.embeddings`); the orchestrator only sees the
:class:`~moco.core.run_memory.RunMemory` interface, which :class:`LearningMemory` implements.
With an embedding endpoint, recall is hybrid (vectors and keywords); without one (an
Anthropic key only, ``MOCO_EMBEDDING_MODEL=none``), keyword search alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from moco.memory.journal import relations_graph
from moco.memory.settings import MemorySettings, memory_settings

if TYPE_CHECKING:
    from moco.config import ProviderSettings
    from moco.memory.learning import LearningMemory
    from moco.profiles import Profile

__all__ = ["MemorySettings", "memory_settings", "open_memory", "relations_graph"]


def open_memory(profile: Profile, env: Mapping[str, str], working_dir: Path,
                chat: ProviderSettings | None = None) -> LearningMemory | None:
    """The learning memory of runs of ``profile`` in ``working_dir`` (None when memory is
    off): the store of ``env``'s ``MOCO_HOME`` (or ``MEMORY_DB_PATH``), embedding with the
    embedder :func:`~moco.providers.embeddings.resolve_embedder` picks for ``chat``."""
    settings = memory_settings(profile.settings, env)
    if not settings.enabled:
        return None
    from moco.memory.learning import LearningMemory
    from moco.providers.embeddings import resolve_embedder
    from moco.storage.semantic_memory import SemanticMemory

    store = SemanticMemory.open(env, embedder=resolve_embedder(env, chat))
    return LearningMemory(store, settings, profile=profile.name, project=str(working_dir))
