"""Memory tests turn memory on (tests/conftest.py turns it off for the rest of the suite)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from moco.testing import Reply


@pytest.fixture(autouse=True)
def _memory_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCO_MEMORY", "on")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def learned(*texts: str, relations: list[list[str]] | None = None,
            replaces: dict[str, int] | None = None) -> Reply:
    """The learning call's scripted answer."""
    memories: list[dict[str, Any]] = [
        {"text": text, "kind": "fact", "replaces": (replaces or {}).get(text)} for text in texts]
    return Reply.say(json.dumps({"memories": memories, "relations": relations or []}))


NOTHING = Reply.say('{"memories": [], "relations": []}')
