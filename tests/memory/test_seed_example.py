"""The seed's example through the real CLI: what the first ``moco run`` learns is in the
second one's request — hybrid on an OpenAI-compatible server (its embeddings answered by the
scripted server), keyword-only on Anthropic (no embedding endpoint)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from moco.testing import Reply, ScriptedAnthropicServer, ScriptedOpenAIServer
from tests.memory.conftest import NOTHING, learned

pytestmark = pytest.mark.slow

FIRST = "Ask Tanaka-san about expense reports."
SECOND = "Who should I ask about expense reports?"
FACT = "Tanaka-san is the one to ask about expense reports."


def moco(task: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "moco", "run", task], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.pop("MOCO_DEFAULT_PROVIDER", None)
    return {**env, "MOCO_MEMORY": "on", **extra}


def script(server: Any) -> None:
    server.add(Reply.say("I'll keep that in mind: Tanaka-san for expense reports."),
               learned(FACT, relations=[["Tanaka-san", "handles", "expense reports"]]),
               Reply.say("You should ask Tanaka-san."), NOTHING)


def last_user_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)


def test_the_second_run_knows_what_the_first_learned_openai(
        scripted_openai: ScriptedOpenAIServer, project: Path) -> None:
    script(scripted_openai)
    env = clean_env(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=scripted_openai.base_url)
    assert moco(FIRST, env, project).returncode == 0
    second = moco(SECOND, env, project)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "You should ask Tanaka-san."
    assert "memory: 1 recalled" in second.stderr
    tools = scripted_openai.requests[0].body["tools"]
    mine = [t for t in tools if t["function"]["name"] in ("memory_search", "memory_save")]
    assert len(mine) == 2 and len(json.dumps(mine, separators=(",", ":"))) < 700  # bytes
    sent = last_user_text(scripted_openai.requests[2].body)
    assert FACT in sent and sent.endswith(SECOND)
    embedded = [json.dumps(r.body) for r in scripted_openai.embedding_requests]
    assert any(FACT in body for body in embedded) and any(SECOND in b for b in embedded)


def test_the_second_run_knows_what_the_first_learned_anthropic(
        scripted_anthropic: ScriptedAnthropicServer, project: Path) -> None:
    script(scripted_anthropic)
    env = clean_env(ANTHROPIC_API_KEY="sk-ant-test", ANTHROPIC_BASE_URL=scripted_anthropic.url)
    first = moco(FIRST, env, project)
    assert first.returncode == 0 and "memory: learned 1 new, 1 relations" in first.stderr
    second = moco(SECOND, env, project)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "You should ask Tanaka-san."
    sent = last_user_text(scripted_anthropic.requests[2].body)
    assert FACT in sent and sent.endswith(SECOND)
    assert len(scripted_anthropic.requests) == 4  # two answers, two learning calls
