"""Session transcripts for people: Markdown with a heading per user turn.

Assistant text is shown as written, tool calls as one-line (or one-argument-per-line) code
blocks, tool results cut to their first lines, and sub-agents' messages quoted one level per
delegation depth under their agent path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from moco.messages import DocumentPart, ImagePart, Part, TextPart, ToolCallPart, ToolResultPart

if TYPE_CHECKING:
    from moco.storage.session_logger import MessageRecord, RunRecord, SessionRecord

RESULT_CHARS = 1_500
RESULT_LINES = 20
ARGUMENT_CHARS = 200


def render_markdown(
    session: SessionRecord,
    runs: Sequence[RunRecord],
    messages: Sequence[MessageRecord],
    totals: tuple[int, int] = (0, 0),
) -> str:
    """A readable transcript: a heading per user turn, sub-agents quoted under their path."""
    depth = _run_depths(runs)
    lines = _markdown_header(session, totals)
    turn, previous = 0, 0
    for record in messages:
        level = depth.get(record.run_id or "", 0)
        if level < previous:
            lines.append("")  # end the quote before a shallower block
        previous = level
        if level == 0 and record.role == "user":
            turn += 1
            lines += [f"## Turn {turn}", ""]
        block = _message_block(record, level)
        while block and not block[-1]:
            block.pop()
        prefix = "> " * level
        lines += [(prefix + line).rstrip() for line in block]
        lines.append(prefix.rstrip())
    return "\n".join(lines).rstrip() + "\n"


def _markdown_header(session: SessionRecord, totals: tuple[int, int]) -> list[str]:
    facts = [f"- session: `{session.id}`" + (f" ({session.name})" if session.name else "")]
    if session.profile:
        facts.append(f"- profile: {session.profile}")
    if session.provider or session.model:
        facts.append(f"- model: {'/'.join(p for p in (session.provider, session.model) if p)}")
    if session.working_dir:
        facts.append(f"- working directory: `{session.working_dir}`")
    facts.append(f"- created: {session.created_at} · updated: {session.updated_at}")
    facts.append(f"- messages: {session.message_count} · tokens: {totals[0]:,} in, "
                 f"{totals[1]:,} out")
    return [f"# {session.title or session.name or 'Session ' + session.id}", "", *facts, ""]


def _run_depths(runs: Sequence[RunRecord]) -> dict[str, int]:
    parents = {run.id: run.parent_run_id for run in runs}
    depths: dict[str, int] = {}
    for run_id in parents:
        level, current = 0, parents[run_id]
        while current is not None and level < len(parents):
            level, current = level + 1, parents.get(current)
        depths[run_id] = level
    return depths


def _message_block(record: MessageRecord, level: int) -> list[str]:
    label = f"**{record.role}**" if level == 0 and record.role == "user" else (
        f"**{record.agent}** · {_ROLE_LABELS.get(record.role, record.role)}"
    )
    if record.status:
        label += f" *({record.status})*"
    lines = [label, ""]
    for part in record.message.parts:
        lines += _part_lines(part)
    return lines


_ROLE_LABELS = {"user": "task", "assistant": "assistant", "tool": "tool results"}


def _part_lines(part: Part) -> list[str]:
    if isinstance(part, TextPart):
        return [*part.text.splitlines(), ""]
    if isinstance(part, ImagePart):
        where = part.url or f"{len(part.data or '') * 3 // 4:,} bytes inline"
        return [f"*[image {part.media_type}: {where}]*", ""]
    if isinstance(part, DocumentPart):
        return [f"*[document {part.name or part.media_type}]*", ""]
    if isinstance(part, ToolCallPart):
        return _fenced(_call_text(part), "text")
    if isinstance(part, ToolResultPart):
        head = f"{part.name} {'failed' if part.is_error else 'returned'}:"
        return [head, "", *_fenced(_truncate(part.content), "text")]
    return []


def _call_text(part: ToolCallPart) -> str:
    if part.invalid_arguments is not None:
        return f"→ {part.name}(<invalid arguments: {_clip(part.invalid_arguments)}>)"
    args = [f"{key}={_clip(json.dumps(value, ensure_ascii=False))}"
            for key, value in part.arguments.items()]
    one_line = f"→ {part.name}({', '.join(args)})"
    if len(one_line) <= 100:
        return one_line
    return "\n".join([f"→ {part.name}(", *(f"    {arg}," for arg in args), ")"])


def _clip(text: str, limit: int = ARGUMENT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"… (+{len(text) - limit:,} chars)"


def _truncate(text: str) -> str:
    lines = text.splitlines()
    if len(lines) <= RESULT_LINES and len(text) <= RESULT_CHARS:
        return text
    shown = "\n".join(lines[:RESULT_LINES])[:RESULT_CHARS]
    return f"{shown}\n… ({len(text) - len(shown):,} more characters)"


def _fenced(text: str, language: str) -> list[str]:
    longest, run = 0, 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return [fence + language, *text.splitlines(), fence, ""]
