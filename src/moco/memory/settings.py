"""The learning memory's settings: profile.yaml ``memory:`` under ``MOCO_MEMORY``.

``memory:`` in profile.yaml (every key optional; ``memory: false`` switches it all off)::

    memory:
      recall: true          # relevant memories go into a run's first request
      learn: true           # one cheap model call after a run keeps what is worth keeping
      model: gpt-4o-mini    # the learning call's model (same provider; default: the agent's)
      top_k: 5              # at most this many memories recalled
      min_similarity: 0.35  # cosine bar for a memory found by meaning only (no shared word)
      scope: project        # learned memories apply to this working directory, or
                            # "profile": to every project of the profile
      tools: true           # offer memory_search and memory_save to the agents

``MOCO_MEMORY=off`` (also ``0``, ``false``, ``no``) switches memory off whatever the profile
says. It is read from the run's environment (``.env`` files and an ``env`` mapping given to the
orchestrator included) and, when that does not name it, from the process environment, so one
variable turns memory off for a whole test suite or CI job.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from moco.errors import ConfigError

ENV_VAR = "MOCO_MEMORY"
SETTINGS_KEYS = frozenset({"recall", "learn", "model", "top_k", "min_similarity", "scope",
                           "tools"})
_OFF = frozenset({"0", "off", "false", "no", "none"})
_ON = frozenset({"1", "on", "true", "yes", ""})

Scope = Literal["project", "profile"]


@dataclass(frozen=True, slots=True)
class MemorySettings:
    recall: bool = True
    learn: bool = True
    #: the learning call's model on the run's provider (None: the agent's own model)
    model: str | None = None
    top_k: int = 5
    min_similarity: float = 0.35
    scope: Scope = "project"
    tools: bool = True

    @property
    def enabled(self) -> bool:
        return self.recall or self.learn


OFF = MemorySettings(recall=False, learn=False, tools=False)


def memory_settings(profile_settings: Mapping[str, Any],
                    env: Mapping[str, str]) -> MemorySettings:
    """The settings of a run: off when ``MOCO_MEMORY`` says so, else profile.yaml's
    ``memory:`` over the defaults. A malformed ``memory:`` is a :class:`ConfigError`."""
    switch = env.get(ENV_VAR, os.environ.get(ENV_VAR, "")).strip().lower()
    if switch in _OFF:
        return OFF
    if switch not in _ON:
        raise ConfigError(f"{ENV_VAR}={switch}: write on or off")
    raw = profile_settings.get("memory", True)
    if raw is None or raw is True:
        return MemorySettings()
    if raw is False:
        return OFF
    if not isinstance(raw, Mapping):
        raise ConfigError("profile.yaml memory: must be true, false or a mapping such as "
                          "{learn: false, recall: true}")
    unknown = sorted(set(map(str, raw)) - SETTINGS_KEYS)
    if unknown:
        raise ConfigError(f"profile.yaml memory: unknown keys {', '.join(unknown)} — known: "
                          f"{', '.join(sorted(SETTINGS_KEYS))}")
    return _parsed(raw)


def _parsed(raw: Mapping[str, Any]) -> MemorySettings:
    flags = {key: raw.get(key, True) for key in ("recall", "learn", "tools")}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise ConfigError(f"profile.yaml memory: {key} must be true or false")
    model = raw.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise ConfigError("profile.yaml memory: model must be a model name")
    top_k = raw.get("top_k", 5)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 50:
        raise ConfigError("profile.yaml memory: top_k must be a whole number from 1 to 50")
    similarity = raw.get("min_similarity", 0.35)
    if isinstance(similarity, bool) or not isinstance(similarity, int | float) \
            or not 0 <= similarity <= 1:
        raise ConfigError("profile.yaml memory: min_similarity must be a number from 0 to 1")
    scope = raw.get("scope", "project")
    if scope not in ("project", "profile"):
        raise ConfigError("profile.yaml memory: scope must be project or profile")
    return MemorySettings(recall=flags["recall"], learn=flags["learn"], tools=flags["tools"],
                          model=model.strip() if model else None, top_k=top_k,
                          min_similarity=float(similarity), scope=scope)
