"""``moco checkpoints list|save|restore|delete``: rewind a session and the files its agents
changed.

Only changes made by the file tools (write_file, edit_file) are tracked; what shell commands
did is not undone. ``--session`` defaults to the latest session of the current folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from moco.core.checkpoint import CheckpointManager, RestoreResult
    from moco.storage.session_logger import SessionRecord

checkpoints_app = typer.Typer(
    help="Save and restore checkpoints of a session (conversation and changed files).",
    no_args_is_help=True,
)

SessionOption = Annotated[
    str | None,
    typer.Option("--session", "-s",
                 help="Session id, id prefix or name (default: this folder's latest)."),
]
NameArgument = Annotated[str, typer.Argument(help="Checkpoint name.")]


def _manager(session: str | None) -> tuple[CheckpointManager, SessionRecord]:
    from moco.config import load_environment
    from moco.core.checkpoint import CheckpointManager
    from moco.errors import ConfigError
    from moco.storage.session_logger import SessionLogger

    logger = SessionLogger.open(env=load_environment(Path.cwd()))
    if session is not None:
        record = logger.require_session(session)
    else:
        found = logger.latest_session(Path.cwd())
        if found is None:
            raise ConfigError(
                "this folder has no session yet — pass --session, or start one with moco chat"
            )
        record = found
    return CheckpointManager(logger, record.id), record


@checkpoints_app.command("list")
def list_checkpoints(
    session: SessionOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List a session's checkpoints, oldest first."""
    manager, record = _manager(session)
    checkpoints = manager.list()
    if json_output:
        typer.echo(json.dumps([cp.to_dict() for cp in checkpoints], indent=2,
                              ensure_ascii=False))
        return
    if not checkpoints:
        typer.echo(f"session {record.label} has no checkpoints — save one with "
                   "moco checkpoints save")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, title=f"checkpoints of {record.label}")
    for column in ("name", "messages", "files", "todos", "model", "created"):
        table.add_column(column)
    for cp in checkpoints:
        todos = "-" if cp.todos is None else str(len(cp.todos))
        table.add_row(cp.name, str(cp.seq), str(len(cp.manifest)), todos, cp.model or "",
                      cp.created_at[:19].replace("T", " "))
    Console().print(table)


@checkpoints_app.command("save")
def save_checkpoint(
    name: Annotated[
        str | None, typer.Argument(help="Checkpoint name (default: cp-1, cp-2 ...).")
    ] = None,
    session: SessionOption = None,
) -> None:
    """Save a checkpoint of a session: its messages so far and the files its agents changed."""
    manager, record = _manager(session)
    checkpoint = manager.save(name)
    typer.echo(f"saved checkpoint {checkpoint.name} of {record.label} "
               f"({checkpoint.seq} messages, {len(checkpoint.manifest)} tracked files)")


@checkpoints_app.command("restore")
def restore_checkpoint(
    name: NameArgument,
    session: SessionOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Rewind a session to a checkpoint: later messages and checkpoints are dropped and the
    files its agents wrote or edited go back to their content then (new files are deleted).
    What shell commands changed is not undone."""
    manager, record = _manager(session)
    plan = manager.preview(name)
    if not plan.changes_anything and not plan.skipped:
        typer.echo(f"{record.label} is already as at checkpoint {name}; nothing to change")
        return
    typer.echo(f"restoring checkpoint {plan.checkpoint.name} of {record.label}:")
    typer.echo("\n".join(describe(plan)))
    if not yes and not typer.confirm("Restore?"):
        raise typer.Exit(1)
    result = manager.restore(name)
    typer.echo(f"restored {result.checkpoint.name}: {len(result.restored)} file(s) restored, "
               f"{len(result.removed)} deleted, {result.messages_dropped} message(s) dropped")
    for path, reason in result.skipped:
        if (path, reason) not in plan.skipped:
            typer.echo(f"  not restored: {path} {reason}", err=True)


@checkpoints_app.command("delete")
def delete_checkpoint(name: NameArgument, session: SessionOption = None) -> None:
    """Delete a checkpoint (messages and files are left as they are)."""
    manager, record = _manager(session)
    if not manager.delete(name):
        manager.require(name)  # raises with the names that exist
    typer.echo(f"deleted checkpoint {name} of {record.label}")


def describe(plan: RestoreResult) -> list[str]:
    """The lines telling a person what a restore changes (or changed)."""
    from moco.core.checkpoint import relative_paths

    root = plan.checkpoint.working_dir
    lines = [f"  restore  {p}" for p in relative_paths(plan.restored, root)]
    lines += [f"  delete   {p}" for p in relative_paths(plan.removed, root)]
    skipped = relative_paths((path for path, _ in plan.skipped), root)
    lines += [f"  keep     {p} ({reason})"
              for p, (_, reason) in zip(skipped, plan.skipped, strict=True)]
    if plan.messages_dropped:
        lines.append(f"  drop     {plan.messages_dropped} message(s) after the checkpoint")
    if plan.checkpoints_dropped:
        lines.append(f"  drop     later checkpoint(s): {', '.join(plan.checkpoints_dropped)}")
    if not (plan.restored or plan.removed):
        lines.append("  (no file changes)")
    return lines
