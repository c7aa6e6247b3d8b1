"""The optimizer: before a run, offer the primary agent only the sub-agents relevant to the
task, so the delegation tool (and the model's attention) stays small.

Two methods: ``model`` asks the run's model once, cheaply, to pick agents by their
descriptions (falling back to ``lexical`` if the answer is unusable); ``lexical`` scores
each agent's name and description against the task with idf-weighted word overlap — no
call at all. Either way, if nothing scores, every agent stays offered: the optimizer may
shrink the team, never leave the task without one.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from moco.errors import ProviderError
from moco.messages import Message
from moco.providers.base import ModelRequest, Provider

Method = Literal["model", "lexical"]

_PROMPT = (
    "You choose which specialist agents a coordinator should be able to call for a task. "
    "Pick every agent whose description makes it useful for this task, and no others. "
    'Answer with a JSON array of agent names only, e.g. ["a", "b"].'
)
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "please",
        "that",
        "the",
        "their",
        "them",
        "then",
        "this",
        "to",
        "use",
        "used",
        "uses",
        "using",
        "we",
        "what",
        "when",
        "which",
        "who",
        "will",
        "with",
        "you",
        "your",
        "can",
        "do",
        "does",
        "should",
        "would",
        "could",
        "all",
        "any",
        "each",
    ]
)


@dataclass(frozen=True, slots=True)
class AgentSelection:
    agents: tuple[str, ...]
    method: Method
    reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0


async def select_agents(
    task: str,
    candidates: Mapping[str, str],
    *,
    method: Method = "model",
    provider: Provider | None = None,
    model: str = "",
    max_agents: int = 6,
) -> AgentSelection:
    """Pick the agents (name -> description) relevant to ``task``."""
    if len(candidates) <= 1:
        return AgentSelection(tuple(candidates), "lexical", "nothing to choose")
    if method == "model" and provider is not None:
        chosen = await _ask_model(task, candidates, provider, model)
        if chosen is not None and chosen.agents:
            return chosen
    return lexical_selection(task, candidates, max_agents=max_agents)


async def _ask_model(
    task: str, candidates: Mapping[str, str], provider: Provider, model: str
) -> AgentSelection | None:
    listing = "\n".join(f"- {name}: {description}" for name, description in candidates.items())
    request = ModelRequest(
        model=model,
        system=_PROMPT,
        max_tokens=200,
        messages=[Message.user(f"Task:\n{task}\n\nAgents:\n{listing}")],
    )
    try:
        response = await provider.complete(request)
    except ProviderError:
        return None
    names = _names_in(response.message.text, candidates)
    if names is None:
        return None
    return AgentSelection(
        tuple(names), "model", "chosen by the model", response.input_tokens, response.output_tokens
    )


def _names_in(text: str, candidates: Mapping[str, str]) -> list[str] | None:
    match = re.search(r"\[.*?\]", text, flags=re.DOTALL)
    if match is None:
        return None
    try:
        decoded = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    if not isinstance(decoded, list):
        return None
    return [name for name in candidates if name in {str(item) for item in decoded}]


def lexical_selection(
    task: str, candidates: Mapping[str, str], *, max_agents: int = 6
) -> AgentSelection:
    """Score agents by the idf-weighted task words their name and description contain."""
    documents = {
        name: _words(f"{name.replace('-', ' ')} {text}") for name, text in candidates.items()
    }
    query = _words(task)
    count = len(documents)
    scores: dict[str, float] = {}
    for name, words in documents.items():
        score = 0.0
        for word in query & words:
            having = sum(1 for other in documents.values() if word in other)
            score += math.log(1 + count / having)
        if score > 0:
            scores[name] = score
    if not scores:
        return AgentSelection(tuple(candidates), "lexical", "no agent matched; all offered")
    ranked = sorted(scores, key=lambda name: -scores[name])[:max_agents]
    ordered = tuple(name for name in candidates if name in ranked)
    return AgentSelection(ordered, "lexical", "matched words of the task")


def _words(text: str) -> set[str]:
    return {
        _stem(word)
        for word in re.findall(r"[a-z][a-z0-9]+", text.lower())
        if word not in _STOP and len(word) > 2
    }


def _stem(word: str) -> str:
    for suffix in ("ations", "ation", "ings", "ing", "ers", "er", "ies", "es", "s", "ed", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word
