"""Local background tasks against the scripted OpenAI server: how soon a task starts, and how
many tasks a local worker runs per second.

    python bench/tasks.py [--tasks 100] [--starts 5] [--workers 1 2]

Start latency: ``moco tasks run "..."`` as a subprocess (what a user types), then the time
from its return to the first model request at the scripted server — the detached worker's
start-up (Python, moco, the openai SDK), the claim, the orchestrator and the request.
Throughput: ``--tasks`` tasks queued in the store at once (one short answer each, as
``moco tasks run`` would queue them), then ``python -m moco.tasks.worker --drain`` × W until
all are ``completed``; tasks per second over the wall time (the workers' start-up included)
and from the first claim to the last finish, for each W. Every task is a real
run: claim, orchestrator, session, heartbeat, events into ``task_events``, finish. The
server, this script and the workers share the machine's cores; the workers' CPU time (user +
system, start-up included) is printed too, since on few cores it bounds the throughput.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from moco.tasks.options import TaskOptions
from moco.tasks.store import TaskStore
from moco.testing import RecordedRequest, Reply, ScriptedOpenAIServer


class Clock:
    """A script that answers every request and remembers when each one arrived."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        with self.lock:
            self.arrivals.append(time.perf_counter())
        return Reply.say("done.")


def environment(home: Path, server: ScriptedOpenAIServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.pop("MOCO_TASK_BROKER", None)
    env.update(MOCO_HOME=str(home), OPENAI_API_KEY="sk-bench",
               OPENAI_BASE_URL=server.base_url, MOCO_MEMORY="off")
    return env


def wait_done(store: TaskStore, count: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rows = store.db.query("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status")
        counts = {row["status"]: row["n"] for row in rows}
        if sum(n for s, n in counts.items() if s not in ("queued", "running")) >= count:
            if counts.get("completed", 0) < count:
                raise SystemExit(f"not every task completed: {counts}")
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {counts}")
        time.sleep(0.02)


def start_latency(root: Path, starts: int) -> None:
    clock = Clock()
    with ScriptedOpenAIServer(clock) as server:
        env = environment(root / "latency", server)
        store = TaskStore.open(env)
        returns, gaps = [], []
        for n in range(starts):
            begun = time.perf_counter()
            subprocess.run([sys.executable, "-m", "moco", "tasks", "run", f"say done {n}",
                            "-w", str(root)], env=env, check=True, capture_output=True)
            returned = time.perf_counter()
            returns.append(returned - begun)
            while len(clock.arrivals) <= n:
                time.sleep(0.001)
            gaps.append(clock.arrivals[n] - returned)
            wait_done(store, n + 1)
        store.db.close()
    print(f"moco tasks run returns after         median {statistics.median(returns) * 1e3:6.0f} ms"
          f"  (min {min(returns) * 1e3:.0f}, max {max(returns) * 1e3:.0f})")
    print(f"first model request after it returns median {statistics.median(gaps) * 1e3:6.0f} ms"
          f"  (min {min(gaps) * 1e3:.0f}, max {max(gaps) * 1e3:.0f}; {starts} tasks)")


def throughput(root: Path, tasks: int, workers: int) -> float:
    clock = Clock()
    with ScriptedOpenAIServer(clock) as server:
        env = environment(root / f"drain-{workers}", server)
        store = TaskStore.open(env)
        options = TaskOptions(working_dir=str(root)).to_dict()
        for n in range(tasks):
            store.create(f"say done {n}", options)
        cpu_before = _children_cpu()
        begun = time.perf_counter()
        processes = [subprocess.Popen([sys.executable, "-m", "moco.tasks.worker", "--drain"],
                                      env=env, stdin=subprocess.DEVNULL)
                     for _ in range(workers)]
        wait_done(store, tasks)
        elapsed = time.perf_counter() - begun
        for process in processes:
            process.wait(timeout=60)
        cpu = _children_cpu() - cpu_before
        per_worker = store.db.query("SELECT worker, COUNT(*) AS n FROM tasks GROUP BY worker")
        span = store.db.query_one("SELECT MIN(started_at) AS a, MAX(finished_at) AS b FROM tasks")
        store.db.close()
    assert span is not None
    steady = (datetime.fromisoformat(span["b"]) - datetime.fromisoformat(span["a"])).total_seconds()
    split = ", ".join(str(row["n"]) for row in per_worker)
    print(f"{tasks} tasks, {workers} worker(s): {elapsed:6.2f} s  {tasks / elapsed:6.1f} tasks/s"
          f" wall; first claim to last finish {steady:5.2f} s  {tasks / steady:6.1f} tasks/s"
          f"  (tasks per worker: {split}; worker CPU {cpu:.2f} s, {cpu / tasks * 1e3:.0f} ms"
          " per task)")
    return tasks / elapsed


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        print(f"cores: {os.cpu_count()}")
        start_latency(root, args.starts)
        for workers in args.workers:
            throughput(root, args.tasks, workers)


if __name__ == "__main__":
    main()
