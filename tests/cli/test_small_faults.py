"""Small faults a user hit (issue 9), through the real entry point in-process: a retried
stream's discarded text, an empty task, an empty chat line."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from moco.cli import main
from moco.events import AttemptDiscarded, MessageCompleted, RunFinished, TextDelta
from moco.messages import Message
from moco.providers.base import RetryPolicy
from moco.testing import Reply, ScriptedOpenAIServer
from moco.ui.console import ConsoleRenderer

EMPTY_TASK = "error: the task is empty — say what the agents should do\n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries follow at once: the tests are about what is shown, not about waiting."""
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, retry_after: 0.0)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            scripted_openai: ScriptedOpenAIServer) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", scripted_openai.base_url)
    return folder


def moco(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str,
         stdin: str = "") -> tuple[int, str, str]:
    """Run ``moco ARGS`` through the console entry point; (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["moco", *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = 0
    try:
        main()
    except SystemExit as leaving:
        code = leaving.code if isinstance(leaving.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- a retried stream's text is not the answer ---------------------------------------------
def test_piped_run_prints_only_the_answer_of_the_attempt_that_finished(
    project: Path, scripted_openai: ScriptedOpenAIServer,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    scripted_openai.add(Reply.say("a partial answer that never finishes", cut=True),
                        Reply.say("the real answer"))
    code, out, err = moco(monkeypatch, capsys, "run", "say something", "-P", "openai")
    assert code == 0, err
    assert out == "the real answer\n"
    assert "retrying" in err
    assert len(scripted_openai.requests) == 2


def test_json_run_reports_the_discarded_attempt(
    project: Path, scripted_openai: ScriptedOpenAIServer,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    scripted_openai.add(Reply.say("cut here", cut=True), Reply.say("whole"))
    code, out, _ = moco(monkeypatch, capsys, "run", "go", "-P", "openai", "--json")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    [discarded] = [e for e in events if e["type"] == "attempt_discarded"]
    assert discarded["text"] == "cut here" and discarded["run_id"]
    assert events[-1]["type"] == "run_finished" and events[-1]["output"] == "whole"


def test_every_attempt_cut_leaves_no_answer_on_piped_stdout(
    project: Path, scripted_openai: ScriptedOpenAIServer,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    attempts = RetryPolicy().max_retries + 1
    scripted_openai.add(*[Reply.say(f"half answer {i}", cut=True) for i in range(attempts)])
    code, out, err = moco(monkeypatch, capsys, "run", "go", "-P", "openai")
    assert len(scripted_openai.requests) == attempts
    assert code == 1
    assert out == ""
    assert "the stream ended before the answer did" in err and "Traceback" not in err


def _root(text: str) -> TextDelta:
    return TextDelta(agent="main", agent_name="main", run_id="r1", text=text)


def _events(partial: str, final: str) -> list[object]:
    ids = {"agent": "main", "agent_name": "main", "run_id": "r1"}
    return [_root(partial), AttemptDiscarded(**ids, text=partial, reason="cut"),
            _root(final), MessageCompleted(**ids, message=Message("assistant")),
            RunFinished(**ids, status="completed", output=final)]


def test_terminal_erases_the_discarded_attempt() -> None:
    out, err = Terminal(), Pipe()
    renderer = ConsoleRenderer(out=out, err=err)
    for event in _events("two lines\nof a partial answer", "final"):
        renderer.handle(event)  # type: ignore[arg-type]
    # back to the start of the attempt (one row up, column 0), clear the rest of the screen
    assert out.getvalue() == "two lines\nof a partial answer\r\x1b[1A\x1b[Jfinal\n"
    assert err.getvalue() == ""


def test_pipe_without_holding_marks_the_discarded_attempt() -> None:
    """``moco chat`` into a pipe streams as it goes: the discarded text is marked."""
    out, err = Pipe(), Pipe()
    renderer = ConsoleRenderer(out=out, err=err)
    for event in _events("partial", "final"):
        renderer.handle(event)  # type: ignore[arg-type]
    assert out.getvalue() == "partial\nfinal\n"
    assert "discarded" in err.getvalue()


def test_held_text_is_written_per_completed_model_call() -> None:
    out, err = Pipe(), Pipe()
    renderer = ConsoleRenderer(out=out, err=err, hold_text=True)
    for event in _events("partial", "final"):
        renderer.handle(event)  # type: ignore[arg-type]
    assert out.getvalue() == "final\n"


# -- an empty task is an error, not a request -----------------------------------------------
@pytest.mark.parametrize("task", ["", "   ", "\n\t"])
def test_empty_task_is_one_line_and_no_request(
    task: str, project: Path, scripted_openai: ScriptedOpenAIServer,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = moco(monkeypatch, capsys, "run", task, "-P", "openai", "-s", "named")
    assert code == 2
    assert err == EMPTY_TASK and out == ""
    assert scripted_openai.requests == []
    code, out, _ = moco(monkeypatch, capsys, "sessions", "list", "--json")
    assert code == 0 and json.loads(out) == []  # no session was created for it


def test_chat_ignores_empty_lines(
    project: Path, scripted_openai: ScriptedOpenAIServer,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    scripted_openai.add(Reply.say("hello back"))
    code, out, err = moco(monkeypatch, capsys, "chat", "-P", "openai",
                          stdin="\n   \n\t\nhello\n\n")
    assert code == 0, err
    assert "hello back" in out
    [request] = scripted_openai.requests
    assert [m["content"] for m in request.body["messages"] if m["role"] == "user"] == ["hello"]


# -- unknown tools are warned about, not dropped without a word ------------------------------
def _team(project: Path) -> None:
    agents = project / ".moco" / "profiles" / "team" / "agents"
    agents.mkdir(parents=True)
    (agents / "researcher.md").write_text(
        "---\ndescription: researches\nmode: primary\n"
        "tools: Read, summon_dragon, conjure_facts\n---\nYou research.\n")
    (agents / "helper.md").write_text("---\ndescription: helps\ntools: [read_file]\n---\nHi.\n")


WARNED = "agent 'researcher': unknown tools dropped: summon_dragon, conjure_facts (known tools: "


def test_list_profiles_warns_once_per_agent(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _team(project)
    code, out, err = moco(monkeypatch, capsys, "list-profiles")
    assert code == 0 and "team" in out
    [line] = [line for line in err.splitlines() if "team" in line]
    assert line.startswith(f"warning: profile 'team': {WARNED}")


def test_run_start_warns_about_unknown_tools(
    project: Path, scripted_openai: ScriptedOpenAIServer,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _team(project)
    scripted_openai.add(Reply.say("researched"))
    code, out, err = moco(monkeypatch, capsys, "run", "find out", "-p", "team", "-P", "openai")
    assert code == 0, err
    assert out == "researched\n"
    assert err.count(f"warning: {WARNED}") == 1
    tools = {t["function"]["name"] for t in scripted_openai.requests[0].body["tools"]}
    assert "read_file" in tools and "summon_dragon" not in tools
