"""``delegate_to_agent``: a sub-agent is a tool. ``@agent`` lines become the same call."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

from moco.errors import ToolError
from moco.tools.base import Tool, get_tool, tool
from moco.tools.context import ToolContext

DELEGATE_TOOL = "delegate_to_agent"


@tool(name=DELEGATE_TOOL)
async def delegate_to_agent(ctx: ToolContext, agent_name: str, task: str) -> str:
    """Hand a task to another agent and get its final answer. The agent sees only `task`,
    so make it self-contained. Several calls in one turn run in parallel.

    Args:
        agent_name: One of the agents listed above.
        task: Complete instructions: goal, relevant files and facts, what to return.
    """
    if ctx.delegator is None:
        raise ToolError("delegation is not available in this run")
    return await ctx.delegator.delegate(ctx, agent_name, task)


def delegate_tool(agents: Iterable[tuple[str, str]]) -> Tool:
    """The delegation tool with the available agents (name, description) in its description."""
    base = get_tool(delegate_to_agent)
    assert base is not None
    lines = [f"- {name}: {description.strip() or '(no description)'}"
             for name, description in agents]
    description = base.description + "\nAgents:\n" + "\n".join(lines)
    return dataclasses.replace(base, description=description)


_MENTION = re.compile(r"^@([A-Za-z0-9][\w.-]*)[ \t]*[:,]?[ \t]*(.*)$")


def parse_mentions(text: str, agents: Sequence[str]) -> list[tuple[str, str]]:
    """Lines beginning ``@agent-name <instructions>``; the instructions run until the next
    such line. Names not in ``agents`` are ignored (an ``@decorator`` in code is not a call),
    and so is anything inside fenced code blocks."""
    found: list[tuple[str, list[str]]] = []
    in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            if found:
                found[-1][1].append(line)
            continue
        match = None if in_fence else _MENTION.match(line.strip())
        if match and match.group(1) in agents:
            found.append((match.group(1), [match.group(2)]))
        elif found:
            found[-1][1].append(line)
    return [(name, "\n".join(body).strip()) for name, body in found if "\n".join(body).strip()]
