"""The learning memory: recall before a run, learning after it, the tool log beside it.

:class:`LearningMemory` implements :class:`~moco.core.run_memory.RunMemory` over a
:class:`~moco.storage.semantic_memory.SemanticMemory`:

- **recall** — the task is searched (top-k, this profile and this project, plus memories of
  no profile or project); hits that pass the relevance bar (:mod:`moco.memory.relevance`) and
  were not learned in this very session (its history already holds them) go into the run's
  first request as one short block (:func:`recall_block`), added to the task message — not
  stored with the session, so a resumed session recalls afresh;
- **learn** — after a completed root run that is not trivial, one model call on the run's
  provider (:mod:`moco.memory.extract`) names facts, preferences and procedures; each is
  merged into a near-duplicate (same words, or nearly the same vector), supersedes the memory
  it contradicts (kept as history), or is added; relations go to ``relations``. The call is
  shown every memory relevant to the task (this session's own included) as what a new one
  may replace;
- **journal** — every tool call of the run goes to ``task_run_events`` (:mod:`.journal`).

Memory is never the reason a run fails: anything going wrong in it is a ``Warning`` event.
The root run's ``RunFinished`` stays its last event: it is held back while learning runs (the
answer has been streamed and stored by then), so "finished" means finished.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from moco.core.run_memory import MemoryRun
from moco.events import (
    Event,
    MemoryLearned,
    MemoryRecalled,
    RunFinished,
    UsageReported,
    Warning,
    root_finish,
)
from moco.memory import extract
from moco.memory.journal import ToolJournal, add_relations, relations_graph
from moco.memory.relevance import content_words, normalized, overlap, relevant
from moco.memory.settings import MemorySettings
from moco.messages import Message, TextPart
from moco.providers.base import ModelRequest

if TYPE_CHECKING:
    from moco.storage.semantic_memory import MemoryHit, MemoryRecord, SemanticMemory
    from moco.tools.base import Tool

Outcome = Literal["added", "merged", "superseded"]
#: a new memory whose vector is this close to a known one is the same memory
DUPLICATE_SIMILARITY = 0.92
#: without vectors: this much overlap of content words makes a duplicate
DUPLICATE_OVERLAP = 0.8
HEADER = "Memory from earlier sessions (may be outdated; use only if relevant):"
#: tokens the learning call may answer with
LEARN_MAX_TOKENS = 800
#: the run is over and its answer shown: a failing endpoint is not waited for as a turn is
LEARN_RETRIES = 1


@dataclass(slots=True)
class Learned:
    added: int = 0
    merged: int = 0
    superseded: int = 0
    relations: int = 0

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


def recall_block(hits: Sequence[MemoryHit]) -> str:
    """The recalled memories as the model reads them, one line each with its provenance."""
    lines = [HEADER]
    for hit in hits:
        record = hit.record
        where = record.source or "unknown source"
        lines.append(f"- {record.text} ({record.kind}, {where}, {record.updated_at[:10]})")
    return "\n".join(lines) + "\n\n"


class LearningMemory:
    """Recall, learning and the tool log of one orchestrator's runs (one profile, one
    working directory)."""

    def __init__(self, store: SemanticMemory, settings: MemorySettings, *, profile: str,
                 project: str) -> None:
        self.store = store
        self.settings = settings
        self.profile = profile
        self.project = project

    @property
    def _stored_project(self) -> str | None:
        return self.project if self.settings.scope == "project" else None

    def tools(self) -> Sequence[Tool]:
        if not self.settings.tools:
            return ()
        from moco.tools.builtin import MEMORY_TOOLS

        return MEMORY_TOOLS

    def relations_graph(self) -> Any:
        """This profile's relations as a NetworkX ``DiGraph`` (see :func:`relations_graph`)."""
        return relations_graph(self.store.db, profile=self.profile)

    async def aclose(self) -> None:
        """Close the embedder's client (it makes a new one when used again)."""
        if self.store.embedder is not None:
            await self.store.embedder.aclose()

    # -- the run ----------------------------------------------------------------------------
    async def around(self, events: AsyncIterator[Event], run: MemoryRun) -> AsyncIterator[Event]:
        ids = run.identity.fields()
        known: list[MemoryHit] | None = None
        if self.settings.recall:
            try:
                known = await self.recall(run.task)
            except Exception as error:  # optional: a failed recall is a warning, not the run's
                yield Warning(**ids, message=f"memory recall failed: {_said(error)}")
            # what this session learned is in its history already: not sent again
            own = f"session:{run.identity.session_id}"
            shown = [hit for hit in known or () if hit.record.source != own]
            if shown:
                text = recall_block(shown)
                last = run.messages[-1]
                run.messages[-1] = Message(last.role, [TextPart(text), *last.parts])
                yield MemoryRecalled(**ids, memory_ids=tuple(h.record.id for h in shown),
                                     text=text)
        journal: ToolJournal | None = ToolJournal(self.store.db, run.redact)
        finished: RunFinished | None = None
        async for event in events:
            if journal is not None:
                try:
                    journal.observe(event)
                except sqlite3.Error as error:
                    journal = None
                    yield Warning(**ids, message=f"tool calls not logged: {error}")
            done = root_finish(event)
            if done is not None:
                finished = done  # held back: the run's last event, after its learning
                continue
            yield event
        if finished is None:
            return
        if finished.status == "completed" and self.settings.learn:
            async for event in self._learn(run, finished.output, known):
                yield event
        yield finished

    async def recall(self, query: str) -> list[MemoryHit]:
        """The memories relevant to ``query`` (see the module docstring); a query without
        a content word ("yes", "go on") costs no search."""
        if not content_words(query):
            return []
        hits = await self.store.search(query, k=self.settings.top_k, profile=self.profile,
                                       project=self.project)
        return relevant(hits, query, min_similarity=self.settings.min_similarity)

    async def _learn(self, run: MemoryRun, answer: str,
                     known: list[MemoryHit] | None) -> AsyncIterator[Event]:
        """One learning call; ``known``: the memories relevant to the task (None: not
        searched yet), offered to it as what a new memory may replace."""
        ids = run.identity.fields()
        if extract.is_trivial(run.task, answer):
            return
        try:
            if known is None:
                known = await self.recall(run.task)
            model = self.settings.model or run.model
            response = await run.provider.complete(ModelRequest(
                model=model, system=extract.SYSTEM, max_tokens=LEARN_MAX_TOKENS,
                messages=[Message.user(extract.prompt(
                    run.task, answer, [(h.record.id, h.record.text) for h in known]))]),
                max_retries=LEARN_RETRIES)
            if response.input_tokens or response.output_tokens:
                yield UsageReported(**ids, input_tokens=response.input_tokens,
                                    output_tokens=response.output_tokens, model=model)
            found = extract.parse(response.message.text, {h.record.id for h in known})
            learned = await self._keep(found, run)
        except Exception as error:  # optional: learning never fails the run, it warns
            yield Warning(**ids, message=f"nothing learned from this run: {_said(error)}")
            return
        if learned.added or learned.merged or learned.superseded or learned.relations:
            yield MemoryLearned(**ids, added=learned.added, merged=learned.merged,
                                superseded=learned.superseded, relations=learned.relations)

    async def _keep(self, found: extract.Extraction, run: MemoryRun) -> Learned:
        session = run.identity.session_id
        source = f"session:{session}" if session else f"run:{run.identity.run_id}"
        learned, kept = Learned(), []
        for item in found.memories:
            outcome, record = await self.remember(run.redact(item.text), kind=item.kind,
                                                  source=source, replaces=item.replaces)
            learned.count(outcome)
            kept.append((record.id, record.text))
        if found.relations:
            triples = [(run.redact(s), run.redact(p), run.redact(o))
                       for s, p, o in found.relations]
            learned.relations = add_relations(
                self.store.db, triples, profile=self.profile, project=self._stored_project,
                source=source, memories=kept)
        return learned

    # -- storing ----------------------------------------------------------------------------
    async def remember(self, text: str, *, kind: str = "fact", source: str | None = None,
                       replaces: int | None = None) -> tuple[Outcome, MemoryRecord]:
        """Keep ``text``: merged into a near-duplicate, superseding ``replaces``, or new."""
        profile, project = self.profile, self._stored_project
        if replaces is not None and self.store.get(replaces) is not None:
            record = await self.store.supersede(replaces, text, kind=kind, source=source,
                                                profile=profile, project=project)
            return "superseded", record
        duplicate = await self._duplicate_of(text)
        if duplicate is not None:
            return "merged", self._touch(duplicate)
        return "added", await self.store.add(text, kind=kind, source=source, profile=profile,
                                             project=project)

    async def _duplicate_of(self, text: str) -> MemoryRecord | None:
        hits = await self.store.search(text, k=3, profile=self.profile, project=self.project)
        wanted = normalized(text)
        for hit in hits:
            if normalized(hit.record.text) == wanted:
                return hit.record
        for hit in hits:
            if hit.similarity is not None:
                if hit.similarity >= DUPLICATE_SIMILARITY:
                    return hit.record
            elif overlap(text, hit.record.text) >= DUPLICATE_OVERLAP:
                return hit.record
        return None

    def _touch(self, record: MemoryRecord) -> MemoryRecord:
        """A memory said again: its ``updated_at`` moves to now."""
        from moco.storage.db import utcnow

        self.store.db.execute("UPDATE memories SET updated_at = ? WHERE id = ?",
                              (utcnow(), record.id))
        return self.store.get(record.id) or record

    # -- the agents' tools (moco.tools.memory) ------------------------------------------------
    async def search_text(self, query: str, k: int, session_id: str | None) -> str:
        hits = await self.store.search(query, k=k, profile=self.profile, project=self.project)
        if not hits:
            return "no memories found"
        return "\n".join(f"[{h.record.id}] {h.record.text} ({h.record.kind}, "
                         f"{h.record.source or 'unknown source'}, {h.record.updated_at[:10]})"
                         for h in hits)

    async def save_text(self, text: str, kind: str, source: str) -> str:
        outcome, record = await self.remember(" ".join(text.split()), kind=kind, source=source)
        if outcome == "merged":
            return f"already remembered as memory {record.id} (now marked as said again)"
        return f"saved as memory {record.id}"


def _said(error: BaseException) -> str:
    """An error as one line."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
