"""``moco run "task"``: one task, rendered live, exit status from the run's outcome."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from moco.core.orchestrator import Orchestrator

ProfileOption = Annotated[str, typer.Option("--profile", "-p", help="Profile name or folder.")]
ProviderOption = Annotated[
    str | None,
    typer.Option("--provider", "-P",
                 help="Provider, optionally with model: zai, zai/glm-4.7, openrouter/a/b."),
]
ModelOption = Annotated[str | None, typer.Option("--model", "-m", help="Model name.")]
BaseUrlOption = Annotated[
    str | None,
    typer.Option("--base-url", help="OpenAI-compatible endpoint (Ollama, vLLM, LM Studio...)."),
]
WorkdirOption = Annotated[
    Path | None,
    typer.Option("--working-dir", "-w", help="Folder the agents work in (default: current)."),
]


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)


def run_command(
    task: Annotated[str, typer.Argument(help="What the agents should do.")],
    profile: ProfileOption = "default",
    provider: ProviderOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    working_dir: WorkdirOption = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Stream text.")] = True,
    max_turns: Annotated[int, typer.Option("--max-turns", help="Turn limit per agent.")] = 50,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show more detail.")] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per event.")
    ] = False,
    agent: Annotated[
        str | None, typer.Option("--agent", "-a", help="Start with this agent.")
    ] = None,
    continue_last: Annotated[
        bool, typer.Option("--continue", "-c", help="Continue this folder's latest session.")
    ] = False,
    session: Annotated[
        str | None,
        typer.Option("--session", "-s", help="Continue the named session (created if new)."),
    ] = None,
    new: Annotated[bool, typer.Option("--new", help="Start a new session.")] = False,
    optimizer: Annotated[
        bool, typer.Option("--optimizer/--no-optimizer",
                           help="Offer only the sub-agents relevant to the task.")
    ] = False,
    optimizer_method: Annotated[
        str, typer.Option("--optimizer-method", help="model (one cheap call) or lexical.")
    ] = "model",
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Approve every permission question (deny rules still deny).")
    ] = False,
    read_only: Annotated[bool, typer.Option(
        "--read-only", help="Plan mode: no file changes; only read-only commands run.")
    ] = False,
) -> None:
    """Run one task with a profile's agents and print the answer."""
    import asyncio

    from moco.core.orchestrator import Orchestrator
    from moco.ui.approval import interactive_approver
    from moco.ui.console import ConsoleRenderer, JsonRenderer

    orchestrator = Orchestrator(
        profile=profile, provider=provider, model=model, base_url=base_url,
        working_dir=working_dir, max_turns=max_turns, agent=agent,
        optimizer=optimizer, optimizer_method=optimizer_method,
        approver=None if json_output else interactive_approver(), yes=yes, read_only=read_only,
    )
    session_id = choose_session(orchestrator, continue_last=continue_last, name=session, new=new)
    renderer: ConsoleRenderer | JsonRenderer
    if json_output:
        renderer = JsonRenderer()
    else:
        renderer = ConsoleRenderer(stream=stream, verbose=verbose,
                                   root_agent=orchestrator.agent_name)

    async def consume() -> str:
        status = "error"
        async for event in orchestrator.events(task, session_id=session_id):
            renderer.handle(event)
            if event.type == "run_finished" and " > " not in event.agent:
                status = str(getattr(event, "status", "error"))
            if json_output and event.type == "error":
                typer.echo(f"error: {getattr(event, 'message', '')}", err=True)
        return status

    status = asyncio.run(consume())
    if verbose and orchestrator.session_id:
        typer.echo(f"session {orchestrator.session_id}", err=True)
    if status != "completed":
        raise typer.Exit(1)


def choose_session(orchestrator: Orchestrator, *, continue_last: bool, name: str | None,
                   new: bool) -> str | None:
    """The session a run continues: ``--session NAME`` (created when new), ``--continue``
    (this folder's latest), or a new one (``None``)."""
    from moco.errors import ConfigError

    if new and (continue_last or name):
        raise ConfigError("--new cannot be combined with --continue or --session")
    sessions = orchestrator.sessions
    if name:
        existing = sessions.get_session(name)
        if existing is not None:
            return existing.id
        return orchestrator.create_session(title=name, name=name)
    if continue_last:
        latest = sessions.latest_session(orchestrator.working_dir)
        return latest.id if latest else None
    return None
