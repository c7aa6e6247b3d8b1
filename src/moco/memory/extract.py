"""What the learning call asks, and how its JSON answer is read.

One request per run: the user's task and the final answer (each cut to a few thousand
characters), and the memories already known about it, numbered by id, so the model can say
which one a new fact contradicts. The answer is JSON; anything else is an
:class:`ExtractionError` (which the caller turns into a warning).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from moco.memory.relevance import content_words

KINDS = ("fact", "preference", "procedure")
#: characters of the task and of the answer the learning call sees
EXCERPT_CHARS = 3000
#: a task with fewer content words than this is not worth a call ("thanks", "go on")
MIN_CONTENT_WORDS = 2

SYSTEM = """You maintain a user's long-term memory. From the exchange, extract only what is \
worth knowing in later, unrelated conversations: facts about the user, their people, projects \
and environment; their preferences; procedures that worked. Leave out the task itself, \
passing details, general knowledge and secrets (keys, passwords). Each item is one short, \
self-contained sentence. When an item contradicts a known memory, put that memory's number in \
"replaces". Answer with JSON only:
{"memories": [{"text": "...", "kind": "fact|preference|procedure", "replaces": null}], \
"relations": [["subject", "predicate", "object"]]}
Nothing worth keeping: {"memories": [], "relations": []}"""

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


class ExtractionError(ValueError):
    """The learning call's answer is not the JSON asked for."""


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str
    kind: str = "fact"
    #: the id of the known memory this one contradicts
    replaces: int | None = None


@dataclass(frozen=True, slots=True)
class Extraction:
    memories: tuple[Extracted, ...] = ()
    relations: tuple[tuple[str, str, str], ...] = ()


def is_trivial(task: str, answer: str) -> bool:
    """Whether a run is not worth a learning call: no answer, or a task of (almost) no
    content words ("hi", "thanks", "yes, go on")."""
    return not answer.strip() or len(content_words(task)) < MIN_CONTENT_WORDS


def prompt(task: str, answer: str, known: Sequence[tuple[int, str]]) -> str:
    """The learning call's user message."""
    lines = []
    if known:
        lines.append("Known memories:")
        lines += [f"[{memory_id}] {text}" for memory_id, text in known]
        lines.append("")
    lines.append(f"User: {_excerpt(task)}")
    lines.append(f"Assistant: {_excerpt(answer)}")
    return "\n".join(lines)


def _excerpt(text: str) -> str:
    text = text.strip()
    if len(text) <= EXCERPT_CHARS:
        return text
    half = EXCERPT_CHARS // 2
    return f"{text[:half]} [...] {text[-half:]}"


def parse(text: str, known_ids: set[int]) -> Extraction:
    """Read the learning call's answer; ``replaces`` naming an id that was not offered is
    dropped (the memory is then simply new)."""
    body = _FENCE.sub("", text.strip())
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        raise ExtractionError(f"the learning answer has no JSON object: {text[:80]!r}")
    try:
        data = json.loads(body[start : end + 1])
    except json.JSONDecodeError as error:
        raise ExtractionError(f"the learning answer is not valid JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise ExtractionError("the learning answer is not a JSON object")
    memories = tuple(m for item in _list(data, "memories") if (m := _memory(item, known_ids)))
    relations = tuple(r for item in _list(data, "relations") if (r := _relation(item)))
    return Extraction(memories=memories, relations=relations)


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise ExtractionError(f"'{key}' in the learning answer is not a list")
    return value


def _memory(item: Any, known_ids: set[int]) -> Extracted | None:
    if isinstance(item, str):
        item = {"text": item}
    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
        return None
    text = " ".join(item["text"].split())
    if not text:
        return None
    kind = item.get("kind") if item.get("kind") in KINDS else "fact"
    replaces = item.get("replaces")
    if isinstance(replaces, str) and replaces.strip().lstrip("[").rstrip("]").isdigit():
        replaces = int(replaces.strip().lstrip("[").rstrip("]"))
    if not isinstance(replaces, int) or isinstance(replaces, bool) or replaces not in known_ids:
        replaces = None
    return Extracted(text=text[:500], kind=str(kind), replaces=replaces)


def _relation(item: Any) -> tuple[str, str, str] | None:
    if isinstance(item, dict):
        item = [item.get("subject"), item.get("predicate"), item.get("object")]
    if not isinstance(item, list | tuple) or len(item) != 3:
        return None
    parts = [" ".join(str(part).split())[:200] for part in item if isinstance(part, str)]
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]
