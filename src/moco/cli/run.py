"""``moco run "task"``: one task, rendered live, exit status from the run's outcome."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
) -> None:
    """Run one task with a profile's agents and print the answer."""
    import asyncio

    from moco.core.orchestrator import Orchestrator
    from moco.ui.console import ConsoleRenderer, JsonRenderer

    orchestrator = Orchestrator(
        profile=profile, provider=provider, model=model, base_url=base_url,
        working_dir=working_dir, max_turns=max_turns, agent=agent,
    )
    renderer: ConsoleRenderer | JsonRenderer
    if json_output:
        renderer = JsonRenderer()
    else:
        renderer = ConsoleRenderer(stream=stream, verbose=verbose,
                                   root_agent=orchestrator.agent_name)

    async def consume() -> str:
        status = "error"
        async for event in orchestrator.events(task):
            renderer.handle(event)
            if event.type == "run_finished" and " > " not in event.agent:
                status = str(getattr(event, "status", "error"))
            if json_output and event.type == "error":
                typer.echo(f"error: {getattr(event, 'message', '')}", err=True)
        return status

    status = asyncio.run(consume())
    if status != "completed":
        raise typer.Exit(1)
