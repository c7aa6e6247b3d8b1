"""Render a run's events in a terminal: streamed text on stdout, tool activity on stderr.

``moco run --json`` bypasses this and prints each event as one JSON line.

When a model stream fails after some text and is tried again (:class:`AttemptDiscarded`),
that text is not the answer: on a terminal it is erased (or, when it can no longer be erased,
marked as discarded on stderr). With ``hold_text`` (``moco run`` when stdout is a pipe or a
file) the root agent's text is held until its model call is complete, so a discarded attempt
never reaches stdout and stdout holds only the answer.
"""

from __future__ import annotations

import json
import shutil
import sys
import unicodedata
from typing import Any, TextIO

from moco.events import (
    AgentDelegated,
    AgentReturned,
    AgentsSelected,
    AttemptDiscarded,
    ContextCompressed,
    Error,
    Event,
    MemoryLearned,
    MemoryRecalled,
    MessageCompleted,
    RunFinished,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    UsageReported,
    Warning,
    leaf_name,
    path_depth,
)
from moco.ui.sanitize import visible


def compact_arguments(arguments: dict[str, Any], limit: int = 70) -> str:
    """``{"path": "a.py", "limit": 20}`` -> ``path=a.py limit=20``, cut to ``limit``; control
    characters are shown escaped (:func:`moco.ui.sanitize.visible`)."""
    pieces = []
    for key, value in arguments.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        text = visible(" ".join(str(text).split()))
        pieces.append(f"{visible(key)}={text[:40]}{'…' if len(text) > 40 else ''}")
    line = " ".join(pieces)
    return line if len(line) <= limit else line[: limit - 1] + "…"


class ConsoleRenderer:
    """Consumes events and writes them for a person."""

    def __init__(
        self,
        *,
        stream: bool = True,
        verbose: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
        root_agent: str = "",
        hold_text: bool = False,
    ) -> None:
        self.stream = stream
        self.verbose = verbose
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.root_agent = root_agent
        self._at_line_start = True
        self._streamed_final = False
        self._color = self.err.isatty()
        #: the root's text is written once its model call is complete, not as it streams
        self.hold_text = hold_text
        #: stdout is a terminal, where a discarded attempt can be erased
        self._live = _isatty(self.out)
        #: the root's text of the model call in progress: held, or already shown
        self._attempt: list[str] = []
        #: whether the shown attempt can still be erased (it began at the start of a line
        #: and nothing else was written since)
        self._erasable = True

    def _dim(self, text: str) -> str:
        return f"\x1b[2m{text}\x1b[0m" if self._color else text

    def _note(self, text: str) -> None:
        if self._attempt and not self.hold_text:
            self._erasable = False
        if not self._at_line_start:
            self.out.write("\n")
            self.out.flush()
            self._at_line_start = True
        self.err.write(text + "\n")
        self.err.flush()

    def _is_root(self, event: Event) -> bool:
        return event.is_root

    def handle(self, event: Event) -> None:
        if isinstance(event, TextDelta | AttemptDiscarded | MessageCompleted):
            self._answer(event)
        elif isinstance(event, ToolCallStarted):
            line = f"→ {event.name} {compact_arguments(event.arguments)}"
            self._note(self._dim(_indent(event.agent) + line))
        elif isinstance(event, ToolCallFinished):
            self._tool_finished(event)
        elif isinstance(event, AgentDelegated):
            task = visible(" ".join(event.task.split())[:80])
            self._note(_indent(event.agent) + f"⇢ {_leaf(event.child)}: " + self._dim(task))
        elif isinstance(event, AgentReturned):
            status = "done" if event.status == "completed" else event.status
            self._note(self._dim(_indent(event.agent) + f"⇠ {_leaf(event.child)} {status}"))
        elif isinstance(event, AgentsSelected):
            offered = ", ".join(event.agents) or "none"
            self._note(self._dim(f"optimizer ({event.method}): {len(event.agents)} of "
                                 f"{event.offered_before} agents offered: {offered}"))
        elif isinstance(event, ContextCompressed):
            self._note(self._dim(f"context compressed: {event.removed_messages} messages "
                                 f"summarized (~{event.tokens_before} → ~{event.tokens_after} "
                                 "tokens)"))
        elif isinstance(event, MemoryRecalled | MemoryLearned):
            self._note(self._dim(memory_note(event)))
        elif isinstance(event, UsageReported) and self.verbose:
            self._note(self._dim(f"  tokens {event.input_tokens} in / {event.output_tokens} out"))
        elif isinstance(event, Warning):
            self._note(f"warning: {event.message}")
        elif isinstance(event, Error):
            self._note(f"error: {event.message}")
        elif isinstance(event, RunFinished) and self._is_root(event):
            self._finished(event)

    def _answer(self, event: TextDelta | AttemptDiscarded | MessageCompleted) -> None:
        """The root agent's text: streamed, taken back, or complete."""
        if not self._is_root(event):
            return
        if isinstance(event, TextDelta):
            self._text(event)
        elif isinstance(event, AttemptDiscarded):
            self._discard()
        elif event.message.role == "assistant":
            self._release()

    def _text(self, event: TextDelta) -> None:
        if not self.stream or not event.text:
            return
        if self.hold_text:
            self._attempt.append(event.text)  # shown once the model call is complete
            return
        if not self._attempt:
            self._erasable = self._at_line_start
        self._attempt.append(event.text)
        self._write(event.text)

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
        self._at_line_start = text.endswith("\n")
        self._streamed_final = True

    def _release(self) -> None:
        """The root's model call completed: its text is part of the conversation."""
        held, self._attempt = "".join(self._attempt), []
        if held and self.hold_text:
            self._write(held)

    def _discard(self) -> None:
        """The root's model call failed after some text and is tried again: take it back."""
        shown, self._attempt = "".join(self._attempt), []
        if self.hold_text or not shown:
            return  # held text was never shown
        rows = _rows(shown, _columns(self.out)) if self._live else 0
        if self._live and self._erasable and rows < _lines():
            up = f"\x1b[{rows - 1}A" if rows > 1 else ""
            self.out.write(f"\r{up}\x1b[J")  # back to where the attempt began; clear below
            self.out.flush()
            self._at_line_start = True
        else:
            self._note(self._dim("(retrying — the partial answer above is discarded)"))
        self._streamed_final = False

    def _tool_finished(self, event: ToolCallFinished) -> None:
        self._streamed_final = self._streamed_final and not self._is_root(event)
        prefix = _indent(event.agent)
        if event.is_error:
            first = event.result.strip().splitlines()[0] if event.result.strip() else ""
            self._note(f"{prefix}✗ {event.name}: {visible(first[:160])}")
        elif self.verbose:
            preview = visible(" ".join(event.result.split())[:160])
            self._note(self._dim(f"{prefix}✓ {event.name} ({event.duration_ms:.0f} ms) {preview}"))

    def _finished(self, event: RunFinished) -> None:
        if self.hold_text:
            self._attempt = []  # a model call that never completed (the run failed)
        if self.stream and self._streamed_final:
            if not self._at_line_start:
                self.out.write("\n")
        elif event.output:
            self.out.write(event.output.rstrip("\n") + "\n")
        self.out.flush()
        self._at_line_start = True
        if self.verbose:
            self._note(self._dim(
                f"{event.status} · {event.turns} turns · "
                f"{event.input_tokens} in / {event.output_tokens} out tokens"))

    def interrupted(self, note: str = "[cancelled]") -> None:
        """Mark a stopped run: end the partial line (it stays visible) and print ``note``
        (nothing more when it is empty)."""
        self._release()
        if not self._at_line_start:
            self.out.write("\n")
        if note:
            self.out.write(self._dim(note) + "\n")
        self.out.flush()
        self._at_line_start = True
        self._streamed_final = False


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or a minimal stream
        return False


def _columns(stream: TextIO) -> int:
    import os

    try:
        return max(os.get_terminal_size(stream.fileno()).columns, 1)
    except (AttributeError, ValueError, OSError):
        return max(shutil.get_terminal_size().columns, 1)


def _lines() -> int:
    return shutil.get_terminal_size().lines


def _rows(text: str, columns: int) -> int:
    """How many terminal rows ``text`` takes when written from the start of a line (the
    cursor ends on the last one)."""
    rows = 0
    for line in text.split("\n"):
        width = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)
        width += line.count("\t") * 7
        rows += max(1, -(-width // columns))
    return rows


def _indent(agent_path: str) -> str:
    """Two spaces per delegation level: the tree of who is working."""
    return "  " * path_depth(agent_path)


def _leaf(agent_path: str) -> str:
    return leaf_name(agent_path)


class JsonRenderer:
    """One JSON object per event on stdout."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def handle(self, event: Event) -> None:
        self.out.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
        self.out.flush()


def memory_note(event: MemoryRecalled | MemoryLearned) -> str:
    """One line on what the learning memory did."""
    if isinstance(event, MemoryRecalled):
        return f"memory: {len(event.memory_ids)} recalled"
    done = [f"{n} {what}" for n, what in ((event.added, "new"), (event.merged, "merged"),
                                         (event.superseded, "superseding"),
                                         (event.relations, "relations")) if n]
    return "memory: learned " + ", ".join(done)
