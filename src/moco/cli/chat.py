"""``moco chat``: an interactive session, the way people use Claude Code or OpenCode."""

from __future__ import annotations

from typing import Annotated

import typer

from moco.cli.run import (
    BaseUrlOption,
    ModelOption,
    ProfileOption,
    ProviderOption,
    WorkdirOption,
    choose_session,
)


def register(app: typer.Typer) -> None:
    app.command("chat")(chat_command)


def chat_command(
    profile: ProfileOption = "default",
    provider: ProviderOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    working_dir: WorkdirOption = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Stream text.")] = True,
    max_turns: Annotated[int, typer.Option("--max-turns", help="Turn limit per agent.")] = 50,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show more detail.")] = False,
    agent: Annotated[
        str | None, typer.Option("--agent", "-a", help="Talk to this agent.")
    ] = None,
    continue_last: Annotated[
        bool, typer.Option("--continue", "-c", help="Continue this folder's latest session.")
    ] = False,
    session: Annotated[
        str | None,
        typer.Option("--session", "-s", help="Continue the session with this id or name "
                                             "(created if new)."),
    ] = None,
    new: Annotated[bool, typer.Option("--new", help="Start a new session (the default).")] = False,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Approve every permission question (deny rules still deny).")
    ] = False,
    read_only: Annotated[bool, typer.Option(
        "--read-only", help="Plan mode: no file changes; only read-only commands run.")
    ] = False,
) -> None:
    """Chat with a profile's agents: one session, slash commands (/help), Ctrl-C stops a turn."""
    from moco.chat.repl import run_chat
    from moco.core.orchestrator import Orchestrator
    from moco.ui.approval import interactive_approver

    orchestrator = Orchestrator(
        profile=profile, provider=provider, model=model, base_url=base_url,
        working_dir=working_dir, max_turns=max_turns, agent=agent,
        approver=interactive_approver(), yes=yes, read_only=read_only,
    )
    session_id = choose_session(orchestrator, continue_last=continue_last, name=session, new=new)
    run_chat(orchestrator, session_id, stream=stream, verbose=verbose)
