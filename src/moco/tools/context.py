"""The run context handed to tools: where they work and what they may touch."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from moco.cancellation import CancelFlag
    from moco.sandbox.base import Sandbox

from moco.errors import ToolError


class Delegator(Protocol):
    """Runs another agent for a tool (``delegate_to_agent``); the orchestrator implements it."""

    async def delegate(self, context: ToolContext, agent_name: str, task: str) -> str: ...


@dataclass(slots=True)
class ToolContext:
    """Per-run state for tools, instead of module globals.

    - ``working_dir``: relative paths resolve here; tools may not leave it unless
      ``allow_outside`` is set by the user (never by the model);
    - ``state``: a dict shared by the tools of one session (the todo list lives here);
    - ``cancelled``: set when the run is cancelled (Ctrl-C, a stop button); long-running
      tools, above all those running in threads, poll ``ctx.is_cancelled`` and stop;
    - ``run_id`` / ``parent_run_id``: the identity of the agent run the tools serve;
    - ``max_output_chars``: tool results longer than this are truncated with a marker;
    - ``emit``: hands an event to the running agent's stream (set by the runtime), so a tool
      such as ``delegate_to_agent`` can forward a sub-agent's events live;
    - ``delegator``: runs other agents (set by the orchestrator);
    - ``depth`` and ``lineage``: how deep in a delegation chain this agent is, and the agent
      names above it (for cycle and depth guards);
    - ``sandbox``: what every command a tool starts runs under (:mod:`moco.sandbox`; set by
      the orchestrator once per run; ``None`` runs commands as they are).
    """

    working_dir: Path
    allow_outside: bool = False
    session_id: str | None = None
    agent: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    cancelled: CancelFlag | asyncio.Event | None = None
    run_id: str = ""
    parent_run_id: str | None = None
    max_output_chars: int = 30_000
    env: dict[str, str] | None = None
    emit: Callable[[Any], None] | None = None
    delegator: Delegator | None = None
    depth: int = 0
    lineage: tuple[str, ...] = ()
    #: called with a file's resolved path just BEFORE a tool writes or edits it (checkpoints
    #: keep the file's earlier content so a restore can bring it back)
    on_file_change: Callable[[Path], None] | None = None
    #: environment variables commands must not see (moco's own API keys)
    hidden_env: frozenset[str] = frozenset()
    #: called after a tool changed what ``state`` holds for the session (the todo list, the
    #: loaded skills), so the session store keeps it even if the process is killed next
    on_state_change: Callable[[], None] | None = None
    sandbox: Sandbox | None = None
    #: asks the run's model a one-off question: ``await complete(system_prompt, prompt)``
    #: returns its answer's text (set by the team; ``git_commit`` writes messages with it)
    complete: Callable[[str, str], Awaitable[str]] | None = None
    #: branch names or patterns (``release/*``) tools never push to (the guardrails' list)
    protected_branches: tuple[str, ...] = ("main", "master")

    def __post_init__(self) -> None:
        self.working_dir = Path(self.working_dir).expanduser().resolve()

    def resolve_path(self, path: str | os.PathLike[str], *, must_exist: bool = False) -> Path:
        """Resolve ``path`` against the working directory, refusing escapes.

        Symlinks are followed before the check, so a link pointing outside is refused too.
        """
        raw = Path(os.path.expanduser(str(path)))
        candidate = raw if raw.is_absolute() else self.working_dir / raw
        resolved = candidate.resolve()
        if not self.allow_outside and not _is_within(resolved, self.working_dir):
            raise ToolError(
                f"{path} is outside the working directory {self.working_dir}; "
                "use a path inside it (the user can allow outside paths with --allow-outside)"
            )
        if must_exist and not resolved.exists():
            raise ToolError(f"{path} does not exist")
        return resolved

    def display_path(self, path: Path) -> str:
        """A path as the model should see it: relative to the working directory when inside."""
        try:
            return str(path.relative_to(self.working_dir)) or "."
        except ValueError:
            return str(path)

    def truncate(self, text: str, limit: int | None = None) -> str:
        """Cut long output, keeping the start and the end, with a marker saying how much."""
        limit = limit or self.max_output_chars
        if len(text) <= limit:
            return text
        head = text[: limit * 2 // 3]
        tail = text[-(limit // 3) :]
        omitted = len(text) - len(head) - len(tail)
        return f"{head}\n... [truncated {omitted} characters] ...\n{tail}"

    def state_changed(self) -> None:
        """Tell the session store that ``state`` changed (tools call it after writing)."""
        if self.on_state_change is not None:
            self.on_state_change()

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled is not None and self.cancelled.is_set()


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True
