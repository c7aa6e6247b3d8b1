"""The base tools every profile can pick from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moco.tools.base import Tool, ToolRegistry, get_tool
from moco.tools.code import find_definition, find_references
from moco.tools.filesystem import (
    edit_file,
    file_info,
    glob_search,
    list_dir,
    read_file,
    tree,
    write_file,
)
from moco.tools.git import create_pr, git_commit, git_diff, git_status
from moco.tools.search import grep, ripgrep
from moco.tools.shell import execute_bash
from moco.tools.todo import todoread, todowrite
from moco.tools.web import web_fetch, web_search


def _built(function: Callable[..., Any]) -> Tool:
    found = get_tool(function)
    if found is None:  # pragma: no cover - every function above is a @tool
        raise TypeError(f"{function!r} is not a tool")
    return found


BASE_TOOLS: tuple[Tool, ...] = tuple(
    _built(function)
    for function in (
        read_file,
        write_file,
        edit_file,
        list_dir,
        tree,
        file_info,
        glob_search,
        grep,
        ripgrep,
        find_definition,
        find_references,
        execute_bash,
        todowrite,
        todoread,
        web_fetch,
        web_search,
        git_status,
        git_diff,
        git_commit,
        create_pr,
    )
)


def base_registry() -> ToolRegistry:
    """A new registry holding :data:`BASE_TOOLS`."""
    return ToolRegistry(BASE_TOOLS)
