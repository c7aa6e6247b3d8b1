"""``moco trust [PATH]``: what a project brings that runs code or changes policy, and trusting
it at its current content (``--list`` only shows, ``--revoke`` forgets)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("trust")(trust_command)


def trust_command(
    path: Annotated[Path | None, typer.Argument(help="Project folder (default: current).")] = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="Show the items; trust nothing.")] = False,
    revoke: Annotated[bool, typer.Option("--revoke", help="Forget this project's trust.")] = False,
) -> None:
    """Trust what a project brings (.mcp.json, .moco/profiles, agents, skills, AGENTS.md)."""
    from moco.errors import ConfigError
    from moco.trust import check_project, revoke_project, trust_project
    from moco.trust.asking import describe

    directory = (path or Path.cwd()).expanduser().resolve()
    if not directory.is_dir():
        raise ConfigError(f"{directory} is not a folder")
    if list_only and revoke:
        raise ConfigError("--list and --revoke cannot be combined")
    if revoke:
        had = revoke_project(directory)
        typer.echo(f"{'revoked' if had else 'was not trusted'}: {directory}")
        return
    report = check_project(directory) if list_only else trust_project(directory)
    if not report.items:
        typer.echo(f"{directory} brings nothing that needs trust")
        return
    typer.echo(f"{directory}:")
    for line in describe(report):
        typer.echo(f"  {line}")
    if not list_only:
        typer.echo(f"trusted {len(report.items)} item(s); a change to any of them asks again")
