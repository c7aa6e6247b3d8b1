"""The learning call's answer, read; trivial runs; the relevance bar's words."""

from __future__ import annotations

import pytest

from moco.memory import extract
from moco.memory.extract import Extracted, ExtractionError
from moco.memory.relevance import content_words, normalized, overlap


def test_the_answer_is_read_even_in_a_fence() -> None:
    text = """```json
    {"memories": [{"text": "  Tanaka-san  handles expense reports. ", "kind": "fact"},
                  {"text": "Prefers answers in English.", "kind": "preference",
                   "replaces": "[7]"},
                  "Deploys go through make release."],
     "relations": [["Tanaka-san", "handles", "expense reports"],
                   {"subject": "Suzuki", "predicate": "leads", "object": "sales"}, ["bad"]]}
    ```"""
    found = extract.parse(text, known_ids={7})
    assert found.memories == (
        Extracted("Tanaka-san handles expense reports.", "fact"),
        Extracted("Prefers answers in English.", "preference", replaces=7),
        Extracted("Deploys go through make release.", "fact"),
    )
    assert found.relations == (("Tanaka-san", "handles", "expense reports"),
                               ("Suzuki", "leads", "sales"))


def test_replaces_must_name_a_memory_that_was_offered() -> None:
    found = extract.parse('{"memories": [{"text": "x y", "kind": "odd", "replaces": 3}]}',
                          known_ids={1})
    assert found.memories == (Extracted("x y", "fact", replaces=None),)


@pytest.mark.parametrize(("text", "message"), [
    ("I learned nothing.", "no JSON object"),
    ('{"memories": [}', "not valid JSON"),
    ('{"memories": "Tanaka"}', "'memories' in the learning answer is not a list"),
])
def test_what_is_not_the_json_asked_for(text: str, message: str) -> None:
    with pytest.raises(ExtractionError, match=message):
        extract.parse(text, known_ids=set())


def test_nothing_to_keep() -> None:
    assert extract.parse('{"memories": [], "relations": []}', set()) == extract.Extraction()


@pytest.mark.parametrize(("task", "answer", "trivial"), [
    ("hi", "Hello! How can I help?", True),
    ("thanks, yes please", "You're welcome.", True),
    ("Ask Tanaka-san about expense reports.", "I will.", False),
    ("Ask Tanaka-san about expense reports.", "", True),
])
def test_trivial_runs(task: str, answer: str, trivial: bool) -> None:
    assert extract.is_trivial(task, answer) is trivial


def test_the_prompt_numbers_known_memories_and_cuts_long_text() -> None:
    text = extract.prompt("t" * 10_000, "done", [(4, "Tanaka-san handles expenses.")])
    assert text.startswith("Known memories:\n[4] Tanaka-san handles expenses.\n")
    assert "[...]" in text and len(text) < extract.EXCERPT_CHARS + 200


def test_content_words() -> None:
    assert content_words("Who should I ask about the expense reports?") == {
        "ask", "expense", "report"}
    assert content_words("What is it?") == set()
    assert normalized("Tanaka-san: EXPENSE reports!") == "tanaka san expense reports"
    assert overlap("expense reports Tanaka", "Tanaka expense report") == 1.0
    assert overlap("the", "expense") == 0.0
