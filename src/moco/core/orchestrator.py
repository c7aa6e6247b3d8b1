"""Orchestrator: turns a profile, settings and a task into a running team of agents.

It loads the profile, resolves the provider, opens or creates the session, assembles each
agent's prompt and tools, runs the primary agent (which may delegate to the others) and
yields the events of the whole team. Front ends (``moco run``, chat, web, gateway) only
consume :meth:`Orchestrator.events`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from moco.config import ProviderSettings, load_environment, resolve_provider, split_provider_spec
from moco.core.run_memory import RunMemory, RunMemorySetup
from moco.core.run_safety import RunSafety
from moco.core.team_config import TeamConfig
from moco.errors import ConfigError, GuardrailBlocked, MaxTurnsExceeded, MocoError
from moco.events import Event, EventSink, RunFinished, RunIdentity, new_run_id, root_finish
from moco.messages import Message, Part
from moco.profiles import AgentSpec
from moco.profiles.prompt import default_variables, project_instructions, render_prompt
from moco.providers.base import Provider
from moco.providers.pool import ProviderPool
from moco.providers.registry import PROVIDERS, LLMProvider
from moco.tools.base import Tool, ToolRegistry
from moco.tools.selection import select_tools
from moco.tools.shared_state import SharedState
from moco.trust.gate import ProjectTrust

if TYPE_CHECKING:
    from moco.core.checkpoint import FileTracker
    from moco.core.context_compressor import CarryOver, ContextCompressor
    from moco.core.guardrails import Guardrails
    from moco.core.mcp_client import MCPClient
    from moco.core.permissions import Approver
    from moco.events import ContextCompressed
    from moco.sandbox import Sandbox
    from moco.sandbox.docker import DockerSandbox
    from moco.skills.registry import SkillRegistry
    from moco.storage.session_logger import SessionLogger
    from moco.storage.session_state import ModelChoice

#: the front end ``run()`` prints to when ``stream``/``verbose`` is on and no ``renderer`` is
#: given (looked up by name: the core does not import any UI)
CONSOLE_SINK = "moco.ui.console:ConsoleRenderer"

#: Claude Code's model aliases, meaningful only on Anthropic
_CLAUDE_ALIASES = {
    "sonnet": "claude-sonnet-5-5",
    "opus": "claude-opus-5-5",
    "haiku": "claude-haiku-5-5",
}


class Orchestrator(RunSafety, RunMemorySetup):
    """Runs tasks with a profile's agents.

    >>> Orchestrator(profile="default", provider="zai/glm-4.7").run_sync("Say hi")  # doctest: +SKIP
    """

    #: said once when no confinement can be had ("" once said; see :meth:`open_sandbox`)
    _sandbox_warning: str | None

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
        mcp_client: MCPClient | None = None,
        optimizer: bool = False,
        optimizer_method: str = "model",
        guardrails: Guardrails | None = None,
        approver: Approver | None = None,
        yes: bool = False,
        read_only: bool = False,
        sandbox: str | Sandbox | None = None,
        network: bool | None = None,
        sandbox_image: str | None = None,
        renderer: EventSink | None = None,
        trust_project: bool | None = None,
        memory: RunMemory | bool | None = None,
        provider_pool: ProviderPool | None = None,
    ) -> None:
        self.working_dir = Path(working_dir or os.getcwd()).expanduser().resolve()
        if not self.working_dir.is_dir():
            raise ConfigError(f"working directory {self.working_dir} does not exist")
        self.env = load_environment(self.working_dir, env)
        #: what of the project may be used (None: as trust.json says; see moco.trust.gate)
        self.trust = ProjectTrust.resolve(self.working_dir, env, trust_project)
        self.profile, self.agent_problems = self.trust.load_team(profile, self.env)
        self.settings: ProviderSettings = resolve_provider(
            provider, model=model, base_url=base_url, env=self.env
        )
        self._explicit_model = model is not None or (
            provider is not None and "/" in str(getattr(provider, "value", provider))
        )
        self.stream = stream
        self.verbose = verbose
        #: where :meth:`run` shows events (None: the console when ``stream``/``verbose``)
        self.renderer = renderer
        self.max_turns = max_turns
        self.max_depth = max_depth
        self.max_parallel_agents = max_parallel_agents
        self.allow_outside = allow_outside
        self.optimizer = optimizer
        if optimizer_method not in ("model", "lexical"):
            raise ConfigError(f"unknown optimizer method '{optimizer_method}' — model or lexical")
        self.optimizer_method: Literal["model", "lexical"] = optimizer_method  # type: ignore[assignment]
        self.agent_name = self._pick_agent(agent)
        #: what the agents of the session share (todos, loaded skills, grants; typed views)
        self.state = SharedState()
        self._setup_web()
        #: the model chosen with ``/model``, kept with the session (storage/session_state)
        self.model_choice: ModelChoice | None = None
        #: what the caller named (a provider, a model): a session's stored choice yields to it
        self._caller_choice = (split_provider_spec(provider)[0], self._explicit_model)
        self._state_session: str | None = None
        self.persist = persist
        self._sessions = session_logger
        self.session_id: str | None = None
        self.file_tracker: FileTracker | None = None
        self._last_error: MocoError | None = None
        self.mcp_client = mcp_client if mcp_client is not None else self._configured_mcp()
        self._setup_safety(guardrails, approver, yes=yes, read_only=read_only)
        self._setup_sandbox(sandbox, network)
        #: mode docker: the container every run of this orchestrator shares (aclose removes it)
        self._container: DockerSandbox | None = None
        self._set_sandbox_image(sandbox_image)
        self._mcp_tools: list[Tool] = []
        self._owns_pool = provider_pool is None
        self._pool = ProviderPool() if provider_pool is None else provider_pool
        self._skills: SkillRegistry | None = None
        self._setup_memory(memory)  # None: profile.yaml memory: and MOCO_MEMORY decide

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

        async def run_and_close() -> str:
            try:
                return await self.run(task, session_id=session_id)
            finally:
                await self.aclose()

        return asyncio.run(run_and_close())

    async def aclose(self) -> None:
        """Stop what the orchestrator started (provider connections, MCP servers, the
        session's background processes). It can be used again after."""
        await self.state.processes.stop_all()
        if self._owns_pool:  # a shared pool is closed by whoever made it
            await self._pool.aclose()
        if self.mcp_client is not None:
            await self.mcp_client.aclose()
            self._mcp_tools = []
        container, self._container = self._container, None
        if container is not None:
            await container.aclose()
        await self.close_memory()

    def provider_for(self, settings: ProviderSettings) -> Provider:
        """The provider client for ``settings``, shared by every agent on the same endpoint and
        kept between runs of one event loop (and by other orchestrators given the same
        ``provider_pool``)."""
        return self._pool.get(settings)

    async def run(self, task: str, session_id: str | None = None, *,
                  attachments: Sequence[Part] = ()) -> str:
        """Run ``task`` and return the final answer; raises the run's error if it failed."""
        renderer = self._renderer()
        finished: RunFinished | None = None
        async for event in self.events(task, session_id=session_id, attachments=attachments):
            if renderer is not None:
                renderer.handle(event)
            finished = root_finish(event) or finished
        if self._last_error is not None:
            raise self._last_error
        if finished is None:
            raise MocoError("the run ended without a result")
        if finished.status == "max_turns":
            raise MaxTurnsExceeded(f"no final answer after {self.max_turns} turns")
        if finished.status == "blocked":
            raise GuardrailBlocked(finished.output or "blocked by guardrails")
        return finished.output

    async def events(self, task: str, session_id: str | None = None, *,
                     attachments: Sequence[Part] = ()) -> AsyncIterator[Event]:
        """Run ``task`` (continuing ``session_id`` when given) and yield every event of the
        team as it happens; ``attachments`` (:mod:`moco.core.attachments`) join the task."""
        from moco.core.attachments import check_vision, task_message
        from moco.core.team import TeamRun
        from moco.events import Warning

        if not task.strip():
            raise ConfigError("the task is empty — say what the agents should do")
        self._last_error = None
        if session_id is not None:
            session_id = self.sessions.require_session(session_id).id
        agent_name, task = self.route_mention(task)
        identity = RunIdentity(run_id=new_run_id(), agent_name=agent_name, path=agent_name,
                               session_id=session_id)
        for warning in await self._prepare_tools(identity):
            yield warning
        for warning in self._load_warnings(identity):
            yield warning
        if self.redact_tools:
            task = self.redactor.redact(task)
        verdict = await self.guardrails.validate_input(task)
        if not verdict.allowed:
            async for event in self._blocked(identity, task, verdict.message):
                yield event
            return
        spec = self.profile.agents[agent_name]
        check_vision(self.settings_for(spec).model, attachments,
                     self.profile.settings.get("vision"))
        first = task_message(task, attachments)
        history, recorder = self._open_session(session_id, first, agent_name)
        identity = dataclasses.replace(identity, session_id=self.session_id)
        team = TeamRun(self)
        if self.optimizer:
            for selected in await team.optimize(spec, task, identity):
                yield selected
        team.sandbox = self.open_sandbox().sandbox
        if self._sandbox_warning:
            yield Warning(**identity.fields(), message=self._sandbox_warning)
            self._sandbox_warning = ""  # once per orchestrator (a chat), not every turn
        runtime = team.runtime(spec, path=agent_name, run_id=identity.run_id)
        messages = [*history, first]
        completed = False
        try:
            events = runtime.run(messages, task=task)  # recall before it, learning after
            async for event in self.with_memory(events, runtime, messages, task):
                event = self.redactor.redact_obj(event)
                if recorder is not None:
                    recorder.handle(event)
                yield event
            completed = True
            self._last_error = runtime.outcome.error
        finally:
            if not completed:
                team.cancel()  # tools still running in threads stop at their next check
                if recorder is not None:
                    recorder.close_cancelled()
            await team.aclose()
            await team.sandbox.aclose()

    async def _blocked(self, identity: RunIdentity, task: str,
                       reason: str) -> AsyncIterator[Event]:
        from moco.events import Error, RunStarted

        ids = identity.fields()
        yield RunStarted(**ids, task=task, model=self.settings.model,
                         provider=self.settings.name)
        yield Error(**ids, message=f"input blocked by guardrails: {reason}", kind="guardrail")
        yield RunFinished(**ids, status="blocked", output="")
        self._last_error = GuardrailBlocked(f"input blocked by guardrails: {reason}")

    def route_mention(self, task: str) -> tuple[str, str]:
        """A task starting ``@agent-name`` goes straight to that agent."""
        stripped = task.lstrip()
        if stripped.startswith("@"):
            name, _, rest = stripped[1:].partition(" ")
            name = name.rstrip(":,")
            if name in self.profile.agents and rest.strip():
                return name, rest.strip()
        return self.agent_name, task

    def _open_session(
        self, session_id: str | None, first: Message, root: str
    ) -> tuple[list[Message], Any]:
        if not self.persist and session_id is None:
            self.session_id = None
            self.file_tracker = None
            return [], None
        from moco.core.recorder import SessionRecorder

        fresh = session_id is None
        if session_id is None:
            session_id = self.create_session(title=" ".join(first.text.split())[:80])
            history: list[Message] = []
            seqs: list[int | None] = []
        else:
            session_id = self.sessions.require_session(session_id).id
            history, seqs = self.load_history(session_id)
        self.session_id = session_id
        self._bind_session_state(session_id, fresh=fresh)
        from moco.core.checkpoint import FileTracker

        if self.file_tracker is None or self.file_tracker.session_id != session_id:
            self.file_tracker = FileTracker(self.sessions, session_id)
        return history, SessionRecorder(self.sessions, session_id, root=root, seqs=seqs,
                                        task_message=first)

    def _bind_session_state(self, session_id: str, *, fresh: bool) -> None:
        """A new session starts with no todos and no loaded skills (keeping the chat's
        ``/model`` choice); another session than the last one takes up its stored state."""
        if fresh:
            from moco.storage.session_state import SessionState

            SessionState().apply_to(self.state)
            self._state_session = session_id
            self.save_session_state()
        elif self._state_session != session_id:
            self.restore_session_state(session_id)

    def save_session_state(self) -> None:
        """Store the session's todo list, loaded skills and ``/model`` choice (called on
        every change, so a killed process loses nothing done before)."""
        if self.session_id is None:
            return
        from moco.storage.session_state import SessionState, SessionStateStore

        SessionStateStore(self.sessions.db).save(
            self.session_id, SessionState.capture(self.state, self.model_choice))

    def restore_session_state(self, session_id: str) -> str | None:
        """Take up the stored todo list, loaded skills and ``/model`` choice of a session;
        returns why its model could not be taken up, when it could not."""
        from moco.storage.session_state import SessionState, SessionStateStore

        stored = SessionStateStore(self.sessions.db).load(session_id) or SessionState()
        stored.apply_to(self.state)
        self._state_session = session_id
        choice = stored.model
        provider, named_model = self._caller_choice
        if choice is None or named_model or provider not in (None, choice.provider):
            return None  # a model or another provider named by the caller wins
        try:
            settings = (dataclasses.replace(self.settings, model=choice.model)
                        if choice.provider == self.settings.name
                        else resolve_provider(choice.label, env=self.env))
        except ConfigError as error:
            return f"the session's model {choice.label} is not available: {error}"
        self.settings, self.model_choice, self._explicit_model = settings, choice, True
        return None

    def load_history(self, session_id: str) -> tuple[list[Message], list[int | None]]:
        """The main conversation as the model should see it: after a compaction, the stored
        summary followed by the messages since; each message with its ``seq`` (or None)."""
        from moco.core.transcript import repair

        record = self.sessions.require_session(session_id)
        compaction = record.metadata.get("compaction") or {}
        header = [Message.from_dict(data) for data in compaction.get("header", [])]
        after = int(compaction.get("upto_seq", 0))
        records = [r for r in self.sessions.load_records(session_id, include_children=False)
                   if r.seq > after]
        seq_of = {id(r.message): r.seq for r in records}
        messages = repair([*header, *(r.message for r in records)])
        return messages, [seq_of.get(id(message)) for message in messages]

    # -- context ------------------------------------------------------------------------------
    def compressor_for(self, provider: Any, model: str) -> ContextCompressor | None:
        """A context compressor for an agent, configured by ``compression:`` and
        ``context_windows:`` in profile.yaml (``compression: false`` turns it off)."""
        options = self.profile.settings.get("compression", {})
        if options is False or (isinstance(options, dict) and options.get("enabled") is False):
            return None
        options = options if isinstance(options, dict) else {}
        from moco.core.context_compressor import ContextCompressor

        return ContextCompressor(
            provider, model,
            threshold=float(options.get("threshold", 0.75)),
            keep_recent_turns=int(options.get("keep_recent_turns", 4)),
            window=options.get("window"),
            context_windows=self.profile.settings.get("context_windows"),
        )

    def carry_over(self) -> CarryOver:
        """What a compression must keep word for word: the todo list and loaded skills."""
        from moco.core.context_compressor import CarryOver
        from moco.tools.todo import render_todos

        todos = self.state.todos
        skills = self.state.skill_names
        return CarryOver(todos=render_todos(todos) if todos else None, skills=skills)

    async def compact(self, session_id: str | None = None) -> ContextCompressed | None:
        """Summarize the session's history now (``/compact``); returns what happened."""
        from moco.core.recorder import SessionRecorder
        from moco.core.team import TeamRun
        from moco.events import ContextCompressed

        session_id = session_id or self.session_id
        if session_id is None:
            return None
        history, seqs = self.load_history(session_id)
        team = TeamRun(self)
        try:
            runtime = team.runtime(self.profile.agents[self.agent_name], path=self.agent_name)
            runtime.prepare(history)
            recorder = SessionRecorder(self.sessions, session_id, root=self.agent_name,
                                       seqs=seqs)
            result: ContextCompressed | None = None
            async for event in runtime.maybe_compress(force=True):
                recorder.handle(event)
                if isinstance(event, ContextCompressed):
                    result = event
            return result
        finally:
            await team.aclose()

    # -- assembly -----------------------------------------------------------------------------
    def system_prompt(self, spec: AgentSpec) -> str:
        variables = default_variables(self.working_dir, env=self.env)
        prompt = render_prompt(spec.prompt, variables).strip()
        if self.skills.names and spec.allows_tool("load_skill"):
            from moco.skills.tools import skills_prompt_section

            prompt += "\n\n" + skills_prompt_section(self.skills)
        instructions = project_instructions(self.working_dir, self.trust.use_instructions)
        if instructions:
            prompt += f"\n\n# Project instructions\n\n{instructions.strip()}"
        return prompt

    @property
    def skills(self) -> SkillRegistry:
        """Skills from the profile, ``.moco/skills``, ``.claude/skills`` and ``MOCO_HOME``."""
        if self._skills is None:
            from moco.skills.registry import discover_skills

            self._skills = self.trust.guard_skills(
                discover_skills(self.working_dir, self.profile.skills_dir, self.env))
            self.state.skill_registry = self._skills
        return self._skills

    def available_tools(self) -> ToolRegistry:
        tools: list[Tool] = []
        if self.profile.include_base_tools:
            from moco.tools.builtin import BASE_TOOLS, NAMED_TOOLS

            tools.extend((*BASE_TOOLS, *NAMED_TOOLS))  # NAMED_TOOLS: when named (selection)
            tools.extend(self.memory_tools())
        if self.skills.names:
            from moco.skills.tools import SKILL_TOOLS
            from moco.tools.base import get_tool

            tools.extend(t for f in SKILL_TOOLS if (t := get_tool(f)) is not None)
        tools.extend(self._mcp_tools)
        tools.extend(self.profile.tools)
        return ToolRegistry(tools)

    def _configured_mcp(self) -> MCPClient | None:
        """An MCP client for the servers configured in profile.yaml and .mcp.json files."""
        from moco.config import moco_home
        from moco.mcp.config import load_mcp_config

        config = load_mcp_config(self.working_dir, moco_home(self.env), self.profile.settings,
                                 self.env, allow_env=self.trust.allow_env,
                                 use_project_file=self.trust.use_mcp_file)
        self.trust.warnings.extend(config.warnings)
        if not config.active:
            return None
        from moco.core.mcp_client import MCPClient

        return MCPClient(config)

    async def _prepare_tools(self, identity: RunIdentity) -> list[Event]:
        """Start MCP servers (once) and list their tools; failures become warnings of the
        run about to start (``identity``)."""
        from moco.events import Warning

        ids = identity.fields()
        warnings: list[Event] = [Warning(**ids, message=f"skipped agent: {p}")
                                 for p in self.agent_problems]
        warnings += [Warning(**ids, message=line) for line in self.trust.take_warnings()]
        self.agent_problems = []
        if self.mcp_client is None or self._mcp_tools:
            return warnings
        self._mcp_tools = await self.mcp_client.tools()
        return warnings + [Warning(**ids, message=f"MCP server '{name}': {error}")
                           for name, error in self.mcp_client.errors.items()]

    _load_checked = False

    def _load_warnings(self, identity: RunIdentity) -> list[Event]:
        """Once: one warning per agent whose ``tools`` name tools this run does not have (MCP
        tools included) and one per skill that fails validation (moco.profiles.problems)."""
        if self._load_checked:
            return []
        self._load_checked = True
        from moco.events import Warning
        from moco.profiles import problems

        known = problems.tool_names(self.available_tools()) | problems.moco_tool_names(False)
        lines = problems.tool_problems(self.profile.agents, known)
        lines += [line for line in self.profile.problems if line.startswith("tools/")]
        lines += problems.skill_problems(self.skills.invalid) + self.trust.take_warnings()
        return [Warning(**identity.fields(), message=line) for line in lines]

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

    def _setup_web(self) -> None:
        """The web tools' settings (profile.yaml ``web:`` and the run's environment, .env
        files included), where the tools look for them: the shared state."""
        from moco.errors import ToolError
        from moco.tools.web.settings import STATE_KEY, web_settings

        try:
            self.state[STATE_KEY] = web_settings(self.profile.settings, self.env)
        except ToolError as error:
            raise ConfigError(f"profile.yaml {error}") from None

    def team_config(self) -> TeamConfig:
        """What a run started now is: the settings of this orchestrator, frozen."""
        return TeamConfig(
            profile=self.profile, root_agent=self.agent_name, working_dir=self.working_dir,
            allow_outside=self.allow_outside, max_turns=self.max_turns,
            max_depth=self.max_depth, max_parallel_agents=self.max_parallel_agents,
            optimizer_method=self.optimizer_method, session_id=self.session_id,
            hidden_env=self.hidden_env, guardrails=self.guardrails,
            redact=self.redactor.redact if self.redact_tools else None,
        )

    def _renderer(self) -> EventSink | None:
        """Where :meth:`run` shows events: the sink given as ``renderer``, else — with
        ``stream``/``verbose`` on — the console front end, found by name (:data:`CONSOLE_SINK`)
        so the core depends on the :class:`~moco.events.EventSink` protocol, not on a UI."""
        if self.renderer is not None:
            return self.renderer
        if not (self.stream or self.verbose):
            return None
        module_name, _, class_name = CONSOLE_SINK.partition(":")
        sink_class = getattr(importlib.import_module(module_name), class_name)
        sink: EventSink = sink_class(stream=self.stream, verbose=self.verbose,
                                     root_agent=self.agent_name)
        return sink
