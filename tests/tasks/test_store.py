"""The task store on a real SQLite file and a real PostgreSQL: claims, heartbeats, cancels,
dead workers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from moco.errors import ConfigError
from moco.storage.owner import current_owner
from moco.tasks.store import TaskNotFound, TaskStore

#: every test on the SQLite file and on a PostgreSQL store (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("db_backend")


@pytest.fixture
def store(db_backend: str) -> TaskStore:
    return TaskStore.open()


def dead_owner() -> str:
    """The owner string of a process that has exited."""
    child = subprocess.run(
        [sys.executable, "-c", "from moco.storage.owner import current_owner;"
                               "print(current_owner())"],
        capture_output=True, text=True, check=True)
    return child.stdout.strip()


def test_a_task_is_claimed_once(store: TaskStore) -> None:
    record = store.create("say hi", {"profile": "default"})
    assert record.status == "queued" and len(record.id) == 12 and record.backend == "local"
    assert store.claim(record.id, "host:1:1")
    assert not store.claim(record.id, "host:2:2")
    running = store.get(record.id[:6])
    assert running.status == "running" and running.worker == "host:1:1"
    assert running.started_at is not None and running.heartbeat_at is not None
    assert running.options == {"profile": "default"}


def test_prefixes_must_be_unambiguous(store: TaskStore) -> None:
    ids = {store.create(f"task {n}").id for n in range(40)}
    first = sorted(ids)[0]
    assert store.get(first).id == first
    shared = next((a[:1] for a in ids for b in ids if a != b and a[0] == b[0]), None)
    assert shared is not None
    with pytest.raises(TaskNotFound, match="matches several tasks"):
        store.get(shared)
    with pytest.raises(TaskNotFound, match="no task 'zz'"):
        store.get("zz")
    assert isinstance(TaskNotFound("x"), ConfigError)


def test_heartbeat_answers_cancel_requests(store: TaskStore) -> None:
    record = store.create("long work")
    worker = current_owner()
    store.claim(record.id, worker)
    assert store.heartbeat(record.id, worker, input_tokens=7, output_tokens=3) is False
    assert store.get(record.id).input_tokens == 7
    after = store.request_cancel(record.id)
    assert after.status == "running" and after.cancel_requested
    assert store.heartbeat(record.id, worker) is True
    store.finish(record.id, "cancelled", "cancelled with moco tasks cancel",
                 input_tokens=7, output_tokens=3)
    done = store.get(record.id)
    assert done.status == "cancelled" and done.finished_at is not None and done.finished


def test_a_queued_task_is_cancelled_at_once_and_never_claimed(store: TaskStore) -> None:
    record = store.create("never runs")
    after = store.request_cancel(record.id)
    assert after.status == "cancelled" and after.error == "cancelled before it started"
    assert not store.claim(record.id, current_owner())


def test_heartbeat_of_a_task_no_longer_ours_says_stop(store: TaskStore) -> None:
    record = store.create("x")
    store.claim(record.id, "otherhost:1:1")
    assert store.heartbeat(record.id, current_owner()) is True


def test_a_dead_local_worker_leaves_the_task_interrupted(store: TaskStore) -> None:
    alive, dead = store.create("alive"), store.create("dead")
    store.claim(alive.id, current_owner())
    store.claim(dead.id, dead_owner())
    listed = {r.id: r for r in store.list()}
    assert listed[alive.id].status == "running"
    assert listed[dead.id].status == "interrupted"
    assert "moco run -s" in (listed[dead.id].error or "")
    assert store.list(status="interrupted")[0].id == dead.id
    assert store.requeue(dead.id) and store.get(dead.id).status == "queued"


def test_a_stale_heartbeat_means_a_dead_worker(store: TaskStore) -> None:
    record = store.create("remote")
    store.claim(record.id, "otherhost:1:1")  # another host: only the heartbeat tells
    assert store.mark_dead(stale_after=60) == []
    store.db.execute("UPDATE tasks SET heartbeat_at = '2020-01-01T00:00:00+00:00'")
    assert store.mark_dead() == [record.id]
    got = store.recover(record.id)
    assert got is not None and got.status == "interrupted" and "heartbeat" in (got.error or "")
    assert store.recover("000000000000") is None


def test_events_keep_their_order(store: TaskStore) -> None:
    record = store.create("x")
    seqs = [store.append_event(record.id, {"type": "text_delta", "text": str(n)})
            for n in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    later = store.events(record.id, after_seq=3)
    assert [e.data["text"] for e in later] == ["3", "4"] and later[0].type == "text_delta"
    assert store.last_seq(record.id) == 5


def test_list_is_newest_first_and_checks_the_status(store: TaskStore) -> None:
    first, second = store.create("one"), store.create("two")
    assert [r.id for r in store.list()] == [second.id, first.id]
    assert store.next_queued() == first.id
    assert store.count("queued") == 2 and store.count("running") == 0
    with pytest.raises(ConfigError, match="unknown task status 'done'"):
        store.list(status="done")
    with pytest.raises(ConfigError, match="the task is empty"):
        store.create("  ")
    with pytest.raises(ValueError):
        store.finish(first.id, "running")


CLAIMER = """
import sys
from moco.tasks.store import TaskStore
store = TaskStore.open()
sys.stdin.readline()  # start together
won = [tid for tid in sys.argv[2:] if store.claim(tid, sys.argv[1])]
print(" ".join(won))
"""


def test_two_processes_claiming_the_same_tasks_run_each_once(store: TaskStore) -> None:
    """Two workers (processes with their own connections) race for the same queued tasks."""
    ids = [store.create(f"task {n}").id for n in range(40)]
    workers = [subprocess.Popen([sys.executable, "-c", CLAIMER, f"host:{n}:1", *ids],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for n in (1, 2)]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    won = [worker.communicate(timeout=60)[0].split() for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    assert sorted(won[0] + won[1]) == sorted(ids)  # every task claimed, none twice
    owners = {task_id: f"host:{n}:1" for n, claimed in zip((1, 2), won, strict=True)
              for task_id in claimed}
    assert {t.id: t.worker for t in store.list(limit=100)} == owners
