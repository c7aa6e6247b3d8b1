"""Keeping a stored conversation sendable.

A run that was cancelled or killed between a tool call and its result leaves an assistant
message whose calls have no results; every provider rejects such a history. :func:`repair`
gives each unanswered call a result saying what happened, and drops results whose call is
gone, so a session always reopens and continues.
"""

from __future__ import annotations

from moco.messages import Message, ToolResultPart

INTERRUPTED = "[interrupted: this call did not finish (the run was cancelled or stopped)]"


def repair(messages: list[Message]) -> list[Message]:
    repaired: list[Message] = []
    pending: dict[str, str] = {}  # call id -> tool name, awaiting a result
    for message in messages:
        if message.role == "tool":
            parts = [p for p in message.tool_results if p.tool_call_id in pending]
            for part in parts:
                pending.pop(part.tool_call_id)
            if parts:
                repaired.append(Message("tool", list(parts)))
            continue
        if pending:
            repaired.append(_interrupted(pending))
            pending = {}
        repaired.append(message)
        if message.role == "assistant":
            pending = {call.id: call.name for call in message.tool_calls}
    if pending:
        repaired.append(_interrupted(pending))
    return _merge_tool_messages(repaired)


def _interrupted(pending: dict[str, str]) -> Message:
    return Message("tool", [ToolResultPart(call_id, name, INTERRUPTED, True)
                            for call_id, name in pending.items()])


def _merge_tool_messages(messages: list[Message]) -> list[Message]:
    merged: list[Message] = []
    for message in messages:
        if message.role == "tool" and merged and merged[-1].role == "tool":
            merged[-1] = Message("tool", [*merged[-1].parts, *message.parts])
        else:
            merged.append(message)
    return merged
