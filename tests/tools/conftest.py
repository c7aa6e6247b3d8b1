"""Fixtures for the base tools: a working directory and a context confined to it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from moco.tools.base import get_tool
from moco.tools.context import ToolContext


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    return root


@pytest.fixture
def ctx(workdir: Path) -> ToolContext:
    return ToolContext(working_dir=workdir, cancelled=asyncio.Event())


Runner = Callable[..., Awaitable[str]]


@pytest.fixture
def run(ctx: ToolContext) -> Runner:
    """``await run(tool_function, **arguments)``: the way the runtime calls a tool, with the
    arguments validated by ``Tool.invoke``."""

    async def invoke(function: Callable[..., Any], **arguments: Any) -> str:
        built = get_tool(function)
        assert built is not None
        return await built.invoke(ctx, arguments)

    return invoke
