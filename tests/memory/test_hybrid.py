"""Hybrid recall on an OpenAI-compatible server: its embeddings (deterministic, related texts
closer) and keywords; the relevance bar keeps unrelated questions free of memories."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from moco.core.orchestrator import Orchestrator
from moco.events import Event, MemoryRecalled
from moco.testing import Reply, ScriptedOpenAIServer
from tests.memory.conftest import NOTHING, learned

FACT = "Expense reports go to Tanaka-san."


class Recalled:
    def __init__(self) -> None:
        self.found: list[MemoryRecalled] = []

    def handle(self, event: Event) -> None:
        if isinstance(event, MemoryRecalled):
            self.found.append(event)


def run(server: ScriptedOpenAIServer, folder: Path, task: str, **options: Any) -> Recalled:
    sink = Recalled()
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url,
           "MOCO_HOME": os.environ["MOCO_HOME"]}
    Orchestrator(provider="openai", working_dir=folder, env=env, renderer=sink,
                 **options).run_sync(task)
    return sink


@pytest.fixture
def taught(scripted_openai: ScriptedOpenAIServer, project: Path) -> ScriptedOpenAIServer:
    scripted_openai.embedding_dim = 1024  # fewer hash collisions: unrelated texts far apart
    scripted_openai.add(Reply.say("Noted."), learned(FACT))
    run(scripted_openai, project, "Send expense reports to Tanaka-san from now on.")
    assert scripted_openai.embedding_requests, "the memory was embedded"
    return scripted_openai


def test_a_memory_found_by_meaning_only_is_recalled(taught: ScriptedOpenAIServer,
                                                    project: Path) -> None:
    taught.add(Reply.say("Tanaka-san."), NOTHING)
    found = run(taught, project, "Expensing and reporting?").found
    assert len(found) == 1 and FACT in found[0].text
    assert FACT in taught.requests[2].body["messages"][-1]["content"]


def test_an_unrelated_question_recalls_nothing(taught: ScriptedOpenAIServer,
                                               project: Path) -> None:
    taught.add(Reply.say("Paris."), NOTHING)
    assert run(taught, project, "What is the capital of France?").found == []
    assert taught.requests[2].body["messages"][-1]["content"] == "What is the capital of France?"


def test_the_similarity_bar_is_the_profiles(scripted_openai: ScriptedOpenAIServer,
                                            project: Path, tmp_path: Path) -> None:
    folder = tmp_path / "strict"
    (folder / "agents").mkdir(parents=True)
    (folder / "agents" / "assistant.md").write_text("---\nmode: primary\n---\nYou help.\n")
    (folder / "profile.yaml").write_text("memory:\n  min_similarity: 0.6\n")
    scripted_openai.embedding_dim = 1024
    scripted_openai.add(Reply.say("Noted."), learned(FACT), Reply.say("Hm."), NOTHING,
                        Reply.say("Tanaka-san."), NOTHING)
    run(scripted_openai, project, "Send expense reports to Tanaka-san.", profile=folder)
    # cosine 0.37 and 0.69 to the memory, no word in common with it
    assert run(scripted_openai, project, "Expensing and reporting?", profile=folder).found == []
    found = run(scripted_openai, project, "go to reporting", profile=folder).found
    assert len(found) == 1


def test_gemini_learns_and_recalls_with_its_embeddings(scripted_gemini: Any,
                                                       project: Path) -> None:
    scripted_gemini.add(Reply.say("Noted."), learned(FACT), Reply.say("Tanaka-san."), NOTHING)
    env = {"GEMINI_API_KEY": "g", "GEMINI_BASE_URL": scripted_gemini.base_url,
           "MOCO_HOME": os.environ["MOCO_HOME"]}
    sinks = []
    for task in ("Send expense reports to Tanaka-san.", "Who gets the expense reports?"):
        sinks.append(Recalled())
        Orchestrator(provider="gemini", working_dir=project, env=env,
                     renderer=sinks[-1]).run_sync(task)
    assert sinks[0].found == [] and len(sinks[1].found) == 1
    assert scripted_gemini.embedding_requests
    assert FACT in json.dumps(scripted_gemini.requests[2].body)
