"""``moco run "task"``: one task, rendered live, exit status from the run's outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from moco.cli.options import (
    AgentOption,
    AllowOutsideOption,
    BaseUrlOption,
    ContinueOption,
    FileOption,
    ImageOption,
    MaxTurnsOption,
    ModelOption,
    NewOption,
    NoNetworkOption,
    OptimizerMethodOption,
    OptimizerOption,
    ProfileOption,
    ProviderOption,
    ReadOnlyOption,
    SandboxImageOption,
    SandboxOption,
    SessionOption,
    StreamOption,
    TrustProjectOption,
    VerboseOption,
    WorkdirOption,
    YesOption,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from moco.core.orchestrator import Orchestrator
    from moco.messages import Part

def register(app: typer.Typer) -> None:
    app.command("run")(run_command)


def run_command(
    task: Annotated[str, typer.Argument(help="What the agents should do.")],
    profile: ProfileOption = "default",
    provider: ProviderOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    working_dir: WorkdirOption = None,
    stream: StreamOption = True,
    max_turns: MaxTurnsOption = 50,
    verbose: VerboseOption = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per event.")
    ] = False,
    agent: AgentOption = None,
    continue_last: ContinueOption = False,
    session: SessionOption = None,
    new: NewOption = False,
    optimizer: OptimizerOption = False,
    optimizer_method: OptimizerMethodOption = "model",
    yes: YesOption = False,
    read_only: ReadOnlyOption = False,
    allow_outside: AllowOutsideOption = False,
    no_network: NoNetworkOption = False,
    sandbox: SandboxOption = False,
    sandbox_image: SandboxImageOption = None,
    trust_project: TrustProjectOption = False,
    image: ImageOption = None,
    file: FileOption = None,
) -> None:
    """Run one task with a profile's agents and print the answer."""
    import asyncio

    from moco.core.attachments import load_attachment
    from moco.core.orchestrator import Orchestrator
    from moco.errors import ConfigError
    from moco.ui.approval import interactive_approver

    if not task.strip():  # before a session is created or a provider is resolved
        raise ConfigError("the task is empty — say what the agents should do")
    attachments = [*(load_attachment(path, image=True) for path in image or []),
                   *(load_attachment(path) for path in file or [])]
    orchestrator = Orchestrator(
        profile=profile, provider=provider, model=model, base_url=base_url,
        working_dir=working_dir, max_turns=max_turns, agent=agent,
        optimizer=optimizer, optimizer_method=optimizer_method,
        approver=None if json_output else interactive_approver(), yes=yes, read_only=read_only,
        allow_outside=allow_outside, network=False if no_network else None,
        sandbox="docker" if sandbox or sandbox_image else None, sandbox_image=sandbox_image,
        trust_project=trust_project or None,
    )
    if verbose:
        typer.echo(orchestrator.open_sandbox().describe(), err=True)
    session_id = choose_session(orchestrator, continue_last=continue_last, name=session, new=new)
    try:
        status = asyncio.run(render_run(orchestrator, task, session_id, stream=stream,
                                        verbose=verbose, json_output=json_output,
                                        attachments=attachments))
    except KeyboardInterrupt:
        typer.echo("\ncancelled — the session keeps what was said; continue it with "
                   "moco run -c \"...\"", err=True)
        raise typer.Exit(130) from None
    if verbose and orchestrator.session_id:
        typer.echo(f"session {orchestrator.session_id}", err=True)
    if status != "completed":
        raise typer.Exit(1)


async def render_run(orchestrator: Orchestrator, task: str, session_id: str | None, *,
                     stream: bool, verbose: bool, json_output: bool,
                     attachments: Sequence[Part] = ()) -> str:
    """Run ``task`` and render its events; returns the run's status."""
    from moco.events import root_finish
    from moco.ui.console import ConsoleRenderer, JsonRenderer

    renderer: ConsoleRenderer | JsonRenderer
    if json_output:
        renderer = JsonRenderer()
    else:
        import sys

        # piped or redirected, stdout gets only the answer: text is written per completed
        # model call, so an attempt that fails and is retried never reaches it
        renderer = ConsoleRenderer(stream=stream, verbose=verbose,
                                   root_agent=orchestrator.agent_name,
                                   hold_text=not sys.stdout.isatty())
    status = "error"
    try:
        async for event in orchestrator.events(task, session_id=session_id,
                                               attachments=attachments):
            renderer.handle(event)
            finished = root_finish(event)
            if finished is not None:
                status = finished.status
            if json_output and event.type == "error":
                typer.echo(f"error: {getattr(event, 'message', '')}", err=True)
    finally:
        await orchestrator.aclose()
    return status


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
