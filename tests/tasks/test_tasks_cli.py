"""`moco tasks` end to end: real subprocesses, detached workers, the real SDK, a scripted
server and the real SQLite store (read here through TaskStore, as another process would)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from moco.storage.session_logger import SessionLogger
from moco.tasks.store import TaskRecord, TaskStore
from moco.testing import Reply, ScriptedOpenAIServer

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("db_backend")]

SLOW_ANSWER = "word " * 400  # streamed in 250 chunks


def moco(*args: str, env: dict[str, str], cwd: Path,
         timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "moco", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


@pytest.fixture
def store(task_env: dict[str, str]) -> Iterator[TaskStore]:
    store = TaskStore.open(task_env)
    yield store
    for record in store.list(status="running"):  # a failed test leaves no worker behind
        pid = int((record.worker or "::").split(":")[1] or 0)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    store.db.close()


def start(*args: str, env: dict[str, str], cwd: Path) -> str:
    result = moco("tasks", "run", *args, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    task_id = result.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{12}", task_id), result.stdout
    return task_id


def finished(store: TaskStore, task_id: str) -> TaskRecord:
    wait_for(lambda: store.get(task_id).finished, f"task {task_id} ends")
    return store.get(task_id)


def talking(store: TaskStore, task_id: str) -> Callable[[], bool]:
    return lambda: any(e.type == "text_delta" for e in store.events(task_id))


def test_run_returns_at_once_and_the_task_completes_in_the_background(
    scripted_openai: ScriptedOpenAIServer, task_env: dict[str, str], project: Path,
    store: TaskStore,
) -> None:
    scripted_openai.add(Reply.say("The background answer.", latency=1.5))
    task_id = start("Answer in the background", "-m", "scripted-model-7", "--max-turns", "4",
                    env=task_env, cwd=project)
    assert store.get(task_id).status in ("queued", "running")  # it returned before the answer
    record = finished(store, task_id)
    assert record.status == "completed" and record.input_tokens == 10
    request = scripted_openai.requests[0].body
    assert request["model"] == "scripted-model-7"  # the run options reach the orchestrator
    assert str(project) in request["messages"][0]["content"]
    assert record.options["working_dir"] == str(project)

    logs = moco("tasks", "logs", task_id[:6], env=task_env, cwd=project)
    assert logs.returncode == 0, logs.stderr
    assert "The background answer." in logs.stdout and "[task completed]" in logs.stdout
    listed = json.loads(moco("tasks", "list", "--json", env=task_env, cwd=project).stdout)
    assert listed[0]["id"] == task_id and listed[0]["status"] == "completed"
    table = moco("tasks", "list", env=task_env, cwd=project).stdout
    assert task_id in table and "completed" in table and "10/5" in table
    frame = moco("tasks", "status", "--once", env=task_env, cwd=project).stdout
    assert "0 running · 0 queued · 1 recently ended" in frame and task_id in frame
    shown = moco("sessions", "show", str(record.session_id), env=task_env, cwd=project)
    assert "The background answer." in shown.stdout


def test_cancel_stops_a_running_task_and_the_session_records_it(
    scripted_openai: ScriptedOpenAIServer, task_env: dict[str, str], project: Path,
    store: TaskStore,
) -> None:
    scripted_openai.add(Reply.say(SLOW_ANSWER, chunk_delay=0.05))
    task_id = start("Talk for a long time", env=task_env, cwd=project)
    wait_for(talking(store, task_id), "the task streams text")
    frame = moco("tasks", "status", "--once", env=task_env, cwd=project).stdout
    assert "1 running" in frame and "assistant" in frame
    result = moco("tasks", "cancel", task_id, env=task_env, cwd=project)
    assert result.returncode == 0, result.stderr
    record = store.get(task_id)
    assert f"task {task_id}: cancelled" in result.stdout
    assert f"moco run -s {record.session_id}" in result.stdout
    assert record.error == "cancelled with moco tasks cancel"
    runs = SessionLogger(store.db).runs(str(record.session_id))
    assert [run.status for run in runs] == ["cancelled"]
    logs = moco("tasks", "logs", task_id, env=task_env, cwd=project).stdout
    assert "[task cancelled: cancelled with moco tasks cancel]" in logs
    again = moco("tasks", "cancel", task_id, env=task_env, cwd=project)
    assert f"task {task_id} already ended: cancelled" in again.stdout


def test_a_killed_worker_leaves_the_task_interrupted_and_its_session_continues(
    scripted_openai: ScriptedOpenAIServer, task_env: dict[str, str], project: Path,
    store: TaskStore,
) -> None:
    scripted_openai.add(Reply.say(SLOW_ANSWER, chunk_delay=0.05), Reply.say("Picked up."))
    task_id = start("Remember the word banana", env=task_env, cwd=project)
    wait_for(talking(store, task_id), "the task streams text")
    worker = store.get(task_id).worker or ""
    os.kill(int(worker.split(":")[1]), signal.SIGKILL)
    listed = json.loads(moco("tasks", "list", "--json", env=task_env, cwd=project).stdout)
    assert listed[0]["status"] == "interrupted" and "moco run -s" in listed[0]["error"]
    session = str(listed[0]["session_id"])
    result = moco("run", "-s", session, "Go on", env=task_env, cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Picked up."
    sent = json.dumps(scripted_openai.requests[-1].body["messages"])
    assert "Remember the word banana" in sent and "Go on" in sent


def test_a_refused_permission_ask_reaches_the_log_with_the_rule(
    scripted_openai: ScriptedOpenAIServer, task_env: dict[str, str], project: Path,
    store: TaskStore,
) -> None:
    (project / ".env").write_text("TOKEN=not-for-the-model\n")
    scripted_openai.add(Reply.call("read_file", {"path": ".env"}),
                        Reply.say("I was not allowed to read it."))
    task_id = start("Show me .env", "-w", str(project), env=task_env, cwd=project.parent)
    assert finished(store, task_id).status == "completed"
    logs = moco("tasks", "logs", task_id, "-f", env=task_env, cwd=project).stdout
    assert "→ read_file path=.env" in logs
    refusal = next(line for line in logs.splitlines() if line.startswith("✗ read_file"))
    assert "needs approval — rerun with --yes, or allow it in profile.yaml" in refusal
    assert "asked by" in refusal and "not-for-the-model" not in logs


def test_logs_follow_prints_until_the_task_ends(
    scripted_openai: ScriptedOpenAIServer, task_env: dict[str, str], project: Path,
    store: TaskStore,
) -> None:
    scripted_openai.add(Reply.say("one two three four five six seven eight nine ten",
                                  chunk_delay=0.1))
    task_id = start("Count to ten", env=task_env, cwd=project)
    follow = moco("tasks", "logs", task_id, "--follow", env=task_env, cwd=project)
    assert follow.returncode == 0, follow.stderr
    assert "one two three four five six seven eight nine ten" in follow.stdout
    assert follow.stdout.rstrip().endswith("[task completed]")
    assert store.get(task_id).status == "completed"


def test_a_worker_stopped_with_sigterm_ends_its_task_interrupted(
    scripted_openai: ScriptedOpenAIServer, task_env: dict[str, str], project: Path,
    store: TaskStore,
) -> None:
    scripted_openai.add(Reply.say(SLOW_ANSWER, chunk_delay=0.05))
    task_id = start("Talk until stopped", env=task_env, cwd=project)
    wait_for(talking(store, task_id), "the task streams text")
    os.kill(int((store.get(task_id).worker or "").split(":")[1]), signal.SIGTERM)
    record = finished(store, task_id)
    assert record.status == "interrupted" and record.error == "the worker was stopped (SIGTERM)"
    runs = SessionLogger(store.db).runs(str(record.session_id))
    assert [run.status for run in runs] == ["cancelled"]  # what it said is kept


def test_help_imports_no_provider_sdk(task_env: dict[str, str], project: Path) -> None:
    code = ("import sys\nfrom moco.entry import main\n"
            "for argv in (['moco', '--help'], ['moco', 'tasks', '--help']):\n"
            "    sys.argv = argv\n"
            "    try:\n        main()\n    except SystemExit:\n        pass\n"
            "heavy = {'openai', 'anthropic', 'google', 'celery', 'redis', 'rich'}\n"
            "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    result = subprocess.run([sys.executable, "-c", code], env=task_env, cwd=project,
                            capture_output=True, text=True, timeout=60)
    assert "LOADED []" in result.stdout, result.stdout + result.stderr
    assert "logs" in result.stdout and "cancel" in result.stdout


def test_a_worker_that_dies_before_claiming_leaves_the_task_failed(
    task_env: dict[str, str], project: Path, store: TaskStore, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "sitecustomize.py").write_text(
        "import os, sys\nif 'moco.tasks.worker' in ' '.join(sys.orig_argv):\n"
        "    print('worker broken on purpose', file=sys.stderr, flush=True)\n"
        "    os._exit(3)\n")
    task_env["PYTHONPATH"] = os.pathsep.join([str(broken), task_env.get("PYTHONPATH", "")])
    task_id = start("never claimed", env=task_env, cwd=project)
    record = finished(store, task_id)
    assert record.status == "failed" and "exited before it started the task" in str(record.error)
    logs = moco("tasks", "logs", task_id, env=task_env, cwd=project)
    assert "worker broken on purpose" in logs.stderr
