"""Background tasks on real Celery workers (``moco worker`` subprocesses) over a real
redis-server, against the scripted OpenAI server: the task store is shared through MOCO_HOME.

One worker (two pool processes, MOCO_TASK_RETRIES=1) serves the module; the test that kills a
whole worker starts its own on another Redis database, so no other worker takes its task.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from moco.tasks.options import TaskOptions
from moco.tasks.runner import CANCEL_REASON
from moco.tasks.store import TaskRecord, TaskStore
from moco.tasks.submit import submit
from moco.testing import Reply, ScriptedOpenAIServer
from moco.testing.celery_worker import CeleryWorker
from moco.testing.redis_server import RedisServer, find_redis_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    binary = find_redis_server()
    if binary is None:
        message = "redis-server not found (apt-get install redis-server, or MOCO_REDIS_SERVER)"
        if os.environ.get("MOCO_REDIS_REQUIRED"):
            pytest.fail(message)
        pytest.skip(message)
    with RedisServer(binary) as server:
        yield server


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("celery_home")


def worker_env(home: Path, broker: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.pop("MOCO_DEFAULT_PROVIDER", None)
    env.update(MOCO_HOME=str(home), MOCO_TASK_BROKER=broker, OPENAI_API_KEY="sk-test",
               MOCO_MEMORY="off", MOCO_TRUST_ALL="1", **extra)
    return env


@pytest.fixture(scope="module")
def worker(redis: RedisServer, shared_home: Path) -> Iterator[CeleryWorker]:
    env = worker_env(shared_home, redis.url, MOCO_TASK_RETRIES="1")
    with CeleryWorker(env, concurrency=2) as started:
        yield started


@pytest.fixture
def env(worker: CeleryWorker, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This test's process uses the worker's MOCO_HOME and broker."""
    for name in ("MOCO_HOME", "MOCO_TASK_BROKER"):
        monkeypatch.setenv(name, worker.env[name])
    return worker.env


def queue(env: dict[str, str], task: str, llm: ScriptedOpenAIServer, project: Path) -> str:
    """Create a task as ``moco tasks run -P openai --base-url URL`` does and submit it."""
    options = TaskOptions(provider="openai", base_url=llm.base_url, working_dir=str(project))
    store = TaskStore.open(env)
    try:
        record = store.create(task, options.to_dict(), backend="celery")
    finally:
        store.db.close()
    submit(record, env)
    return record.id


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def read(env: dict[str, str], task_id: str) -> tuple[TaskRecord, list[str]]:
    store = TaskStore.open(env)
    try:
        return store.get(task_id), [event.type for event in store.events(task_id)]
    finally:
        store.db.close()


def finished(env: dict[str, str], task_id: str, timeout: float = 30.0) -> TaskRecord:
    wait_for(lambda: read(env, task_id)[0].finished, f"task {task_id} to end", timeout)
    return read(env, task_id)[0]


def moco(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "moco", *args], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_moco_tasks_run_queues_a_task_a_worker_runs_with_its_events_as_they_happen(
    env: dict[str, str], scripted_openai: ScriptedOpenAIServer, project: Path
) -> None:
    scripted_openai.add(Reply.call("write_file", {"path": "a.txt", "content": "from celery"}),
                        Reply.say("written", latency=2.0))
    task_id = moco(env, "tasks", "run", "write a.txt", "-P", "openai", "--base-url",
                   scripted_openai.base_url, "-w", str(project)).strip()
    wait_for(lambda: len(scripted_openai.requests) == 2, "the second model request")
    running, kinds = read(env, task_id)
    assert running.status == "running" and running.backend == "celery"
    assert kinds[:2] == ["task_started", "run_started"] and "tool_call_finished" in kinds
    assert "task_finished" not in kinds  # the answer is still 2 s away
    assert (project / "a.txt").read_text() == "from celery"
    assert running.worker and f":{os.getpid()}:" not in running.worker
    done = finished(env, task_id)
    assert done.status == "completed" and done.error is None
    assert read(env, task_id)[1][-2:] == ["run_finished", "task_finished"]
    assert (done.input_tokens, done.output_tokens) == (20, 10)
    assert "written" in moco(env, "tasks", "logs", task_id)


def test_moco_tasks_cancel_reaches_a_task_running_on_the_worker(
    env: dict[str, str], scripted_openai: ScriptedOpenAIServer, project: Path
) -> None:
    scripted_openai.add(Reply.say("word " * 400, chunk_delay=0.02))  # 8 s of streaming
    task_id = queue(env, "talk", scripted_openai, project)
    wait_for(lambda: bool(scripted_openai.requests), "the model request")
    assert f"task {task_id}: cancelled" in moco(env, "tasks", "cancel", task_id)
    done, kinds = read(env, task_id)
    assert done.status == "cancelled" and done.error == CANCEL_REASON
    assert kinds[-1] == "task_finished"
    # stopped mid-answer (by the heartbeat), not after the whole answer streamed
    assert kinds.count("text_delta") < len(Reply.say("word " * 400).text_chunks())


def test_a_dead_pool_process_is_retried_once_then_left_interrupted(
    env: dict[str, str], worker: CeleryWorker, scripted_openai: ScriptedOpenAIServer,
    project: Path,
) -> None:
    scripted_openai.add(Reply.say("never delivered", latency=30),
                        Reply.say("never delivered either", latency=30))
    task_id = queue(env, "die twice", scripted_openai, project)
    for attempt in (1, 2):
        wait_for(lambda n=attempt: len(scripted_openai.requests) == n, f"attempt {attempt}")
        owner = read(env, task_id)[0].worker
        assert owner is not None
        os.kill(int(owner.split(":")[1]), signal.SIGKILL)  # the pool process, as OOM would
    done = finished(env, task_id)
    assert done.status == "interrupted" and "is gone" in (done.error or "")
    assert "its pool process died — retry 1 of 1" in worker.output()
    time.sleep(1.0)  # a third attempt would have asked the model by now
    assert len(scripted_openai.requests) == 2
    assert read(env, task_id)[1].count("task_started") == 2
    assert worker.alive  # Celery replaced its pool process


def test_a_killed_worker_leaves_the_task_interrupted_and_its_message_is_not_run_again(
    redis: RedisServer, shared_home: Path, scripted_openai: ScriptedOpenAIServer,
    project: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = redis.url.rsplit("/", 1)[0] + "/1"  # a queue no other worker reads
    env = worker_env(shared_home, broker)
    monkeypatch.setenv("MOCO_HOME", str(shared_home))
    monkeypatch.setenv("MOCO_TASK_BROKER", broker)
    scripted_openai.add(Reply.say("never delivered", latency=30))
    with CeleryWorker(env) as doomed:
        task_id = queue(env, "die with the machine", scripted_openai, project)
        wait_for(lambda: bool(scripted_openai.requests), "the model request")
        doomed.kill()
    # the pool process dies a moment after the signal, and is then seen gone
    wait_for(lambda: read(env, task_id)[0].status != "running", "the task to be seen dead", 10)
    done, kinds = read(env, task_id)
    assert done.status == "interrupted" and "is gone" in (done.error or "")
    assert kinds == ["task_started", "run_started"]
    # the message was never acknowledged: Redis hands it to the next worker once its
    # visibility timeout (1 s here) has passed, which finds the task ended and drops it
    with CeleryWorker({**env, "MOCO_TASK_VISIBILITY_TIMEOUT": "1"}) as heir:
        wait_for(lambda: f"task {task_id} was interrupted" in heir.output(), "the redelivery")
    assert read(env, task_id)[0].status == "interrupted"
    assert len(scripted_openai.requests) == 1


def test_a_stopped_worker_finishes_its_running_task_first(
    redis: RedisServer, shared_home: Path, scripted_openai: ScriptedOpenAIServer,
    project: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = redis.url.rsplit("/", 1)[0] + "/2"  # a queue no other worker reads
    env = worker_env(shared_home, broker)
    monkeypatch.setenv("MOCO_HOME", str(shared_home))
    monkeypatch.setenv("MOCO_TASK_BROKER", broker)
    scripted_openai.add(Reply.say("finished anyway", latency=2.0))
    with CeleryWorker(env) as stopping:
        task_id = queue(env, "outlive the worker", scripted_openai, project)
        wait_for(lambda: bool(scripted_openai.requests), "the model request")
        assert stopping.process is not None
        stopping.process.send_signal(signal.SIGTERM)  # Celery's warm shutdown
        stopping.process.wait(timeout=30)
        assert "Warm shutdown" in stopping.output()
    done, kinds = read(env, task_id)
    assert done.status == "completed" and kinds[-1] == "task_finished"


def test_a_pool_process_that_died_on_another_host_is_retried_wherever_the_retry_lands(
    redis: RedisServer, shared_home: Path, scripted_openai: ScriptedOpenAIServer,
    project: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker that saw its pool process die decides, on the host where the pid can be
    checked: a worker elsewhere would see only a fresh heartbeat."""
    if subprocess.run(["unshare", "-u", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -u (a UTS namespace, for a second host name) is not allowed here")
    broker = redis.url.rsplit("/", 1)[0] + "/3"
    env = worker_env(shared_home, broker, MOCO_TASK_RETRIES="1")
    monkeypatch.setenv("MOCO_HOME", str(shared_home))
    monkeypatch.setenv("MOCO_TASK_BROKER", broker)
    scripted_openai.add(Reply.say("never delivered", latency=30), Reply.say("retried"))
    elsewhere = CeleryWorker(env, prefix=["unshare", "-u", "sh", "-c",
                                          'hostname moco-elsewhere && exec "$@"', "sh"])
    with elsewhere:
        task_id = queue(env, "die elsewhere", scripted_openai, project)
        wait_for(lambda: bool(scripted_openai.requests), "the model request")
        owner = read(env, task_id)[0].worker or ""
        assert owner.startswith("moco-elsewhere:")
        with CeleryWorker(env) as here:  # up before the death: the retry may land on it
            os.kill(int(owner.split(":")[1]), signal.SIGKILL)
            done = finished(env, task_id)
            output = elsewhere.output() + here.output()
    assert done.status == "completed", done.error
    assert "its pool process died — retry 1 of 1" in output
    assert len(scripted_openai.requests) == 2


def test_a_task_cancelled_while_queued_is_never_run_by_the_worker_that_gets_it(
    redis: RedisServer, shared_home: Path, scripted_openai: ScriptedOpenAIServer,
    project: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = redis.url.rsplit("/", 1)[0] + "/4"  # no worker reads it yet
    env = worker_env(shared_home, broker)
    monkeypatch.setenv("MOCO_HOME", str(shared_home))
    monkeypatch.setenv("MOCO_TASK_BROKER", broker)
    task_id = queue(env, "never mind", scripted_openai, project)
    assert "cancelled task" in moco(env, "tasks", "cancel", task_id)
    with CeleryWorker(env) as late:
        wait_for(lambda: "moco.run_task[" in late.output() and " succeeded " in late.output(),
                 "the worker to take the message")
    done, kinds = read(env, task_id)
    assert done.status == "cancelled" and kinds == [] and not scripted_openai.requests
