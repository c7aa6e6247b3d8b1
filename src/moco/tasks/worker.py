"""``python -m moco.tasks.worker TASK_ID`` runs one task; ``--drain`` claims queued tasks, oldest
first, until none are left (several draining workers share a queue safely: claims are
atomic). Exit status 0 when the task (or, draining, every task it looked at) completed."""

from __future__ import annotations

import argparse
import sys

from moco.errors import MocoError


def drain() -> list[str]:
    """Run queued tasks until there are none; returns their final statuses (a task another
    worker claimed first is skipped)."""
    import asyncio

    return asyncio.run(_drain())


async def _drain() -> list[str]:
    """The tasks one after another on one loop, sharing provider clients."""
    from moco.providers.pool import ProviderPool
    from moco.tasks.runner import run_task_async
    from moco.tasks.store import TaskStore

    store = TaskStore.open()
    pool = ProviderPool()
    statuses: list[str] = []
    try:
        while (task_id := store.next_queued()) is not None:
            statuses.append(await run_task_async(task_id, provider_pool=pool))
    finally:
        store.db.close()
        await pool.aclose()
    return statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moco.tasks.worker",
                                     description="Run moco background tasks.")
    parser.add_argument("task_id", nargs="?", help="the task to run")
    parser.add_argument("--drain", action="store_true",
                        help="run queued tasks until none are left")
    args = parser.parse_args(argv)
    if bool(args.task_id) == args.drain:
        parser.error("give a task id or --drain")
    try:
        if args.drain:
            statuses = drain()
        else:
            from moco.tasks.runner import run_task

            statuses = [run_task(args.task_id)]
    except MocoError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0 if all(status == "completed" for status in statuses) else 1


if __name__ == "__main__":
    sys.exit(main())
