"""The trust tests see projects as a user does: the suite's MOCO_TRUST_ALL is taken away."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _untrusted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOCO_TRUST_ALL", raising=False)
    monkeypatch.delenv("MOCO_MCP_ALLOW_ENV", raising=False)
