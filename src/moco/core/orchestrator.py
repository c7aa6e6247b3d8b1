"""Orchestrator: turns a profile, settings and a task into running agents.

It loads the profile, resolves the provider, assembles each agent's system prompt and tools,
and runs the primary agent's :class:`AgentRuntime`, yielding its events. Front ends
(``moco run``, chat, web, gateway) only consume :meth:`Orchestrator.events`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from moco.config import ProviderSettings, load_environment, resolve_provider
from moco.core.events import Event, RunFinished
from moco.core.messages import Message
from moco.core.runtime import AgentRuntime
from moco.errors import ConfigError, MaxTurnsExceeded, MocoError
from moco.profiles import AgentSpec, Profile, load_profile
from moco.profiles.prompt import default_variables, project_instructions, render_prompt
from moco.providers.base import Provider
from moco.providers.registry import PROVIDERS, LLMProvider, create_provider
from moco.tools.base import Tool, ToolRegistry
from moco.tools.context import ToolContext
from moco.tools.selection import select_tools

#: Claude Code's model aliases, meaningful only on Anthropic
_CLAUDE_ALIASES = {
    "sonnet": "claude-sonnet-4-5",
    "opus": "claude-opus-4-1",
    "haiku": "claude-haiku-4-5",
}


class Orchestrator:
    """Runs tasks with a profile's agents.

    >>> Orchestrator(profile="default", provider="zai/glm-4.7").run_sync("Say hi")  # doctest: +SKIP
    """

    def __init__(
        self,
        profile: str | Path = "default",
        provider: LLMProvider | str | None = None,
        model: str | None = None,
        stream: bool = False,
        verbose: bool = False,
        working_dir: str | Path | None = None,
        *,
        base_url: str | None = None,
        max_turns: int = 50,
        agent: str | None = None,
        env: Mapping[str, str] | None = None,
        allow_outside: bool = False,
    ) -> None:
        self.working_dir = Path(working_dir or os.getcwd()).expanduser().resolve()
        if not self.working_dir.is_dir():
            raise ConfigError(f"working directory {self.working_dir} does not exist")
        self.env = load_environment(self.working_dir, env)
        self.profile: Profile = load_profile(profile, working_dir=self.working_dir, env=self.env)
        self.settings: ProviderSettings = resolve_provider(
            provider, model=model, base_url=base_url, env=self.env
        )
        self._explicit_model = model is not None or (
            provider is not None and "/" in str(getattr(provider, "value", provider))
        )
        self.stream = stream
        self.verbose = verbose
        self.max_turns = max_turns
        self.allow_outside = allow_outside
        self.agent_name = self._pick_agent(agent)
        self.state: dict[str, Any] = {}

    # -- public API -------------------------------------------------------------------------
    def run_sync(self, task: str) -> str:
        """Run ``task`` to completion and return the final answer."""
        return asyncio.run(self.run(task))

    async def run(self, task: str) -> str:
        """Run ``task`` and return the final answer; raises the run's error if it failed."""
        renderer = self._renderer()
        finished: RunFinished | None = None
        error: MocoError | None = None
        async for event in self.events(task):
            if renderer is not None:
                renderer.handle(event)
            if isinstance(event, RunFinished) and event.agent == self.agent_name:
                finished = event
        error = self._last_error
        if error is not None:
            raise error
        if finished is None:
            raise MocoError("the run ended without a result")
        if finished.status == "max_turns":
            raise MaxTurnsExceeded(f"no final answer after {self.max_turns} turns")
        return finished.output

    async def events(self, task: str) -> AsyncIterator[Event]:
        """Run ``task`` and yield every event of the run as it happens."""
        self._last_error = None
        spec = self.profile.agents[self.agent_name]
        provider, model = self._provider_for(spec)
        try:
            runtime = self.build_runtime(spec, provider, model)
            messages = [Message.user(task)]
            async for event in runtime.run(messages, task=task):
                yield event
            self._last_error = runtime.outcome.error
        finally:
            await provider.aclose()

    # -- assembly ---------------------------------------------------------------------------
    _last_error: MocoError | None = None

    def build_runtime(self, spec: AgentSpec, provider: Provider, model: str) -> AgentRuntime:
        context = ToolContext(
            working_dir=self.working_dir, allow_outside=self.allow_outside,
            agent=spec.name, state=self.state,
        )
        return AgentRuntime(
            name=spec.name,
            provider=provider,
            model=model,
            system_prompt=self.system_prompt(spec),
            tools=self.tools_for(spec),
            context=context,
            max_turns=spec.max_turns or self.max_turns,
            temperature=spec.temperature,
        )

    def system_prompt(self, spec: AgentSpec) -> str:
        variables = default_variables(self.working_dir, env=self.env)
        prompt = render_prompt(spec.prompt, variables).strip()
        instructions = project_instructions(self.working_dir)
        if instructions:
            prompt += f"\n\n# Project instructions\n\n{instructions.strip()}"
        return prompt

    def available_tools(self) -> ToolRegistry:
        tools: list[Tool] = []
        if self.profile.include_base_tools:
            from moco.tools.builtin import BASE_TOOLS

            tools.extend(BASE_TOOLS)
        tools.extend(self.profile.tools)
        return ToolRegistry(tools)

    def tools_for(self, spec: AgentSpec) -> ToolRegistry:
        return select_tools(self.available_tools(), spec)

    def _pick_agent(self, requested: str | None) -> str:
        if requested is None:
            return self.profile.primary_agent().name
        if requested not in self.profile.agents:
            names = ", ".join(sorted(self.profile.agents))
            raise ConfigError(
                f"profile '{self.profile.name}' has no agent '{requested}' — agents: {names}"
            )
        return requested

    def _provider_for(self, spec: AgentSpec) -> tuple[Provider, str]:
        settings = self.settings
        wanted = (spec.model or "").strip()
        if wanted and not self._explicit_model:
            settings = self._settings_for_model(wanted)
        provider = create_provider(
            settings.adapter, name=settings.name, api_key=settings.api_key,
            base_url=settings.base_url, key_var=settings.key_var,
        )
        return provider, settings.model

    def _settings_for_model(self, wanted: str) -> ProviderSettings:
        """An agent's ``model:`` — ``provider/model``, a plain model name, or a Claude alias."""
        prefix = wanted.split("/", 1)[0].lower()
        if "/" in wanted and prefix in PROVIDERS and prefix != self.settings.name:
            return resolve_provider(wanted, env=self.env)
        if "/" in wanted and prefix == self.settings.name:
            wanted = wanted.split("/", 1)[1]
        if wanted in _CLAUDE_ALIASES:
            if self.settings.name != "anthropic":
                return self.settings
            wanted = _CLAUDE_ALIASES[wanted]
        return ProviderSettings(
            name=self.settings.name, adapter=self.settings.adapter, model=wanted,
            api_key=self.settings.api_key, base_url=self.settings.base_url,
            key_var=self.settings.key_var,
        )

    def _renderer(self) -> Any:
        if not (self.stream or self.verbose):
            return None
        from moco.ui.console import ConsoleRenderer

        return ConsoleRenderer(stream=self.stream, verbose=self.verbose,
                               root_agent=self.agent_name)
