"""``moco chat``: an interactive session, the way people use Claude Code or OpenCode."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from moco.cli.options import (
    AgentOption,
    AllowOutsideOption,
    BaseUrlOption,
    ContinueOption,
    MaxTurnsOption,
    ModelOption,
    NewOption,
    NoNetworkOption,
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
from moco.cli.run import choose_session


def register(app: typer.Typer) -> None:
    app.command("chat")(chat_command)


def chat_command(
    profile: ProfileOption = "default",
    provider: ProviderOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    working_dir: WorkdirOption = None,
    stream: StreamOption = True,
    max_turns: MaxTurnsOption = 50,
    verbose: VerboseOption = False,
    agent: AgentOption = None,
    continue_last: ContinueOption = False,
    session: SessionOption = None,
    new: NewOption = False,
    yes: YesOption = False,
    read_only: ReadOnlyOption = False,
    allow_outside: AllowOutsideOption = False,
    no_network: NoNetworkOption = False,
    sandbox: SandboxOption = False,
    sandbox_image: SandboxImageOption = None,
    trust_project: TrustProjectOption = False,
) -> None:
    """Chat with a profile's agents: one session, slash commands (/help), Ctrl-C stops a turn."""
    from moco.chat.repl import run_chat
    from moco.core.orchestrator import Orchestrator
    from moco.ui.approval import interactive_approver

    if not trust_project and sys.stdin.isatty():  # asked once; the answer is remembered
        from moco.trust.asking import ask_once

        ask_once((working_dir or Path.cwd()).expanduser().resolve(), None, input)
    orchestrator = Orchestrator(
        profile=profile, provider=provider, model=model, base_url=base_url,
        working_dir=working_dir, max_turns=max_turns, agent=agent,
        approver=interactive_approver(), yes=yes, read_only=read_only,
        allow_outside=allow_outside, network=False if no_network else None,
        sandbox="docker" if sandbox or sandbox_image else None, sandbox_image=sandbox_image,
        trust_project=trust_project or None,
    )
    session_id = choose_session(orchestrator, continue_last=continue_last, name=session, new=new)
    run_chat(orchestrator, session_id, stream=stream, verbose=verbose)
