"""A task's stored events (``task_events.data``) made readable: the log, and what it is doing.

The events are the dicts ``moco run --json`` prints, plus the runner's ``task_started`` and
``task_finished``. :class:`LogRenderer` renders them as ``moco run`` shows a run — the root
agent's text, tool calls with their arguments in short, delegations, warnings and errors
(a tool's error in full: a refused permission ask names the rule that would allow it),
the run's status — one event at a time, so ``moco tasks logs -f`` prints as they arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from moco.events import leaf_name, path_depth
from moco.ui.console import compact_arguments
from moco.ui.sanitize import visible

#: how much of a failed tool's result the log keeps (the advice of a refused ask fits)
ERROR_CHARS = 600


def _line(text: str, limit: int) -> str:
    flat = visible(" ".join(str(text).split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _indent(data: Mapping[str, Any]) -> str:
    return "  " * path_depth(str(data.get("agent") or ""))


def _is_root(data: Mapping[str, Any]) -> bool:
    return data.get("parent_run_id") is None


class LogRenderer:
    """Renders events one by one (:meth:`feed`) into text; notes always start a line."""

    def __init__(self) -> None:
        self._at_line_start = True

    def render(self, events: Iterable[Mapping[str, Any]]) -> str:
        return "".join(self.feed(data) for data in events)

    def feed(self, data: Mapping[str, Any]) -> str:
        kind = str(data.get("type", ""))
        if kind == "text_delta":
            if not _is_root(data) or not data.get("text"):
                return ""
            text = visible(str(data["text"]))
            self._at_line_start = text.endswith("\n")
            return text
        note = self._note(kind, data)
        if note is None:
            return ""
        prefix = "" if self._at_line_start else "\n"
        self._at_line_start = True
        return f"{prefix}{note}\n"

    def _note(self, kind: str, data: Mapping[str, Any]) -> str | None:
        indent = _indent(data)
        if kind == "tool_call_started":
            arguments = data.get("arguments") or {}
            return f"{indent}→ {data.get('name')} {compact_arguments(dict(arguments))}".rstrip()
        if kind == "tool_call_finished":
            if data.get("is_error"):
                return f"{indent}✗ {data.get('name')}: {_line(data.get('result', ''), ERROR_CHARS)}"
            return f"{indent}✓ {data.get('name')} ({float(data.get('duration_ms') or 0):.0f} ms)"
        if kind == "agent_delegated":
            task = _line(data.get("task", ""), 80)
            return f"{indent}⇢ {leaf_name(str(data.get('child')))}: {task}"
        if kind == "agent_returned":
            status = data.get("status") or "completed"
            shown = "done" if status == "completed" else status
            return f"{indent}⇠ {leaf_name(str(data.get('child')))} {shown}"
        if kind in ("warning", "error"):
            return f"{indent}{kind}: {_line(data.get('message', ''), ERROR_CHARS)}"
        if kind == "attempt_discarded" and _is_root(data):
            return "(retrying — the partial answer above is discarded)"
        if kind == "context_compressed":
            return (f"context compressed: {data.get('removed_messages')} messages summarized "
                    f"(~{data.get('tokens_before')} → ~{data.get('tokens_after')} tokens)")
        return self._frame(kind, data)

    def _frame(self, kind: str, data: Mapping[str, Any]) -> str | None:
        """The start and end of the run and of the task."""
        if kind == "task_started":
            return f"[task {data.get('task_id')} started on {data.get('worker')}]"
        if kind == "run_started" and _is_root(data):
            model = "/".join(str(p) for p in (data.get("provider"), data.get("model")) if p)
            return f"▶ {data.get('agent')}" + (f" ({model})" if model else "")
        if kind == "run_finished" and _is_root(data):
            return (f"— {data.get('status')} · {data.get('turns', 0)} turns · "
                    f"{data.get('input_tokens', 0)} in / {data.get('output_tokens', 0)} out "
                    "tokens")
        if kind == "task_finished":
            error = data.get("error")
            tail = f": {_line(error, ERROR_CHARS)}" if error else ""
            return f"[task {data.get('status')}{tail}]"
        return None


def render_log(events: Iterable[Mapping[str, Any]]) -> str:
    return LogRenderer().render(events)


def tail(text: str, limit: int) -> str:
    """The last ``limit`` bytes of ``text`` (UTF-8), starting at a line when one is near."""
    data = text.encode()
    if len(data) <= limit:
        return text
    cut = data[-limit:].decode(errors="ignore")
    newline = cut.find("\n")
    if 0 <= newline < 200:
        cut = cut[newline + 1:]
    return "[… earlier output: moco tasks logs -a shows it all]\n" + cut


def activity(events: Iterable[Mapping[str, Any]]) -> tuple[str, str]:
    """``(agent, tool)`` a running task is busy with, from its latest events: the agent of
    the last event and the last tool call not yet finished ("" when none)."""
    agent = ""
    open_calls: dict[str, str] = {}
    for data in events:
        kind = data.get("type")
        if data.get("agent"):
            agent = str(data["agent"])
        if kind == "tool_call_started":
            arguments = compact_arguments(dict(data.get("arguments") or {}), limit=40)
            open_calls[str(data.get("call_id"))] = f"{data.get('name')} {arguments}".rstrip()
        elif kind == "tool_call_finished":
            open_calls.pop(str(data.get("call_id")), None)
    tool = next(reversed(open_calls.values()), "") if open_calls else ""
    return agent, tool
