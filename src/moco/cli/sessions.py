"""``moco sessions list|show|delete|export``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from moco.storage.session_logger import SessionLogger

sessions_app = typer.Typer(help="List, show, export and delete saved sessions.",
                           no_args_is_help=True)

SessionArgument = Annotated[str, typer.Argument(help="Session id, id prefix or name.")]


def _logger() -> SessionLogger:
    from moco.config import load_environment
    from moco.storage.session_logger import SessionLogger

    return SessionLogger.open(env=load_environment(Path.cwd()))


@sessions_app.command("list")
def list_sessions(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many to show.")] = 30,
    here: Annotated[bool, typer.Option("--here", help="Only this folder's sessions.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    search: Annotated[str | None, typer.Option(
        "--search", "-q", help="Only sessions whose name, title or messages hold these words.")
    ] = None,
) -> None:
    """List sessions, most recent first."""
    logger = _logger()
    if search:
        from moco.storage.session_search import search_sessions

        records = search_sessions(logger, search, limit)
        if here:
            records = [r for r in records if r.working_dir == str(Path.cwd().resolve())]
    else:
        records = logger.list_sessions(limit=limit, working_dir=Path.cwd() if here else None)
    if json_output:
        typer.echo(json.dumps([r.to_dict() for r in records], indent=2, ensure_ascii=False))
        return
    if not records:
        typer.echo(f"no session matches '{search}'" if search
                   else "no sessions yet — start one with moco run or moco chat")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("id", "name", "title", "messages", "profile", "model", "updated"):
        table.add_column(column, overflow="fold" if column == "title" else "ellipsis")
    for r in records:
        table.add_row(r.id, r.name or "", (r.title or "")[:50], str(r.message_count),
                      r.profile or "", r.model or "", r.updated_at[:16].replace("T", " "))
    Console().print(table)


@sessions_app.command("show")
def show_session(session: SessionArgument) -> None:
    """Print a session's transcript."""
    logger = _logger()
    typer.echo(logger.export_session(session, "md"))


@sessions_app.command("export")
def export_session(
    session: SessionArgument,
    fmt: Annotated[str, typer.Option("--format", "-f", help="md or json.")] = "md",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
) -> None:
    """Export a session as Markdown or JSON."""
    logger = _logger()
    text = logger.export_session(session, fmt)  # type: ignore[arg-type]
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text)
        typer.echo(f"wrote {output}", err=True)


@sessions_app.command("delete")
def delete_session(
    session: SessionArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a session and its messages."""
    logger = _logger()
    record = logger.require_session(session)
    if not yes and not typer.confirm(f"Delete session {record.label}?"):
        raise typer.Exit(1)
    logger.delete_session(record.id)
    typer.echo(f"deleted {record.label}")
