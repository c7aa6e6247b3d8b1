"""`moco tasks list|status|logs|cancel` in this process, on tasks real runs left in the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moco.cli.tasks import tasks_app
from moco.tasks.options import TaskOptions
from moco.tasks.render import activity, render_log
from moco.tasks.runner import run_task
from moco.tasks.store import TaskNotFound, TaskStore
from moco.testing import Reply, ScriptedOpenAIServer

#: every test on the SQLite file and on a PostgreSQL store (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("db_backend")

runner = CliRunner()


def completed_task(env: dict[str, str], project: Path, task: str = "Say hello") -> str:
    store = TaskStore.open(env)
    record = store.create(task, TaskOptions(working_dir=str(project)).to_dict())
    assert run_task(record.id, env) == "completed"
    return record.id


def test_list_status_and_logs_of_a_finished_task(
    scripted_openai: ScriptedOpenAIServer, task_env: dict[str, str], project: Path
) -> None:
    scripted_openai.add(Reply.call("list_files", {"path": "."}), Reply.say("Hello there."))
    task_id = completed_task(task_env, project)
    listed = json.loads(runner.invoke(tasks_app, ["list", "--json"]).stdout)
    assert [(t["id"], t["status"], t["input_tokens"]) for t in listed] == [
        (task_id, "completed", 20)]
    table = runner.invoke(tasks_app, ["list"]).stdout
    assert task_id in table and "default" in table and "20/10" in table
    frame = runner.invoke(tasks_app, ["status", "--once"]).stdout
    assert frame.splitlines()[0] == "0 running · 0 queued · 1 recently ended"
    logs = runner.invoke(tasks_app, ["logs", task_id[:5]])
    assert logs.exit_code == 0
    lines = logs.stdout.splitlines()
    assert lines[0].startswith(f"[task {task_id} started on ")
    assert "→ list_files path=." in lines and "Hello there." in lines
    assert "— completed · 2 turns · 20 in / 10 out tokens" in lines
    assert lines[-1] == "[task completed]"


def test_logs_show_the_last_10_kb_unless_all(
    scripted_openai: ScriptedOpenAIServer, task_env: dict[str, str], project: Path
) -> None:
    answer = "".join(f"line {n:05d}\n" for n in range(1300))  # 14 KB
    scripted_openai.add(Reply.say(answer))
    task_id = completed_task(task_env, project)
    short = runner.invoke(tasks_app, ["logs", task_id]).stdout
    assert short.startswith("[… earlier output: moco tasks logs -a shows it all]\nline ")
    assert 9 * 1024 < len(short.encode()) <= 10 * 1024 + 100
    assert short.rstrip().endswith("[task completed]") and "line 01299" in short
    full = runner.invoke(tasks_app, ["logs", task_id, "--all"]).stdout
    assert "line 00000" in full and "line 01299" in full


def test_cancel_says_what_happened(
    scripted_openai: ScriptedOpenAIServer, task_env: dict[str, str], project: Path
) -> None:
    scripted_openai.add(Reply.say("done"))
    done = completed_task(task_env, project)
    queued = TaskStore.open(task_env).create("later", TaskOptions().to_dict())
    result = runner.invoke(tasks_app, ["cancel", queued.id])
    assert result.stdout == f"cancelled task {queued.id} (it had not started)\n"
    assert TaskStore.open(task_env).get(queued.id).status == "cancelled"
    assert run_task(queued.id, task_env) == "cancelled"  # a worker arriving late runs nothing
    result = runner.invoke(tasks_app, ["cancel", done])
    assert result.stdout == f"task {done} already ended: completed\n"
    missing = runner.invoke(tasks_app, ["cancel", "ffffffffffff"])
    assert isinstance(missing.exception, TaskNotFound)
    assert "moco tasks list shows them" in str(missing.exception)


def test_run_refuses_what_moco_run_refuses(task_env: dict[str, str], project: Path) -> None:
    empty = runner.invoke(tasks_app, ["run", "  "])
    assert "the task is empty" in str(empty.exception)
    both = runner.invoke(tasks_app, ["run", "x", "--new", "-c"])
    assert "--new cannot be combined" in str(both.exception)
    nowhere = runner.invoke(tasks_app, ["run", "x", "-w", str(project / "missing")])
    assert "does not exist" in str(nowhere.exception)
    assert TaskStore.open(task_env).list() == []


def test_activity_is_the_last_agent_and_its_unfinished_tool() -> None:
    events = [
        {"type": "tool_call_started", "agent": "lead", "call_id": "1", "name": "read_file",
         "arguments": {"path": "a.py"}},
        {"type": "tool_call_finished", "agent": "lead", "call_id": "1", "name": "read_file"},
        {"type": "tool_call_started", "agent": "lead > coder", "call_id": "2",
         "name": "execute_bash", "arguments": {"command": "pytest -q"}},
        {"type": "text_delta", "agent": "lead > coder", "text": "running", "parent_run_id": "r"},
    ]
    assert activity(events) == ("lead > coder", "execute_bash command=pytest -q")
    assert activity(events[:2]) == ("lead", "")
    log = render_log(events)
    assert "  → execute_bash command=pytest -q" in log and "running" not in log  # a sub-agent


@pytest.mark.parametrize("kind", ["warning", "error"])
def test_notes_start_on_their_own_line(kind: str) -> None:
    log = render_log([{"type": "text_delta", "text": "partial"},
                      {"type": kind, "message": "something\x1b[2K odd"}])
    assert log == f"partial\n{kind}: something^[[2K odd\n"
