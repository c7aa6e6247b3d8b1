"""Writes a run's events into the session store as they happen.

Every message (user, assistant, tool results, sub-agents' messages tagged with their agent
path) is appended in its own transaction, so a killed process loses at most the message in
flight. A cancelled turn keeps its partial answer, stored with status ``cancelled``.
"""

from __future__ import annotations

from moco.events import (
    AttemptDiscarded,
    ContextCompressed,
    Event,
    MessageCompleted,
    RunFinished,
    RunStarted,
    TextDelta,
    UsageReported,
)
from moco.messages import Message, TextPart
from moco.storage.session_logger import SessionLogger, TranscriptStore


class SessionRecorder:
    """Stores one team run's events; runs are keyed by the ``run_id`` the events carry, so
    parallel runs of the same agent are separate rows with their own tokens."""

    def __init__(self, store: TranscriptStore, session_id: str, *, root: str = "",
                 seqs: list[int | None] | None = None,
                 task_message: Message | None = None) -> None:
        self.store = store
        self.session_id = session_id
        self.root = root  # the root agent's name (the root run is the one without a parent)
        #: the seq of each message the root agent sends (None for a stored summary), in order
        self.sent_seqs: list[int | None] = list(seqs or [])
        self._open_runs: dict[str, tuple[int, int]] = {}  # run id -> tokens so far
        self._partial: dict[str, tuple[str, list[str]]] = {}  # run id -> (path, turn's text)
        #: the root run's first user message when it is more than its task text (attachments)
        self.task_message = task_message

    def handle(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._run_started(event)
        elif isinstance(event, TextDelta):
            self._partial.setdefault(event.run_id, (event.agent, []))[1].append(event.text)
        elif isinstance(event, AttemptDiscarded):  # a retried attempt's text is not kept
            self._partial.pop(event.run_id, None)
        elif isinstance(event, MessageCompleted):
            self._partial.pop(event.run_id, None)
            seq = self.store.append_message(self.session_id, event.message, agent=event.agent,
                                            run_id=self._stored_run(event.run_id))
            if event.is_root:
                self.sent_seqs.append(seq)
        elif isinstance(event, ContextCompressed) and event.is_root:
            self._compacted(event)
        elif isinstance(event, UsageReported):
            if event.run_id in self._open_runs:
                used_in, used_out = self._open_runs[event.run_id]
                self._open_runs[event.run_id] = (used_in + event.input_tokens,
                                                 used_out + event.output_tokens)
        elif isinstance(event, RunFinished) and event.run_id in self._open_runs:
            del self._open_runs[event.run_id]
            self.store.finish_run(event.run_id, event.status, event.input_tokens,
                                  event.output_tokens)

    def _stored_run(self, run_id: str) -> str | None:
        return run_id if run_id in self._open_runs else None

    def _run_started(self, event: RunStarted) -> None:
        parent = event.parent_run_id if event.parent_run_id in self._open_runs else None
        run_id = self.store.start_run(
            self.session_id, agent=event.agent, task=event.task, parent_run_id=parent,
            model=event.model, provider=event.provider, run_id=event.run_id,
        )
        self._open_runs[run_id] = (0, 0)
        message = Message.user(event.task)
        if event.is_root and self.task_message is not None:
            message, self.task_message = self.task_message, None
        seq = self.store.append_message(self.session_id, message, agent=event.agent,
                                        run_id=run_id)
        if event.is_root:
            self.sent_seqs.append(seq)

    def _compacted(self, event: ContextCompressed) -> None:
        """Remember the summary so a resumed session starts from it, not the full history
        (which stays on disk)."""
        boundary = len(self.sent_seqs) - event.kept_messages
        before = [seq for seq in self.sent_seqs[:boundary] if seq is not None]
        kept: list[int | None] = [None] * len(event.header)
        self.sent_seqs = kept + self.sent_seqs[boundary:]
        if not before or not isinstance(self.store, SessionLogger):
            return
        record = self.store.require_session(self.session_id)
        metadata = {**record.metadata, "compaction": {
            "upto_seq": max(before),
            "header": [message.to_dict() for message in event.header],
        }}
        self.store.update_session(self.session_id, metadata=metadata)

    def close_cancelled(self) -> None:
        """Keep what a cancelled turn said, and mark unfinished runs as cancelled."""
        for run_id, (agent, pieces) in self._partial.items():
            text = "".join(pieces)
            if text:
                message = Message("assistant", [TextPart(text + "\n[cancelled]")])
                self.store.append_message(self.session_id, message, agent=agent,
                                          run_id=self._stored_run(run_id), status="cancelled")
        self._partial.clear()
        for run_id, (used_in, used_out) in list(self._open_runs.items()):
            self.store.finish_run(run_id, "cancelled", used_in, used_out)
        self._open_runs.clear()
