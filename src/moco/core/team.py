"""One run of a team: builds agent runtimes, shares provider clients, and delegates.

:class:`TeamRun` implements the :class:`~moco.tools.context.Delegator` protocol: when an agent
calls ``delegate_to_agent`` (or writes an ``@agent`` line), the sub-agent runs as its own
:class:`AgentRuntime` and its events are forwarded into the parent's stream, tagged with the
identity of the sub-agent's own run (``run_id``, with the delegating run as
``parent_run_id``) and its display path (``orchestrator > architect``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from moco.cancellation import CancelFlag
from moco.config import ProviderSettings
from moco.core.runtime import AgentRuntime
from moco.core.team_config import TeamConfig
from moco.errors import ToolError
from moco.events import (
    PATH_SEPARATOR,
    AgentDelegated,
    AgentReturned,
    Event,
    RunIdentity,
    child_path,
    new_run_id,
)
from moco.messages import Message
from moco.profiles import AgentSpec
from moco.providers.base import Provider
from moco.sandbox.base import Unconfined
from moco.tools.base import ToolRegistry
from moco.tools.context import ToolContext
from moco.tools.delegate import DELEGATE_TOOL, delegate_tool, parse_mentions

if TYPE_CHECKING:
    from moco.core.orchestrator import Orchestrator
    from moco.core.team_config import TeamServices
    from moco.sandbox.base import Sandbox


class TeamRun:
    """Per-run state: provider clients, the delegation limit, and the agents' runtimes."""

    def __init__(self, config: TeamConfig | Orchestrator,
                 services: TeamServices | None = None) -> None:
        if not isinstance(config, TeamConfig):  # TeamRun(orchestrator): its current settings
            services, config = config, config.team_config()
        assert services is not None, "a TeamConfig needs the services that execute it"
        self.config = config
        self.services = services
        self.profile = config.profile
        #: per delegating agent, how many of its sub-agents may run at once (a run-wide limit
        #: would deadlock a hierarchy: a middle agent holds its slot while its children wait)
        self._slots: dict[str, asyncio.Semaphore] = {}
        #: the optimizer's choice of sub-agents for the primary agent (None: all)
        self.selected: tuple[str, ...] | None = None
        #: set when the run is cancelled; every tool of every agent of the run sees it
        self.cancelled = CancelFlag()
        #: what every command of the run's agents runs under (the orchestrator sets it)
        self.sandbox: Sandbox = Unconfined()

    def cancel(self) -> None:
        """Tell every tool of the run to stop (threads poll ``ctx.cancelled``)."""
        self.cancelled.set()

    # -- building runtimes -------------------------------------------------------------------
    def runtime(self, spec: AgentSpec, *, path: str, depth: int = 0,
                lineage: tuple[str, ...] = (), run_id: str | None = None,
                parent_run_id: str | None = None) -> AgentRuntime:
        config, services = self.config, self.services
        settings = services.settings_for(spec)
        provider = self._provider(settings)
        tracker = services.file_tracker  # checkpoints (core/checkpoint)
        context = ToolContext(
            working_dir=config.working_dir,
            allow_outside=config.allow_outside,
            session_id=config.session_id, cancelled=self.cancelled,
            parent_run_id=parent_run_id,
            agent=path, state=services.state, delegator=self,
            depth=depth, lineage=(*lineage, spec.name),
            on_file_change=tracker.before_change if tracker is not None else None,
            hidden_env=config.hidden_env,
            on_state_change=services.save_session_state,
            sandbox=self.sandbox,
            protected_branches=config.guardrails.protected_branches,
        )
        context.complete = self._completer(provider, settings.model, context)
        tools = self.tools_for(spec)
        mentions: Callable[[str], list[tuple[str, str]]] | None = None
        if DELEGATE_TOOL in tools:
            names = [name for name in self.delegable(spec)]
            mentions = lambda text: parse_mentions(text, names)  # noqa: E731
        return AgentRuntime(
            name=spec.name, path=path, provider=provider, model=settings.model,
            system_prompt=services.system_prompt(spec), tools=tools, context=context,
            max_turns=spec.max_turns or config.max_turns,
            temperature=spec.temperature, mentions=mentions,
            compressor=services.compressor_for(provider, settings.model),
            carry=services.carry_over,
            loop_detector=services.loop_detector(),
            policies=services.policies(spec),
            max_tool_calls_per_turn=config.guardrails.max_tool_calls_per_turn,
            check_output=(config.guardrails.validate_output
                          if config.guardrails.checks_output else None),
            redact=config.redact,
            run_id=run_id, parent_run_id=parent_run_id,
        )

    def delegable(self, spec: AgentSpec) -> list[str]:
        """Agents ``spec`` may hand work to: every sub-agent-capable agent but itself (for the
        primary agent, only those the optimizer selected, when it ran)."""
        names = [name for name, agent in self.profile.agents.items()
                 if name != spec.name and agent.mode in ("subagent", "all")]
        if self.selected is not None and spec.name == self.config.root_agent:
            names = [name for name in names if name in self.selected]
        return names

    async def optimize(self, spec: AgentSpec, task: str, identity: RunIdentity) -> list[Event]:
        """Run the optimizer for the primary agent (whose run is ``identity``); returns the
        events to show."""
        from moco.core.optimizer import select_agents
        from moco.events import AgentsSelected, UsageReported

        candidates = {name: self.profile.agents[name].description
                      for name in self.delegable(spec)}
        if len(candidates) < 2 or not self._may_delegate(spec):
            return []
        settings = self.services.settings_for(spec)
        selection = await select_agents(
            task, candidates, method=self.config.optimizer_method,
            provider=self._provider(settings), model=settings.model)
        self.selected = selection.agents
        events: list[Event] = [AgentsSelected(
            **identity.fields(), agents=selection.agents, offered_before=len(candidates),
            method=selection.method, reason=selection.reason)]
        if selection.input_tokens or selection.output_tokens:
            events.append(UsageReported(**identity.fields(), input_tokens=selection.input_tokens,
                                        output_tokens=selection.output_tokens,
                                        model=settings.model))
        return events

    def tools_for(self, spec: AgentSpec) -> ToolRegistry:
        tools = self.services.tools_for(spec)
        targets = self.delegable(spec)
        if targets and self._may_delegate(spec):
            agents = [(name, self.profile.agents[name].description) for name in targets]
            tools.register(delegate_tool(agents))
        return tools

    def _may_delegate(self, spec: AgentSpec) -> bool:
        """The primary agent may delegate unless its tools exclude it; any other agent only
        when its ``tools`` name ``delegate_to_agent`` explicitly (hierarchies)."""
        if spec.tools is not None and DELEGATE_TOOL in spec.tools:
            return spec.allows_tool(DELEGATE_TOOL)
        is_root = spec.name == self.config.root_agent
        return is_root and spec.allows_tool(DELEGATE_TOOL)

    def _provider(self, settings: ProviderSettings) -> Provider:
        return self.services.provider_for(settings)

    def _completer(self, provider: Provider, model: str,
                   context: ToolContext) -> Callable[[str, str], Awaitable[str]]:
        """``ToolContext.complete``: a one-off question to the agent's own model (no tools,
        no history); its tokens are reported in the agent's stream like any call's."""
        from moco.events import UsageReported
        from moco.providers.base import ModelRequest

        async def complete(system: str, prompt: str) -> str:
            response = await provider.complete(ModelRequest(
                model=model, system=system, messages=[Message.user(prompt)], max_tokens=1000))
            if context.emit is not None and (response.input_tokens or response.output_tokens):
                context.emit(UsageReported(**self._identity_of(context), model=model,
                                           input_tokens=response.input_tokens,
                                           output_tokens=response.output_tokens))
            return response.message.text

        return complete

    async def aclose(self) -> None:
        """Nothing to release: provider clients belong to the orchestrator, which keeps them
        between runs of one event loop (``Orchestrator.aclose`` closes them)."""

    # -- delegation ---------------------------------------------------------------------------
    async def delegate(self, context: ToolContext, agent_name: str, task: str) -> str:
        spec = self._check_delegation(context, agent_name)
        verdict = await self.config.guardrails.validate_input(task)
        if not verdict.allowed:
            raise ToolError(f"the task for {agent_name} was blocked by guardrails: "
                            f"{verdict.message}")
        path = child_path(context.agent, agent_name)
        emit = context.emit or (lambda event: None)
        mine = self._identity_of(context)
        limit = max(1, self.config.max_parallel_agents)
        async with self._slots.setdefault(context.run_id, asyncio.Semaphore(limit)):
            child_run = new_run_id()
            emit(AgentDelegated(**mine, child=path, task=task, child_run_id=child_run))
            runtime = self.runtime(spec, path=path, depth=context.depth + 1,
                                   lineage=context.lineage, run_id=child_run,
                                   parent_run_id=context.run_id or None)
            async for event in runtime.run([Message.user(task)], task=task):
                emit(event)
        outcome = runtime.outcome
        emit(AgentReturned(**mine, child=path, output=outcome.output, status=outcome.status,
                           child_run_id=child_run))
        if outcome.status == "error":
            raise ToolError(f"{agent_name} failed: {outcome.error}")
        if outcome.status == "max_turns":
            return (f"[{agent_name} stopped at its turn limit without a final answer; "
                    f"its last words follow]\n{outcome.output}")
        return outcome.output

    @staticmethod
    def _identity_of(context: ToolContext) -> dict[str, Any]:
        """The event fields of the run a tool context serves."""
        name = context.lineage[-1] if context.lineage else context.agent
        return RunIdentity(run_id=context.run_id, agent_name=name, path=context.agent,
                           parent_run_id=context.parent_run_id,
                           session_id=context.session_id).fields()

    def _check_delegation(self, context: ToolContext, agent_name: str) -> AgentSpec:
        spec = self.profile.agents.get(agent_name)
        if spec is None or spec.mode not in ("subagent", "all"):
            available = ", ".join(self.delegable_from(context)) or "none"
            raise ToolError(f"unknown agent '{agent_name}'. Available agents: {available}")
        if agent_name in context.lineage:
            chain = PATH_SEPARATOR.join((*context.lineage, agent_name))
            raise ToolError(f"refused: delegating to {agent_name} would form a cycle ({chain}); "
                            "do this part yourself or choose another agent")
        limit = self.config.max_depth
        if context.depth + 1 > limit:
            raise ToolError(f"refused: the delegation depth limit ({limit}) is reached; "
                            "do this part yourself")
        return spec

    def delegable_from(self, context: ToolContext) -> list[str]:
        name = context.lineage[-1] if context.lineage else ""
        spec = self.profile.agents.get(name)
        return self.delegable(spec) if spec else list(self.profile.agents)
