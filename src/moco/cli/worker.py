"""``moco worker``: a Celery worker that runs background tasks queued on ``MOCO_TASK_BROKER``."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_command)


def worker_command(
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", "-c",
        help="Tasks run at once, each in its own process (default: the number of CPUs).")
    ] = None,
    queue: Annotated[list[str] | None, typer.Option(
        "--queue", "-Q", help="Queue to take tasks from (repeatable; default: moco).")
    ] = None,
    loglevel: Annotated[str, typer.Option(
        "--loglevel", "-l", help="DEBUG, INFO, WARNING, ERROR or CRITICAL.")] = "INFO",
) -> None:
    """Run background tasks from MOCO_TASK_BROKER (redis://...) until stopped (Ctrl-C).

    Start as many workers, on as many machines, as the work needs: they share the queue and
    the task store. Keys come from this worker's environment; a task ends as `interrupted`
    when its worker dies (MOCO_TASK_RETRIES runs it again).
    """
    from moco.config import load_environment
    from moco.tasks.celery_app import start_worker

    start_worker(load_environment(), concurrency=concurrency, queues=queue or (),
                 loglevel=loglevel)
