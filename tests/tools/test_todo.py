"""The todo list lives in the session state and round-trips through both tools."""

from __future__ import annotations

import json
from typing import Any

import pytest

from moco.errors import ToolError
from moco.tools.context import ToolContext
from moco.tools.todo import todoread, todowrite


async def test_round_trip(ctx: ToolContext, run: Any) -> None:
    assert await run(todoread) == "no todos"
    todos = [
        {"content": "read the code", "status": "completed"},
        {"content": "write tests", "status": "in_progress", "priority": "high"},
        {"content": "ship", "status": "pending", "id": "1"},
    ]
    written = await run(todowrite, todos=todos)
    assert written == (
        "todos (1/3 completed):\n[x] 2. read the code\n[>] 3. write tests (high)\n[ ] 1. ship"
    )
    assert await run(todoread) == written
    stored = ctx.state["todos"]
    assert json.loads(json.dumps(stored)) == stored  # plain data, ready to persist
    assert [item["id"] for item in stored] == ["2", "3", "1"]


async def test_write_replaces_the_whole_list(ctx: ToolContext, run: Any) -> None:
    await run(todowrite, todos=[{"content": "a", "status": "pending"}])
    await run(todowrite, todos=[{"content": "b", "status": "completed", "id": "x"}])
    assert await run(todoread) == "todos (1/1 completed):\n[x] x. b"
    assert await run(todowrite, todos=[]) == "no todos"


async def test_more_than_one_in_progress_is_a_warning(run: Any) -> None:
    result = await run(
        todowrite,
        todos=[
            {"content": "a", "status": "in_progress"},
            {"content": "b", "status": "in_progress"},
        ],
    )
    assert result.splitlines()[-1].startswith("warning: 2 items are in_progress")
    assert "[>] 1. a" in result and "[>] 2. b" in result


@pytest.mark.parametrize(
    "bad",
    [
        [{"content": "a", "status": "doing"}],
        [{"content": "", "status": "pending"}],
        [{"status": "pending"}],
        [{"content": "a", "status": "pending", "priority": "urgent"}],
        [{"content": "a", "status": "pending", "extra": 1}],
    ],
)
async def test_invalid_items_are_refused(run: Any, bad: list[dict[str, Any]]) -> None:
    with pytest.raises(ToolError, match="invalid arguments for todowrite"):
        await run(todowrite, todos=bad)
