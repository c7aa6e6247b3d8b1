"""moco as an MCP server (``moco mcp serve``): other tools call a profile's agents as MCP tools.

Tools: one per agent of the profile (named after the agent, sanitized to ``[A-Za-z0-9_-]``;
description = the agent's front-matter ``description``; arguments ``task`` and optional
``session``), plus ``run_agent(agent, task, session?)``. A call runs the agent through
:class:`~moco.core.orchestrator.Orchestrator` exactly as ``moco run -a AGENT`` would:

- the result's first text block is the agent's final answer; a second block says
  ``moco session: <id>``; ``structuredContent`` carries ``{answer, session, agent, status}``;
- a failed run (provider error, max turns, guardrail block, loop stop) is ``isError`` with the
  run's one-line error;
- every call is recorded in a session (the sessions table, as ``moco run`` does); pass its id
  or a name as ``session`` to continue it — an unknown name starts a session with that name;
- when the client sent a progress token, each tool call started/finished and each sub-agent
  delegated/returned is a progress notification (``"assistant → read_file"``).

Transports: stdio (the SDK points fd 1 at stderr while it serves, so nothing moco or a
child process prints can reach the protocol channel) and streamable HTTP at ``/mcp``, bound
to loopback unless ``--allow-remote``; a ``MOCO_MCP_TOKEN`` in the environment is always
required as ``Authorization: Bearer <token>`` over HTTP (see :mod:`moco.mcp.http_server`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from moco import __version__
from moco.errors import MocoError
from moco.events import (
    AgentDelegated,
    AgentReturned,
    Error,
    Event,
    RunFinished,
    ToolCallFinished,
    ToolCallStarted,
    leaf_name,
)

if TYPE_CHECKING:
    from moco.core.mcp_client import MCPClient
    from moco.core.orchestrator import Orchestrator
    from moco.profiles import AgentSpec
    from moco.storage.session_logger import SessionLogger

logger = logging.getLogger(__name__)

RUN_AGENT = "run_agent"
#: the bearer token of the HTTP transport (see :mod:`moco.mcp.http_server`)
TOKEN_VAR = "MOCO_MCP_TOKEN"
#: the longest tool name: what the Anthropic and OpenAI APIs accept for a tool name
MAX_TOOL_NAME = 64
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

Progress = Callable[[str], Awaitable[None]]

_TASK_PROPERTY = {
    "type": "string",
    "description": "What the agent should do, with everything it needs to know: it does not "
                   "see your conversation.",
}
_SESSION_PROPERTY = {
    "type": "string",
    "description": "Optional: continue a moco session by id or name (the id is in the "
                   "result's last line). An unknown name starts a session with that name.",
}
_OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "session": {"type": "string"},
        "agent": {"type": "string"},
        "status": {"type": "string"},
    },
    "required": ["answer", "session", "agent", "status"],
}
#: agents read, write and run things in the working directory
_ANNOTATIONS = types.ToolAnnotations(read_only_hint=False, destructive_hint=True,
                                     idempotent_hint=False, open_world_hint=True)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What each run is started with (the ``moco mcp serve`` flags)."""

    profile: str | Path = "default"
    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    working_dir: Path | None = None
    env: Mapping[str, str] | None = None


class AgentService:
    """Runs a profile's agents for MCP tool calls.

    Building it builds one orchestrator, so a missing key or an unknown profile fails here
    (a :class:`~moco.errors.ConfigError`), before the server answers anything. Each call
    then gets its own orchestrator; they share the session store and the MCP client (so
    MCP servers the profile uses start once, not once per call).
    """

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        probe = self._orchestrator(None)
        self.profile_name = probe.profile.name
        self.working_dir = probe.working_dir
        self.sessions: SessionLogger = probe.sessions
        self.mcp_client: MCPClient | None = probe.mcp_client
        self.agents: dict[str, AgentSpec] = dict(probe.profile.agents)
        self.default_agent = probe.agent_name
        # the profile's default agent first: clients show tools in the order listed
        ordered = sorted(self.agents, key=lambda name: name != self.default_agent)
        self.tool_agents = agent_tool_names(ordered)
        self._session_locks: dict[str, asyncio.Lock] = {}

    # -- tools --------------------------------------------------------------------------------
    def list_tools(self) -> list[types.Tool]:
        tools = [self._agent_tool(tool, self.agents[agent])
                 for tool, agent in self.tool_agents.items()]
        return [*tools, self._run_agent_tool()]

    def input_schema(self, name: str) -> dict[str, Any] | None:
        if name == RUN_AGENT:
            return self._run_agent_tool().input_schema
        return _agent_schema() if name in self.tool_agents else None

    def _agent_tool(self, name: str, spec: AgentSpec) -> types.Tool:
        description = " ".join(spec.description.split()) or (
            f"The '{spec.name}' agent of the moco profile '{self.profile_name}'.")
        return types.Tool(name=name, title=f"moco {spec.name}", description=description,
                          input_schema=_agent_schema(), output_schema=_OUTPUT_SCHEMA,
                          annotations=_ANNOTATIONS)

    def _run_agent_tool(self) -> types.Tool:
        names = sorted(self.agents)
        schema = _agent_schema()
        schema["properties"] = {
            "agent": {"type": "string", "enum": names,
                      "description": f"Which agent (default profile agent: {self.default_agent})."},
            **schema["properties"],
        }
        schema["required"] = ["agent", "task"]
        description = (f"Run an agent of the moco profile '{self.profile_name}' on a task in "
                       f"{self.working_dir} and return its final answer. Agents: "
                       f"{', '.join(names)} (each is also a tool of its own, whose description "
                       "says what it is for).")
        return types.Tool(name=RUN_AGENT, title="moco: run an agent", description=description,
                          input_schema=schema, output_schema=_OUTPUT_SCHEMA,
                          annotations=_ANNOTATIONS)

    # -- calls --------------------------------------------------------------------------------
    async def call(self, name: str, arguments: Mapping[str, Any],
                   progress: Progress) -> types.CallToolResult:
        """Run the tool ``name``; an unknown tool is a protocol error (``INVALID_PARAMS``)."""
        if name == RUN_AGENT:
            agent = arguments.get("agent")
            if not isinstance(agent, str) or agent not in self.agents:
                known = ", ".join(sorted(self.agents))
                return error_result(f"'agent' must be one of: {known}")
        elif name in self.tool_agents:
            agent = self.tool_agents[name]
        else:
            tools = ", ".join([*self.tool_agents, RUN_AGENT])
            raise MCPError(types.INVALID_PARAMS, f"unknown tool '{name}' — tools: {tools}")
        task, session = arguments.get("task"), arguments.get("session")
        if not isinstance(task, str) or not task.strip():
            return error_result("'task' must be a non-empty string: what the agent should do")
        if session is not None and not isinstance(session, str):
            return error_result("'session' must be a string: a moco session id or name")
        return await self.run(agent, task, session or None, progress)

    async def run(self, agent: str, task: str, session: str | None,
                  progress: Progress) -> types.CallToolResult:
        """Run ``agent`` on ``task`` in a new or continued session; never raises but on
        cancellation."""
        orchestrator: Orchestrator | None = None
        try:
            orchestrator = self._orchestrator(agent)
            session_id = self._session_for(orchestrator, session, task)
            async with self._lock(session_id):
                outcome = await consume(orchestrator.events(task, session_id=session_id),
                                        progress)
        except MocoError as error:
            return error_result(str(error))
        except Exception as error:
            logger.exception("moco mcp serve: the run of %r failed", agent)
            return error_result(f"internal error: {type(error).__name__}: {error}")
        finally:
            # MCP servers configured after start-up got a client of their own: stop them
            if orchestrator is not None and orchestrator.mcp_client is not self.mcp_client:
                await orchestrator.aclose()
        return outcome.result(agent, session_id)

    def _orchestrator(self, agent: str | None) -> Orchestrator:
        from moco.core.orchestrator import Orchestrator

        options = self.options
        shared: dict[str, Any] = {}
        if agent is not None:  # the probe (agent None) opens the store and the MCP client
            shared = {"session_logger": self.sessions, "mcp_client": self.mcp_client}
        orchestrator = Orchestrator(
            profile=options.profile, provider=options.provider, model=options.model,
            base_url=options.base_url, working_dir=options.working_dir, env=options.env,
            agent=agent, **shared,
        )
        # the server's bearer token is none of the agents' business (shell commands)
        orchestrator.hidden_env = orchestrator.hidden_env | {TOKEN_VAR}
        return orchestrator

    def _session_for(self, orchestrator: Orchestrator, key: str | None, task: str) -> str:
        """The session a call runs in: ``key`` (an id or a name, created when new) or a new
        one titled after the task."""
        if key is None:
            return orchestrator.create_session(title=" ".join(task.split())[:80])
        existing = self.sessions.get_session(key)
        if existing is not None:
            return existing.id
        settings = orchestrator.settings
        return self.sessions.find_or_create_named(
            key, title=key.strip(), profile=orchestrator.profile.name, provider=settings.name,
            model=settings.model, working_dir=orchestrator.working_dir,
        ).id

    def _lock(self, session_id: str) -> asyncio.Lock:
        """Calls continuing the same session run one after the other."""
        return self._session_locks.setdefault(session_id, asyncio.Lock())

    async def aclose(self) -> None:
        if self.mcp_client is not None:
            await self.mcp_client.aclose()


# --------------------------------------------------------------------------- runs


@dataclass(slots=True)
class RunOutcome:
    """What the root agent's run ended with."""

    status: str = "error"
    answer: str = ""
    error: str = ""

    def result(self, agent: str, session_id: str) -> types.CallToolResult:
        if self.status != "completed":
            return error_result(self.error or f"the run ended with status '{self.status}'")
        return types.CallToolResult(
            content=[types.TextContent(text=self.answer),
                     types.TextContent(text=f"moco session: {session_id}")],
            structured_content={"answer": self.answer, "session": session_id, "agent": agent,
                                "status": self.status},
        )


async def consume(events: AsyncIterator[Event], progress: Progress) -> RunOutcome:
    """Read a run's events to the end: report progress, keep the root agent's outcome.
    A cancelled call (the client cancelled or went away) closes the run at once, so the
    session records it as cancelled."""
    outcome = RunOutcome(error="the run ended without a result")
    try:
        async for event in events:
            message = progress_message(event)
            if message is not None:
                await progress(message)
            if not event.is_root:
                continue
            if isinstance(event, Error):
                outcome.error = one_line(event.message)
            elif isinstance(event, RunFinished):
                outcome.status, outcome.answer = event.status, event.output
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
    return outcome


def progress_message(event: Event) -> str | None:
    """The progress line for an event, or None when the event is not worth one."""
    agent = _leaf(event.agent)
    if isinstance(event, ToolCallStarted):
        return f"{agent} → {event.name}"
    if isinstance(event, ToolCallFinished):
        return f"{agent} ← {event.name}" + (" (failed)" if event.is_error else "")
    if isinstance(event, AgentDelegated):
        task = one_line(event.task)
        task = task if len(task) <= 60 else task[:59] + "…"
        return f"{agent} → @{_leaf(event.child)}: {task}"
    if isinstance(event, AgentReturned):
        return f"{agent} ← @{_leaf(event.child)} ({event.status})"
    return None


def _leaf(path: str) -> str:
    return leaf_name(path)


def one_line(text: str) -> str:
    return " ".join(text.split())


def error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=one_line(message))],
                                is_error=True)


# --------------------------------------------------------------------------- tool names


def agent_tool_names(agents: list[str]) -> dict[str, str]:
    """Tool name -> agent name: each agent name with anything outside ``[A-Za-z0-9_-]``
    replaced by ``_``, capped at 64 characters, made unique (and never ``run_agent``)."""
    taken = {RUN_AGENT}
    names: dict[str, str] = {}
    for agent in agents:
        base = _NAME_UNSAFE.sub("_", agent)[:MAX_TOOL_NAME] or "agent"
        name, number = base, 1
        while name in taken:
            number += 1
            suffix = f"_{number}"
            name = base[: MAX_TOOL_NAME - len(suffix)] + suffix
        taken.add(name)
        names[name] = agent
    return names


def _agent_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"task": dict(_TASK_PROPERTY), "session": dict(_SESSION_PROPERTY)},
        "required": ["task"],
    }


# --------------------------------------------------------------------------- the MCP server


def build_server(service: AgentService) -> Server[Any]:
    """The low-level MCP server answering ``tools/list`` and ``tools/call`` for ``service``."""

    async def list_tools(ctx: ServerRequestContext[Any],
                         params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=service.list_tools())

    async def call_tool(ctx: ServerRequestContext[Any],
                        params: types.CallToolRequestParams) -> types.CallToolResult:
        return await service.call(params.name, params.arguments or {}, _reporter(ctx))

    return Server(
        "moco", version=__version__, title="moco agents",
        instructions=(f"Agents of the moco profile '{service.profile_name}', working in "
                      f"{service.working_dir}. Give each a complete task; pass the returned "
                      "session id as `session` to continue a conversation."),
        get_tool_input_schema=service.input_schema,
        on_list_tools=list_tools, on_call_tool=call_tool,
    )


def _reporter(ctx: ServerRequestContext[Any]) -> Progress:
    """Progress notifications for one call: a no-op unless the client sent a progress token;
    a client that went away does not fail the run."""
    count = 0

    async def report(message: str) -> None:
        nonlocal count
        count += 1
        try:
            await ctx.session.report_progress(count, None, message)
        except Exception as error:  # the client is gone or the stream closed
            logger.debug("progress notification not sent: %s", error)

    return report


async def serve_stdio(service: AgentService) -> None:
    """Serve on stdin/stdout until the client closes stdin."""
    from mcp.server.stdio import stdio_server

    server = build_server(service)
    try:
        async with stdio_server() as (read_stream, write_stream):
            with _stdout_to_stderr():
                await server.run(read_stream, write_stream,
                                 server.create_initialization_options())
    finally:
        await service.aclose()


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """While stdio serves, Python-level writes to ``sys.stdout`` go to stderr too (the SDK
    already points fd 1 at stderr; this also covers a replaced ``sys.stdout``)."""
    with contextlib.redirect_stdout(sys.stderr):
        yield
