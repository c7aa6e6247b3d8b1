"""Pytest fixtures for testing code built on moco. Opt in, it is not loaded by itself:

- in a ``conftest.py``: ``pytest_plugins = ["moco.testing.pytest_plugin"]``, or
- on the command line: ``pytest -p moco.testing.pytest_plugin``.

Fixtures:

- ``scripted_openai`` / ``scripted_gemini`` / ``scripted_anthropic``: a started scripted server
  with an empty script; add replies with ``server.add(Reply.say("hi"))``.
- ``moco_home``: a temporary ``MOCO_HOME`` with every provider key variable removed.

Importing this module imports no provider SDK and not the provider registry (only the small
``moco.testing`` package): each fixture imports what it needs when a test asks for it, so
collection stays fast and ``--cov=moco`` sees moco's modules load while it measures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def moco_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    from moco.providers.registry import PROVIDERS

    home = tmp_path_factory.mktemp("moco_home")
    monkeypatch.setenv("MOCO_HOME", str(home))
    for spec in PROVIDERS.values():
        for var in (*spec.key_vars, spec.model_var, spec.base_url_var or ""):
            if var:
                monkeypatch.delenv(var, raising=False)
    for var in ("MOCO_DEFAULT_PROVIDER", "MOCO_PROFILES_PATH", "MOCO_MODEL"):
        monkeypatch.delenv(var, raising=False)
    return home


def _serve(server: Any) -> Iterator[Any]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def scripted_openai() -> Iterator[Any]:
    from moco.testing.openai_server import ScriptedOpenAIServer

    yield from _serve(ScriptedOpenAIServer([]))


@pytest.fixture
def scripted_gemini() -> Iterator[Any]:
    from moco.testing.gemini_server import ScriptedGeminiServer

    yield from _serve(ScriptedGeminiServer([]))


@pytest.fixture
def scripted_anthropic() -> Iterator[Any]:
    from moco.testing.anthropic_server import ScriptedAnthropicServer

    yield from _serve(ScriptedAnthropicServer([]))
