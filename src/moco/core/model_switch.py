"""Switching a session's model between turns: chat's ``/model`` and the web UI's model picker."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from moco.config import ProviderSettings
    from moco.core.orchestrator import Orchestrator


def switch_model(orchestrator: Orchestrator, spec: str) -> ProviderSettings:
    """Use ``spec`` for the next turns: ``model``, ``provider/model`` or ``provider``.

    A model alone stays on the current provider (its key and base URL); a known provider
    prefix switches provider, resolved from the chat's environment.
    """
    from moco.config import resolve_provider, split_provider_spec
    from moco.providers.registry import PROVIDERS

    spec = spec.strip()
    current = orchestrator.settings
    prefix, rest = split_provider_spec(spec)
    names_provider = prefix in PROVIDERS and ("/" in spec or spec.lower() == prefix)
    if names_provider and prefix != current.name:
        settings = resolve_provider(spec, env=orchestrator.env)
    elif names_provider and rest is None:
        settings = resolve_provider(spec, base_url=current.base_url, env=orchestrator.env)
    else:
        model = rest if names_provider and rest else spec
        settings = dataclasses.replace(current, model=model)
    orchestrator.settings = settings
    # an explicit choice wins over the agents' own ``model:`` (as -m does)
    orchestrator._explicit_model = True
    # and belongs to the session: stored now, taken up again by ``moco chat -s``
    from moco.storage.session_state import ModelChoice

    orchestrator.model_choice = ModelChoice(settings.name, settings.model)
    orchestrator.save_session_state()
    return settings
