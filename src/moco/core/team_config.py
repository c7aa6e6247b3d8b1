"""The description of a team run, apart from its execution.

:class:`TeamConfig` is what a run *is* — the profile, the root agent, the working directory,
the limits and the policies — frozen when the run starts, so changing an orchestrator's
attributes between runs never changes a run in flight. :class:`TeamServices` is what a run
*uses* — provider clients, tools, prompts, compressors, the session's shared state — as a
protocol the :class:`~moco.core.orchestrator.Orchestrator` implements; a
:class:`~moco.core.team.TeamRun` depends on these two and not on the orchestrator's class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from moco.config import ProviderSettings
    from moco.core.checkpoint import FileTracker
    from moco.core.context_compressor import CarryOver, ContextCompressor
    from moco.core.guardrails import Guardrails
    from moco.core.loop_detector import LoopDetector
    from moco.core.policy import ToolPolicy
    from moco.profiles import AgentSpec, Profile
    from moco.providers.base import Provider
    from moco.tools.base import ToolRegistry
    from moco.tools.shared_state import SharedState


@dataclass(frozen=True, slots=True)
class TeamConfig:
    """The immutable description of one team run."""

    profile: Profile
    #: the primary agent of the run (whose sub-agents the optimizer selects)
    root_agent: str
    working_dir: Path
    allow_outside: bool
    max_turns: int
    max_depth: int
    max_parallel_agents: int
    optimizer_method: Literal["model", "lexical"]
    session_id: str | None
    #: environment variables commands never see (moco's provider keys)
    hidden_env: frozenset[str]
    guardrails: Guardrails
    #: redacts secrets from tool output before the model sees it (None: off)
    redact: Callable[[str], str] | None


class TeamServices(Protocol):
    """What a team run asks of the orchestrator while it executes."""

    state: SharedState
    file_tracker: FileTracker | None

    def settings_for(self, spec: AgentSpec) -> ProviderSettings: ...

    def provider_for(self, settings: ProviderSettings) -> Provider: ...

    def tools_for(self, spec: AgentSpec) -> ToolRegistry: ...

    def system_prompt(self, spec: AgentSpec) -> str: ...

    def compressor_for(self, provider: Provider, model: str) -> ContextCompressor | None: ...

    def carry_over(self) -> CarryOver: ...

    def loop_detector(self) -> LoopDetector | None: ...

    def policies(self, spec: AgentSpec) -> list[ToolPolicy]: ...

    def save_session_state(self) -> None: ...
