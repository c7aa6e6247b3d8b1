"""The base tools every profile can pick from.

:data:`BASE_TOOLS` are offered to every agent whose ``tools`` does not restrict it.
:data:`NAMED_TOOLS` (the background process tools) only to agents whose ``tools`` names them
(``start_background``, not ``*``): the first request of every run carries the schemas of
the offered tools, and those of the process tools would put it over its size budget.
:data:`MEMORY_TOOLS` join the base tools when memory is on for the profile (the learning
memory offers them: :mod:`moco.memory`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moco.tools.base import Tool, ToolRegistry, get_tool
from moco.tools.code import find_definition, find_references
from moco.tools.codebase import codebase_search
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
from moco.tools.memory import memory_save, memory_search
from moco.tools.process import PROCESS_TOOLS
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
        codebase_search,
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

#: offered only to agents that name them in ``tools`` (see the module docstring)
NAMED_TOOLS: tuple[Tool, ...] = tuple(_built(function) for function in PROCESS_TOOLS)
NAMED_TOOL_NAMES = frozenset(name for t in NAMED_TOOLS for name in (t.name, *t.aliases))
#: offered when memory is on (see the module docstring)
MEMORY_TOOLS: tuple[Tool, ...] = (_built(memory_search), _built(memory_save))


def base_registry() -> ToolRegistry:
    """A new registry holding :data:`BASE_TOOLS`."""
    return ToolRegistry(BASE_TOOLS)
