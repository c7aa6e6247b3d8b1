"""``moco memory add|list|search|show|forget|stats|export``.

The store is :class:`~moco.storage.semantic_memory.SemanticMemory` with the embedder
``resolve_embedder`` picks from the environment; with none (no key, or
``MOCO_EMBEDDING_MODEL=none``) every command still works, search by keyword.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from moco.storage.semantic_memory import MemoryHit, MemoryRecord, SemanticMemory

memory_app = typer.Typer(help="Add, search, list, export and forget long-term memories.",
                         no_args_is_help=True)

T = TypeVar("T")
ProfileOption = Annotated[str | None, typer.Option("--profile", "-p",
                                                   help="Only this profile's (and shared).")]
ProjectOption = Annotated[str | None, typer.Option(
    "--project", help="A project directory ('.' for this one); shared memories too.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
IdArgument = Annotated[int, typer.Argument(help="Memory id (see moco memory list).")]


def _with_memory(action: Callable[[SemanticMemory], Awaitable[T]]) -> T:
    """Open the store with the configured embedder, run ``action``, close both."""
    from moco.config import load_environment
    from moco.providers.embeddings import resolve_embedder
    from moco.storage.semantic_memory import SemanticMemory

    env = load_environment(Path.cwd())
    embedder = resolve_embedder(env)

    async def run() -> T:
        memory = SemanticMemory.open(env, embedder)
        try:
            result = await action(memory)
            if memory.last_error:
                typer.echo(f"warning: keyword search only — {memory.last_error}", err=True)
            return result
        finally:
            memory.close()
            if embedder is not None:
                await embedder.aclose()

    import asyncio  # here, not at import: moco --help stays fast

    return asyncio.run(run())


def _project(value: str | None) -> str | None:
    return None if value is None else str(Path(value).expanduser().resolve())


def _line(record: MemoryRecord) -> str:
    scope = ", ".join(part for part in (record.kind, record.profile and f"profile {record.profile}",
                                        record.project and f"project {record.project}",
                                        record.superseded_by and
                                        f"superseded by {record.superseded_by}") if part)
    return f"[{record.id}] {record.text}  ({scope})"


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@memory_app.command("add")
def add_memory(
    text: Annotated[str, typer.Argument(help="What to remember.")],
    kind: Annotated[str, typer.Option("--kind", "-k",
                                      help="fact, preference, procedure or note.")] = "fact",
    profile: Annotated[str | None, typer.Option(
        "--profile", "-p", help="Only for this profile (default: every profile).")] = None,
    project: Annotated[str | None, typer.Option(
        "--project", help="Only in this directory ('.' for this one; default: everywhere).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Remember TEXT."""
    from moco.errors import ConfigError
    from moco.storage.semantic_memory import KINDS

    if kind not in KINDS:
        raise ConfigError(f"unknown kind '{kind}' — choose one of: {', '.join(KINDS)}")
    if not text.strip():
        raise ConfigError("nothing to remember — give the text as an argument")
    record = _with_memory(lambda m: m.add(text, kind=kind, profile=profile,
                                          project=_project(project), source="user"))
    if json_output:
        _echo_json(record.to_dict())
    else:
        typer.echo(f"remembered {_line(record)}")


@memory_app.command("list")
def list_memories(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many (0: all).")] = 50,
    profile: ProfileOption = None,
    project: ProjectOption = None,
    history: Annotated[bool, typer.Option("--history",
                                          help="Include superseded memories.")] = False,
    json_output: JsonOption = False,
) -> None:
    """List memories, newest first."""
    async def action(memory: SemanticMemory) -> list[MemoryRecord]:
        return memory.list(limit=limit, profile=profile, project=_project(project),
                           include_superseded=history)

    records = _with_memory(action)
    if json_output:
        _echo_json([r.to_dict() for r in records])
    elif not records:
        typer.echo("no memories yet — add one with moco memory add TEXT")
    else:
        for record in records:
            typer.echo(_line(record))


@memory_app.command("search")
def search_memories(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", "--top", help="How many results.")] = 5,
    profile: ProfileOption = None,
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Search memories by meaning and by keyword."""
    async def action(memory: SemanticMemory) -> list[MemoryHit]:
        return await memory.search(query, k=k, profile=profile, project=_project(project))

    hits = _with_memory(action)
    if json_output:
        _echo_json([{**h.record.to_dict(), "score": h.score, "via": h.via,
                     "similarity": h.similarity, "bm25": h.bm25} for h in hits])
    elif not hits:
        typer.echo("no memory matches")
    else:
        for hit in hits:
            typer.echo(f"{hit.score:.4f} {hit.via:<7} {_line(hit.record)}")


@memory_app.command("show")
def show_memory(memory_id: IdArgument, json_output: JsonOption = False) -> None:
    """Show one memory with its provenance."""
    async def action(memory: SemanticMemory) -> MemoryRecord:
        return memory.require(memory_id)

    record = _with_memory(action)
    if json_output:
        _echo_json(record.to_dict())
        return
    for key, value in record.to_dict().items():
        if value not in (None, {}, ""):
            typer.echo(f"{key + ':':<15}{json.dumps(value) if key == 'metadata' else value}")


@memory_app.command("forget")
def forget(
    memory_id: Annotated[int | None, typer.Argument(help="Memory id to forget.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Forget every memory.")] = False,
    profile: Annotated[str | None, typer.Option(
        "--profile", "-p", help="With --all: only this profile's memories.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Forget one memory, or all of them: rows, keyword index and vectors."""
    from moco.errors import ConfigError

    if (memory_id is None) == (not everything):
        raise ConfigError("give a memory id or --all (not both)")
    if memory_id is not None:
        async def one(memory: SemanticMemory) -> str:
            record = memory.require(memory_id)
            memory.delete(memory_id)
            return record.text

        text = _with_memory(one)
        typer.echo(f"forgot [{memory_id}] {text}")
        return
    whose = f"of profile {profile}" if profile else "of every profile"
    if not yes and not typer.confirm(f"Forget all memories {whose}?"):
        raise typer.Exit(1)

    async def every(memory: SemanticMemory) -> int:
        return memory.forget_all(profile=profile)

    typer.echo(f"forgot {_with_memory(every)} memories")


@memory_app.command("stats")
def stats(json_output: JsonOption = False) -> None:
    """How many memories, of which kinds and profiles, and the index files."""
    async def action(memory: SemanticMemory) -> dict[str, Any]:
        return memory.stats()

    data = _with_memory(action)
    if json_output:
        _echo_json(data)
        return
    typer.echo(f"memories:   {data['memories']} ({data['superseded']} superseded kept as history)")
    for title, key in (("kinds", "by_kind"), ("profiles", "by_profile")):
        counts = ", ".join(f"{name} {count}" for name, count in sorted(data[key].items()))
        typer.echo(f"{title + ':':<12}{counts or '-'}")
    typer.echo(f"database:   {data['database']}")
    typer.echo(f"embedder:   {data['embedder'] or 'none (keyword search only)'}")
    for index in data["indexes"]:
        typer.echo(f"index:      {index['embedder']} {index['dimension']}d, "
                   f"{index['vectors']} vectors — {index['path']}")


@memory_app.command("export")
def export(
    fmt: Annotated[str, typer.Option("--format", "-f", help="json or md.")] = "json",
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="Write to this file.")] = None,
) -> None:
    """Export every memory (superseded ones too) as JSON or Markdown."""
    from moco.errors import ConfigError

    if fmt not in ("json", "md"):
        raise ConfigError(f"unknown export format '{fmt}' — use json or md")

    async def action(memory: SemanticMemory) -> list[MemoryRecord]:
        return memory.list(limit=0, include_superseded=True)

    records = list(reversed(_with_memory(action)))
    if fmt == "json":
        text = json.dumps([r.to_dict() for r in records], indent=2, ensure_ascii=False)
    else:
        text = "\n".join(["# Memories", "", *(f"- {_line(r)}" for r in records)])
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n")
        typer.echo(f"wrote {len(records)} memories to {output}", err=True)
