"""The session's todo list, kept in ``ctx.state["todos"]`` as plain dicts (serialisable) and
stored with the session on every change (:mod:`moco.storage.session_state`).

``todowrite`` replaces the whole list. More than one item ``in_progress`` is accepted with a
warning rather than refused: the list is still right, and refusing would make the model
resend it only to satisfy a style rule.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from moco.tools.base import tool
from moco.tools.context import ToolContext

STATE_KEY = "todos"
_MARKS = {"pending": "[ ]", "in_progress": "[>]", "completed": "[x]"}


class TodoItem(BaseModel):
    # no docstring: pydantic would send it to the model as a description on every request
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, description="What to do, in one short sentence.")
    status: Literal["pending", "in_progress", "completed"] = Field(
        description="pending, in_progress (one at a time) or completed."
    )
    id: str | None = Field(default=None, description="Stable id; assigned when missing.")
    priority: Literal["high", "medium", "low"] | None = Field(
        default=None, description="high, medium or low."
    )


def render_todos(todos: list[dict[str, Any]]) -> str:
    if not todos:
        return "no todos"
    done = sum(1 for item in todos if item["status"] == "completed")
    lines = [f"todos ({done}/{len(todos)} completed):"]
    for item in todos:
        priority = f" ({item['priority']})" if item.get("priority") else ""
        lines.append(f"{_MARKS[item['status']]} {item['id']}. {item['content']}{priority}")
    return "\n".join(lines)


@tool
def todowrite(ctx: ToolContext, todos: list[TodoItem]) -> str:
    """Replace the session's todo list; use it to plan and track multi-step work.

    Args:
        todos: The complete new list, in order; keep exactly one item in_progress while working.
    """
    used = {item.id for item in todos if item.id}
    stored: list[dict[str, Any]] = []
    next_id = 1
    for item in todos:
        data = item.model_dump()
        if not data["id"]:
            while str(next_id) in used:
                next_id += 1
            data["id"] = str(next_id)
            used.add(data["id"])
        stored.append(data)
    ctx.state[STATE_KEY] = stored
    ctx.state_changed()
    rendered = render_todos(stored)
    active = sum(1 for item in stored if item["status"] == "in_progress")
    if active > 1:
        rendered += f"\nwarning: {active} items are in_progress; keep only one in progress."
    return rendered


@tool
def todoread(ctx: ToolContext) -> str:
    """Show the session's todo list."""
    return render_todos(list(ctx.state.get(STATE_KEY) or []))
