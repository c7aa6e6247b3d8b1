"""run_task in this process: the real orchestrator and SDK against a scripted server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from moco.storage.session_logger import SessionLogger
from moco.tasks.options import TaskOptions
from moco.tasks.runner import CANCEL_REASON, run_task
from moco.tasks.store import TaskStore
from moco.testing import Reply, ScriptedOpenAIServer

#: every test on the SQLite file and on a PostgreSQL store (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("db_backend")


def queue(env: dict[str, str], task: str, **options: object) -> tuple[TaskStore, str]:
    store = TaskStore.open(env)
    record = store.create(task, TaskOptions(**options).to_dict())  # type: ignore[arg-type]
    return store, record.id


def test_a_task_runs_to_completion_and_its_events_are_stored(
    scripted_openai: ScriptedOpenAIServer, task_env: dict[str, str], project: Path
) -> None:
    scripted_openai.add(Reply.say("The answer is 42.", input_tokens=11, output_tokens=4))
    store, task_id = queue(task_env, "What is the answer?", working_dir=str(project),
                           model="scripted-model-1", max_turns=3)
    assert run_task(task_id, task_env) == "completed"
    record = store.get(task_id)
    assert record.status == "completed" and record.error is None
    assert (record.input_tokens, record.output_tokens) == (11, 4)
    kinds = [event.type for event in store.events(task_id)]
    assert kinds[0] == "task_started" and kinds[1] == "run_started"
    assert kinds[-2:] == ["run_finished", "task_finished"] and "text_delta" in kinds
    assert scripted_openai.requests[0].body["model"] == "scripted-model-1"
    assert str(project) in scripted_openai.requests[0].body["messages"][0]["content"]
    sessions = SessionLogger(store.db)
    assert record.session_id is not None
    session = sessions.require_session(record.session_id)
    assert session.working_dir == str(project) and session.title == "What is the answer?"
    texts = [m.text for m in sessions.load_messages(record.session_id)]
    assert texts == ["What is the answer?", "The answer is 42."]
    assert run_task(task_id, task_env) == "completed"  # claimed once: not run again
    assert len(scripted_openai.requests) == 1


def test_a_permission_ask_is_refused_with_the_rule_that_would_allow_it(
    scripted_openai: ScriptedOpenAIServer, task_env: dict[str, str], project: Path
) -> None:
    (project / ".env").write_text("TOKEN=secret\n")
    scripted_openai.add(Reply.call("read_file", {"path": ".env"}), Reply.say("I may not."))
    store, task_id = queue(task_env, "Read .env", working_dir=str(project))
    assert run_task(task_id, task_env) == "completed"
    finished = next(e.data for e in store.events(task_id) if e.type == "tool_call_finished")
    assert finished["is_error"] and "needs approval — rerun with --yes" in finished["result"]
    assert "read_file" in finished["result"] and "asked by" in finished["result"]
    assert "secret" not in str([e.data for e in store.events(task_id)])


def test_options_that_cannot_run_fail_the_task_with_one_line(
    task_env: dict[str, str], project: Path
) -> None:
    store, task_id = queue(task_env, "hi", working_dir=str(project), profile="no-such-profile")
    assert run_task(task_id, task_env) == "failed"
    record = store.get(task_id)
    assert "no-such-profile" in (record.error or "")
    kinds = [e.type for e in store.events(task_id)]
    assert kinds == ["task_started", "error", "task_finished"]


@pytest.mark.slow
def test_cancel_stops_the_run_through_the_scope_and_the_session_records_it(
    scripted_openai: ScriptedOpenAIServer, task_env: dict[str, str], project: Path
) -> None:
    scripted_openai.add(Reply.say("word " * 400, chunk_delay=0.05))
    store, task_id = queue(task_env, "Talk for a long time", working_dir=str(project))
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(run_task(task_id, task_env)))
    thread.start()
    deadline = time.monotonic() + 20
    while not any(e.type == "text_delta" for e in store.events(task_id)):
        assert time.monotonic() < deadline, "the task never started talking"
        time.sleep(0.05)
    store.request_cancel(task_id)
    thread.join(timeout=20)
    assert result == ["cancelled"]
    record = store.get(task_id)
    assert record.status == "cancelled" and record.error == CANCEL_REASON
    assert record.session_id is not None
    sessions = SessionLogger(store.db)
    assert [run.status for run in sessions.runs(record.session_id)] == ["cancelled"]
    last = sessions.load_messages(record.session_id)[-1]
    assert last.text.startswith("word") and last.text.endswith("[cancelled]")
