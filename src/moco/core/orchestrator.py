"""Orchestrator: turns a profile, settings and a task into a running team of agents.

It loads the profile, resolves the provider, opens or creates the session, assembles each
agent's prompt and tools, runs the primary agent (which may delegate to the others) and
yields the events of the whole team. Front ends (``moco run``, chat, web, gateway) only
consume :meth:`Orchestrator.events`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moco.config import ProviderSettings, load_environment, resolve_provider
from moco.core.events import Event, RunFinished
from moco.core.messages import Message
from moco.errors import ConfigError, MaxTurnsExceeded, MocoError
from moco.profiles import AgentSpec, Profile, load_profile
from moco.profiles.prompt import default_variables, project_instructions, render_prompt
from moco.providers.registry import PROVIDERS, LLMProvider
from moco.tools.base import Tool, ToolRegistry
from moco.tools.selection import select_tools

if TYPE_CHECKING:
    from moco.storage.session_logger import SessionLogger

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
        max_depth: int = 4,
        max_parallel_agents: int = 8,
        session_logger: SessionLogger | None = None,
        persist: bool = True,
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
        self.max_depth = max_depth
        self.max_parallel_agents = max_parallel_agents
        self.allow_outside = allow_outside
        self.agent_name = self._pick_agent(agent)
        self.state: dict[str, Any] = {}
        self.persist = persist
        self._sessions = session_logger
        self.session_id: str | None = None
        self._last_error: MocoError | None = None

    # -- sessions -----------------------------------------------------------------------------
    @property
    def sessions(self) -> SessionLogger:
        """The session store (``MOCO_HOME/moco.db``), opened on first use."""
        if self._sessions is None:
            from moco.storage.session_logger import SessionLogger

            self._sessions = SessionLogger.open(env=self.env)
        return self._sessions

    def create_session(self, title: str | None = None, name: str | None = None) -> str:
        """Create a session and return its id; pass it to ``run_sync(..., session_id=)``."""
        record = self.sessions.create_session(
            title=title, name=name, profile=self.profile.name, provider=self.settings.name,
            model=self.settings.model, working_dir=self.working_dir,
        )
        return record.id

    # -- running ------------------------------------------------------------------------------
    def run_sync(self, task: str, session_id: str | None = None) -> str:
        """Run ``task`` to completion and return the final answer."""
        return asyncio.run(self.run(task, session_id=session_id))

    async def run(self, task: str, session_id: str | None = None) -> str:
        """Run ``task`` and return the final answer; raises the run's error if it failed."""
        renderer = self._renderer()
        finished: RunFinished | None = None
        async for event in self.events(task, session_id=session_id):
            if renderer is not None:
                renderer.handle(event)
            if isinstance(event, RunFinished) and " > " not in event.agent:
                finished = event
        if self._last_error is not None:
            raise self._last_error
        if finished is None:
            raise MocoError("the run ended without a result")
        if finished.status == "max_turns":
            raise MaxTurnsExceeded(f"no final answer after {self.max_turns} turns")
        return finished.output

    async def events(self, task: str, session_id: str | None = None) -> AsyncIterator[Event]:
        """Run ``task`` (continuing ``session_id`` when given) and yield every event of the
        team as it happens."""
        from moco.core.team import TeamRun

        self._last_error = None
        agent_name, task = self.route_mention(task)
        spec = self.profile.agents[agent_name]
        history, recorder = self._open_session(session_id, task)
        team = TeamRun(self)
        runtime = team.runtime(spec, path=agent_name)
        messages = [*history, Message.user(task)]
        completed = False
        try:
            async for event in runtime.run(messages, task=task):
                if recorder is not None:
                    recorder.handle(event)
                yield event
            completed = True
            self._last_error = runtime.outcome.error
        finally:
            if recorder is not None and not completed:
                recorder.close_cancelled()
            await team.aclose()

    def route_mention(self, task: str) -> tuple[str, str]:
        """A task starting ``@agent-name`` goes straight to that agent."""
        stripped = task.lstrip()
        if stripped.startswith("@"):
            name, _, rest = stripped[1:].partition(" ")
            name = name.rstrip(":,")
            if name in self.profile.agents and rest.strip():
                return name, rest.strip()
        return self.agent_name, task

    def _open_session(self, session_id: str | None, task: str) -> tuple[list[Message], Any]:
        if not self.persist and session_id is None:
            self.session_id = None
            return [], None
        from moco.core.recorder import SessionRecorder

        if session_id is None:
            session_id = self.create_session(title=" ".join(task.split())[:80])
            history: list[Message] = []
        else:
            session_id = self.sessions.require_session(session_id).id
            from moco.core.transcript import repair

            history = repair(self.sessions.load_messages(session_id))
        self.session_id = session_id
        return history, SessionRecorder(self.sessions, session_id)

    # -- assembly -----------------------------------------------------------------------------
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

    def settings_for(self, spec: AgentSpec) -> ProviderSettings:
        """The provider and model an agent runs on: an explicit ``-m``/``-P x/model`` wins,
        then the agent's ``model:``, then the configured default."""
        wanted = (spec.model or "").strip()
        if not wanted or self._explicit_model:
            return self.settings
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

    def _pick_agent(self, requested: str | None) -> str:
        if requested is None:
            return self.profile.primary_agent().name
        if requested not in self.profile.agents:
            names = ", ".join(sorted(self.profile.agents))
            raise ConfigError(
                f"profile '{self.profile.name}' has no agent '{requested}' — agents: {names}"
            )
        return requested

    def _renderer(self) -> Any:
        if not (self.stream or self.verbose):
            return None
        from moco.ui.console import ConsoleRenderer

        return ConsoleRenderer(stream=self.stream, verbose=self.verbose,
                               root_agent=self.agent_name)
