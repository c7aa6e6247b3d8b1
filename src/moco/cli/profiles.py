"""``moco list-profiles``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("list-profiles")(list_profiles_command)


def list_profiles_command(
    working_dir: Annotated[
        Path | None, typer.Option("--working-dir", "-w", help="Project folder.")
    ] = None,
) -> None:
    """List the profiles moco can find: name, agents, description, where it was found."""
    from rich.console import Console
    from rich.table import Table

    from moco.config import load_environment
    from moco.profiles import list_profiles

    env = load_environment(working_dir)
    table = Table(box=None, pad_edge=False)
    for column in ("name", "agents", "description", "location"):
        table.add_column(column)
    problems: list[str] = []
    for info in list_profiles(working_dir=working_dir, env=env):
        description = info.description if info.error is None else f"[red]{info.error}[/red]"
        table.add_row(info.name, str(info.agent_count), description,
                      f"{info.source}: {info.location}")
        problems += [f"warning: profile '{info.name}': {line}" for line in info.problems]
    Console().print(table)
    for line in problems:  # what each profile drops: unknown tools, invalid skills
        typer.echo(line, err=True)
