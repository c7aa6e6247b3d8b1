"""Background tasks on Celery workers over a real redis-server, against the scripted OpenAI
server: how soon a queued task reaches the model, and how many tasks W workers run per second
(bench/tasks.py measures the same for local workers, and shares its helpers).

    python bench/tasks_celery.py [--tasks 100] [--starts 5] [--workers 1 2]

A redis-server on a free port (``MOCO_REDIS_SERVER`` or ``redis-server`` on PATH) and
``moco worker -c 1`` × W, started and ready before the clock starts, as a deployment's
workers are. Start latency (one worker): ``moco tasks run "..."`` with ``MOCO_TASK_BROKER``
set, as a subprocess, then the time from its return to the first model request — negative
when the warm worker asks the model before the ``moco tasks run`` process has exited.
Throughput: after 2 × W warm-up tasks (a pool process imports the SDKs at its first task),
``--tasks`` tasks queued through ``submit`` (create + enqueue), until all are ``completed``.
The server, this script, Redis and the workers share the machine's cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from moco.tasks.options import TaskOptions
from moco.tasks.store import TaskStore
from moco.tasks.submit import submit
from moco.testing import ScriptedOpenAIServer
from moco.testing.celery_worker import CeleryWorker
from moco.testing.redis_server import RedisServer, find_redis_server
from tasks import Clock, environment, wait_done


def start_latency(root: Path, env: dict[str, str], clock: Clock, store: TaskStore,
                  starts: int) -> None:
    gaps, returns = [], []
    for n in range(starts):
        begun = time.perf_counter()
        subprocess.run([sys.executable, "-m", "moco", "tasks", "run", f"start {n}",
                        "-w", str(root)], env=env, check=True, capture_output=True)
        returned = time.perf_counter()
        returns.append(returned - begun)
        while len(clock.arrivals) <= n:
            time.sleep(0.001)
        gaps.append(clock.arrivals[n] - returned)
        wait_done(store, n + 1)
    print(f"moco tasks run (queues on Redis) returns after: median "
          f"{statistics.median(returns) * 1e3:.0f} ms (min {min(returns) * 1e3:.0f}, max "
          f"{max(returns) * 1e3:.0f})")
    print(f"first model request after moco tasks run returns: median "
          f"{statistics.median(gaps) * 1e3:.0f} ms (min {min(gaps) * 1e3:.0f}, max "
          f"{max(gaps) * 1e3:.0f}; {starts} tasks, the first one a cold pool process)")


def throughput(root: Path, broker: str, workers: int, tasks: int, starts: int) -> None:
    clock = Clock()
    with ScriptedOpenAIServer(clock) as server, ExitStack() as stack:
        env = {**environment(root / f"celery-{workers}", server), "MOCO_TASK_BROKER": broker}
        for _ in range(workers):
            stack.enter_context(CeleryWorker(env, concurrency=1))
        store = TaskStore.open(env)
        if starts:
            start_latency(root, env, clock, store, starts)
        options = TaskOptions(working_dir=str(root)).to_dict()
        warm = starts + 2 * workers
        for n in range(starts, warm):
            submit(store.create(f"warm up {n}", options, backend="celery"), env)
        wait_done(store, warm)
        begun = time.perf_counter()
        for n in range(tasks):
            submit(store.create(f"say done {n}", options, backend="celery"), env)
        queued = time.perf_counter() - begun
        wait_done(store, warm + tasks)
        elapsed = time.perf_counter() - begun
        rows = store.db.query("SELECT COUNT(*) AS n FROM tasks WHERE task LIKE 'say done %'"
                              " GROUP BY worker")
        store.db.close()
    print(f"{tasks} tasks, {workers} worker(s): {elapsed:6.2f} s  {tasks / elapsed:6.1f} "
          f"tasks/s (queued in {queued:.2f} s; tasks per worker: "
          f"{', '.join(str(row['n']) for row in rows)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    if find_redis_server() is None:
        raise SystemExit("redis-server not found: apt-get install redis-server")
    with tempfile.TemporaryDirectory() as folder, RedisServer() as redis:
        print(f"cores: {os.cpu_count()}")
        for db, workers in enumerate(args.workers):
            broker = redis.url.rsplit("/", 1)[0] + f"/{db}"
            throughput(Path(folder), broker, workers, args.tasks, args.starts if db == 0 else 0)


if __name__ == "__main__":
    main()
