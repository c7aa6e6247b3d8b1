"""The memory side of an orchestrator: what the core asks of a learning memory, and the few
lines that hand it a run (see :class:`~moco.core.orchestrator.Orchestrator`).

The core knows only :class:`RunMemory`: it wraps the root run's event stream — recalling
before the first model request, learning after the run — and offers tools. The default one,
made from profile.yaml ``memory:`` and ``MOCO_MEMORY``, is :mod:`moco.memory`'s, imported
when the first run needs it; ``Orchestrator(memory=...)`` injects another, ``memory=False``
switches it off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from moco.events import Event, RunIdentity
from moco.messages import Message

if TYPE_CHECKING:
    from moco.config import ProviderSettings
    from moco.core.runtime import AgentRuntime
    from moco.profiles import Profile
    from moco.providers.base import Provider
    from moco.safety.redaction import Redactor
    from moco.tools.base import Tool
    from moco.tools.shared_state import SharedState

#: where the agents' memory tools find the memory (``ctx.state``)
STATE_KEY = "memory"


@dataclass(frozen=True, slots=True)
class MemoryRun:
    """One root run as a memory sees it."""

    task: str
    #: what the run's first request sends; the last message is the task (recall adds to it)
    messages: list[Message]
    identity: RunIdentity
    #: the run's provider client and model (the learning call uses them)
    provider: Provider
    model: str
    #: removes secrets from what is stored (the run's redactor)
    redact: Callable[[str], str]


class RunMemory(Protocol):
    """A memory the orchestrator hands its root runs to."""

    def around(self, events: AsyncIterator[Event], run: MemoryRun) -> AsyncIterator[Event]:
        """The run's events, with what the memory adds (it must never fail the run)."""
        ...

    def tools(self) -> Sequence[Tool]: ...

    async def aclose(self) -> None: ...


class RunMemorySetup:
    """Mixin of :class:`~moco.core.orchestrator.Orchestrator`: its memory, made on first use."""

    profile: Profile
    env: Mapping[str, str]
    working_dir: Path
    settings: ProviderSettings
    redactor: Redactor
    state: SharedState
    #: None: not made yet; False: off
    _memory: RunMemory | bool | None

    def _setup_memory(self, memory: RunMemory | bool | None) -> None:
        self._memory = None if memory is True else memory

    @property
    def memory(self) -> RunMemory | None:
        """The memory of this orchestrator's runs (None when off)."""
        if self._memory is None:
            from moco.memory import open_memory

            made = open_memory(self.profile, self.env, self.working_dir, self.settings)
            self._memory = made if made is not None else False
        if self._memory is False or self._memory is True:
            return None
        self.state[STATE_KEY] = self._memory
        return self._memory

    def with_memory(self, events: AsyncIterator[Event], runtime: AgentRuntime,
                    messages: list[Message], task: str) -> AsyncIterator[Event]:
        """The root run's events as the memory wraps them (unchanged when memory is off)."""
        memory = self.memory
        if memory is None:
            return events
        run = MemoryRun(task=task, messages=messages, identity=runtime.identity,
                        provider=runtime.provider, model=runtime.model,
                        redact=self.redactor.redact)
        return memory.around(events, run)

    def memory_tools(self) -> Sequence[Tool]:
        memory = self.memory
        return memory.tools() if memory is not None else ()

    async def close_memory(self) -> None:
        """Release the memory's connections (its embedder's client); it reopens on use."""
        memory = self._memory
        if memory is not None and not isinstance(memory, bool):
            await memory.aclose()
