"""``moco tasks run|list|status|logs|cancel``: background tasks (see docs/tasks.md).

Command bodies parse arguments and call :mod:`moco.tasks`; nothing heavy is imported before a
command runs, so ``moco --help`` stays fast.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    OptimizerMethodOption,
    OptimizerOption,
    ProfileOption,
    ProviderOption,
    ReadOnlyOption,
    SandboxImageOption,
    SandboxOption,
    SessionOption,
    TrustProjectOption,
    WorkdirOption,
    YesOption,
)

if TYPE_CHECKING:
    from rich.table import Table

    from moco.tasks.store import TaskRecord, TaskStore

tasks_app = typer.Typer(help="Run tasks in the background; list, watch, follow and cancel them.",
                        no_args_is_help=True)

TaskArgument = Annotated[str, typer.Argument(help="Task id or an unambiguous id prefix.")]
#: what ``moco tasks logs`` shows without ``--all``
LOG_TAIL_BYTES = 10 * 1024
FOLLOW_POLL_S = 0.3


def _env() -> dict[str, str]:
    from moco.config import load_environment

    return load_environment(Path.cwd())


def _store() -> TaskStore:
    from moco.tasks.store import TaskStore

    return TaskStore.open(_env())


@tasks_app.command("run")
def run_task_command(
    task: Annotated[str, typer.Argument(help="What the agents should do.")],
    profile: ProfileOption = "default",
    provider: ProviderOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    working_dir: WorkdirOption = None,
    max_turns: MaxTurnsOption = 50,
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
) -> None:
    """Start a task in the background (options as for moco run); prints its id."""
    from moco.errors import ConfigError
    from moco.tasks.options import TaskOptions
    from moco.tasks.store import TaskStore
    from moco.tasks.submit import BROKER_VARIABLE, submit

    if not task.strip():
        raise ConfigError("the task is empty — say what the agents should do")
    if new and (continue_last or session):
        raise ConfigError("--new cannot be combined with --continue or --session")
    options = TaskOptions(
        profile=profile, provider=provider, model=model, base_url=base_url,
        working_dir=str(working_dir) if working_dir else None, yes=yes, read_only=read_only,
        allow_outside=allow_outside, no_network=no_network, sandbox=sandbox,
        sandbox_image=sandbox_image, max_turns=max_turns, agent=agent, session=session,
        continue_last=continue_last, trust_project=trust_project, optimizer=optimizer,
        optimizer_method=optimizer_method,
    ).resolved()
    env = _env()
    store = TaskStore.open(env)
    record = store.create(task, options.to_dict(),
                          backend="celery" if env.get(BROKER_VARIABLE) else "local")
    try:
        submit(record, env)
    except ConfigError as error:
        store.finish(record.id, "failed", str(error))
        raise
    typer.echo(record.id)
    typer.echo(f"follow it with: moco tasks logs {record.id} -f", err=True)


@tasks_app.command("list")
def list_tasks(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many to show.")] = 30,
    status: Annotated[str | None, typer.Option("--status", help="Only tasks in this status.")
                      ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List tasks, most recent first: status, age, profile, tokens."""
    import json

    records = _store().list(limit=limit, status=status)
    if json_output:
        typer.echo(json.dumps([r.to_dict() for r in records], indent=2, ensure_ascii=False))
        return
    if not records:
        typer.echo("no tasks yet — start one with moco tasks run \"...\"")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("id", "status", "age", "profile", "tokens", "task"):
        table.add_column(column, overflow="ellipsis", no_wrap=column == "task")
    for r in records:
        table.add_row(r.id, r.status, _age(r.created_at), _profile(r), _tokens(r),
                      " ".join(r.task.split())[:60])
    Console().print(table)


@tasks_app.command("status")
def status_command(
    once: Annotated[bool, typer.Option("--once", help="Print one frame and return.")] = False,
) -> None:
    """A live dashboard of the tasks (refreshes every second; Ctrl-C leaves it)."""
    import sys

    store = _store()
    if once or not sys.stdout.isatty():
        typer.echo(_dashboard_text(store))
        return
    from rich.live import Live

    try:
        with Live(_dashboard_table(store), refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(1.0)
                live.update(_dashboard_table(store))
    except KeyboardInterrupt:
        return


@tasks_app.command("logs")
def logs_command(
    task_id: TaskArgument,
    show_all: Annotated[bool, typer.Option("--all", "-a", help="Everything, not the last "
                                                                "10 KB.")] = False,
    follow: Annotated[bool, typer.Option("--follow", "-f",
                                         help="Keep printing until the task ends.")] = False,
) -> None:
    """Show what a task did: its answer, tool calls, errors and status."""
    from moco.tasks.render import LogRenderer, tail

    store = _store()
    record = store.get(task_id)
    renderer = LogRenderer()
    events = store.events(record.id)
    if not events and record.status == "queued":
        typer.echo(f"task {record.id} is queued: no worker has started it yet", err=True)
    text = renderer.render(e.data for e in events)
    typer.echo(text if show_all else tail(text, LOG_TAIL_BYTES), nl=False)
    seq = events[-1].seq if events else 0
    while follow and not record.finished:
        time.sleep(FOLLOW_POLL_S)
        record = store.get(record.id)  # after mark_dead: a dead worker ends the follow
        for event in store.events(record.id, after_seq=seq):
            typer.echo(renderer.feed(event.data), nl=False)
            seq = event.seq
    _worker_output(record)


@tasks_app.command("cancel")
def cancel_command(
    task_id: TaskArgument,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for it to stop.")
                    ] = 10.0,
) -> None:
    """Cancel a task: a queued one never starts, a running one is stopped."""
    store = _store()
    before = store.get(task_id)
    if before.finished:
        typer.echo(f"task {before.id} already ended: {before.status}")
        return
    record = store.request_cancel(before.id)
    if record.status == "cancelled" and before.status == "queued":
        typer.echo(f"cancelled task {record.id} (it had not started)")
        return
    deadline = time.monotonic() + wait
    while not record.finished and time.monotonic() < deadline:
        time.sleep(0.2)
        record = store.get(record.id)
    if not record.finished:
        typer.echo(f"asked task {record.id} to stop; its worker has not stopped it yet — "
                   "moco tasks list shows when it does")
        return
    typer.echo(f"task {record.id}: {record.status}")
    if record.session_id:
        typer.echo(f"its session keeps what was said; continue it with: "
                   f"moco run -s {record.session_id} \"...\"")


def _worker_output(record: TaskRecord) -> None:
    """What the local worker process printed itself (a crash), when it printed anything."""
    from moco.tasks.submit import worker_log

    path = worker_log(record.id, _env())
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return
    if text:
        typer.echo(f"\n[worker output, {path}]\n{text[-4000:]}", err=True)


# -- formatting --------------------------------------------------------------------------------
def _seconds_since(stamp: str | None) -> float:
    from datetime import UTC, datetime

    if not stamp:
        return 0.0
    return max((datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds(), 0.0)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    if seconds < 86400:
        return f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"
    return f"{seconds // 86400:.0f}d"


def _age(stamp: str | None) -> str:
    return _duration(_seconds_since(stamp))


def _profile(record: TaskRecord) -> str:
    return Path(str(record.options.get("profile") or "default")).name


def _tokens(record: TaskRecord) -> str:
    return f"{record.input_tokens}/{record.output_tokens}"


def _elapsed(record: TaskRecord) -> str:
    if record.started_at is None:
        return "-"
    if record.finished_at is None:
        return _duration(_seconds_since(record.started_at))
    return _duration(_seconds_since(record.started_at) - _seconds_since(record.finished_at))


DASHBOARD_COLUMNS = ("id", "status", "elapsed", "tokens", "agent", "tool", "task")


def _dashboard_rows(store: TaskStore) -> tuple[list[tuple[str, ...]], str]:
    """Rows for running tasks (their current agent and tool), then queued ones, then the
    latest few that ended; and a one-line summary."""
    from moco.tasks.render import activity

    running = store.list(limit=100, status="running")  # list() marks dead workers first
    queued = store.list(limit=10, status="queued")
    ended = [r for r in store.list(limit=5 + len(running) + len(queued)) if r.finished][:5]
    waiting = store.count("queued")
    rows: list[tuple[str, ...]] = []
    for r in running:
        recent = store.events(r.id, after_seq=max(store.last_seq(r.id) - 300, 0))
        agent, tool = activity(e.data for e in recent)
        rows.append((r.id, r.status, _elapsed(r), _tokens(r), agent, tool, _short(r.task)))
    for r in [*queued, *ended]:
        rows.append((r.id, r.status, _elapsed(r), _tokens(r), "", "", _short(r.task)))
    summary = f"{len(running)} running · {waiting} queued · {len(ended)} recently ended"
    return rows, summary


def _short(task: str) -> str:
    return " ".join(task.split())[:50]


def _dashboard_text(store: TaskStore) -> str:
    rows, summary = _dashboard_rows(store)
    if not rows:
        return "no tasks yet — start one with moco tasks run \"...\""
    table = [DASHBOARD_COLUMNS, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(DASHBOARD_COLUMNS))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
             for row in table]
    return "\n".join([summary, *lines])


def _dashboard_table(store: TaskStore) -> Table:
    from rich.table import Table

    rows, summary = _dashboard_rows(store)
    table = Table(title=f"moco tasks — {summary}", box=None, pad_edge=False,
                  title_justify="left")
    for column in DASHBOARD_COLUMNS:  # ids, statuses and numbers are never cut
        fixed = column not in ("agent", "tool", "task")
        width = max([len(column), *(len(row[DASHBOARD_COLUMNS.index(column)]) for row in rows)])
        table.add_column(column, overflow="ellipsis", no_wrap=True,
                         min_width=width if fixed else None)
    for row in rows:
        table.add_row(*row)
    return table
