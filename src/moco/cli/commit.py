"""``moco commit``: the model proposes a commit message from the staged diff; the person
accepts it, edits it (``$VISUAL``/``$EDITOR``, or typed inline) or cancels.

The staging, the secret check and the message are those of the ``git_commit`` tool
(:mod:`moco.tools.git`); the provider and model are chosen like ``moco run``'s.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from moco.cli.options import BaseUrlOption, ModelOption, ProviderOption, WorkdirOption

if TYPE_CHECKING:
    from moco.config import ProviderSettings
    from moco.tools.context import ToolContext
    from moco.tools.git import StagedChanges

COMMENT = "# Lines starting with # are ignored; an empty message cancels the commit."


def register(app: typer.Typer) -> None:
    app.command("commit")(commit_command)


def commit_command(
    all_changes: Annotated[
        bool, typer.Option("--all", "-a", help="Stage every change to tracked files first.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Commit with the proposed message, no questions.")
    ] = False,
    provider: ProviderOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    working_dir: WorkdirOption = None,
) -> None:
    """Commit the staged changes with a message the model writes from their diff."""
    import asyncio

    from moco.config import load_environment, resolve_provider
    from moco.tools.context import ToolContext
    from moco.tools.git import NothingStaged, commit_staged, restore_index

    folder = Path(working_dir or os.getcwd()).expanduser().resolve()
    settings = resolve_provider(provider, model=model, base_url=base_url,
                                env=load_environment(folder))  # a missing key: one line
    ctx = ToolContext(working_dir=folder)
    try:
        changes, message, before = asyncio.run(propose(ctx, settings, tracked=all_changes))
    except NothingStaged:
        typer.echo("nothing is staged — stage changes with git add, or use --all", err=True)
        raise typer.Exit(1) from None
    typer.echo(changes.stat)
    final = message if yes else review(message)
    if final is None:
        if all_changes:
            asyncio.run(restore_index(ctx, before))
        typer.echo("cancelled — nothing was committed", err=True)
        raise typer.Exit(1)
    typer.echo(asyncio.run(commit_staged(ctx, final)))


async def propose(ctx: ToolContext, settings: ProviderSettings,
                  tracked: bool) -> tuple[StagedChanges, str, str | None]:
    """Stage and check (:func:`~moco.tools.git.prepare_commit`), then ask the model."""
    from moco.messages import Message
    from moco.providers.base import ModelRequest
    from moco.providers.registry import create_provider
    from moco.tools.git import prepare_commit, restore_index, write_message

    changes, before = await prepare_commit(ctx, tracked=tracked)
    client = create_provider(settings.adapter, name=settings.name, api_key=settings.api_key,
                             base_url=settings.base_url, key_var=settings.key_var)

    async def complete(system: str, prompt: str) -> str:
        request = ModelRequest(model=settings.model, system=system, max_tokens=1000,
                               messages=[Message.user(prompt)])
        return (await client.complete(request)).message.text

    try:
        message = await write_message(complete, changes)
    except BaseException:
        if tracked:
            await restore_index(ctx, before)
        raise
    finally:
        await client.aclose()
    return changes, message, before


def review(message: str) -> str | None:
    """Show ``message`` and ask until it is accepted (returned) or cancelled (``None``)."""
    while True:
        typer.echo(f"\nProposed commit message:\n\n{_indent(message)}\n")
        typer.echo("[a]ccept, [e]dit or [c]ancel? ", nl=False)
        answer = sys.stdin.readline()
        choice = answer.strip().lower()[:1]
        if not answer or choice in ("c", "n", "q"):
            return None
        if choice in ("a", "y", ""):
            return message
        if choice == "e":
            edited = edit(message)
            if not edited:
                return None
            message = edited
        else:
            typer.echo("answer a, e or c")


def edit(message: str) -> str:
    """The message after the person edited it: in ``$VISUAL``/``$EDITOR`` when one is set,
    else typed inline (ending with a line holding only ``.``, or the end of input)."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if editor:
        return _edit_in(editor, message)
    typer.echo("Type the new message; end it with a line holding only '.':")
    lines: list[str] = []
    for line in iter(sys.stdin.readline, ""):
        if line.rstrip("\r\n") == ".":
            break
        lines.append(line.rstrip("\r\n"))
    return "\n".join(lines).strip()


def _edit_in(editor: str, message: str) -> str:
    import shlex
    import subprocess
    import tempfile

    from moco.errors import ConfigError

    with tempfile.TemporaryDirectory(prefix="moco-commit-") as folder:
        path = Path(folder) / "COMMIT_EDITMSG"
        path.write_text(f"{message}\n\n{COMMENT}\n", encoding="utf-8")
        try:
            done = subprocess.run([*shlex.split(editor), str(path)], check=False)
        except OSError as error:
            raise ConfigError(f"cannot start the editor {editor!r}: {error}") from None
        if done.returncode != 0:
            return ""
        text = path.read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if not line.startswith("#")]
    return "\n".join(kept).strip()


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" if line else "" for line in text.splitlines())
