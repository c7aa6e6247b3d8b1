"""Cancelling a turn: the stream stops, tools die, the session stays consistent."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from moco.cancellation import CancelScope
from moco.core.events import TextDelta, ToolCallStarted
from moco.core.messages import Message, TextPart, ToolCallPart, ToolResultPart
from moco.core.orchestrator import Orchestrator
from moco.core.transcript import INTERRUPTED, repair
from moco.errors import Cancelled
from moco.testing import Reply, ScriptedOpenAIServer


def orchestrator(server: ScriptedOpenAIServer, workdir: Path) -> Orchestrator:
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url}
    return Orchestrator(provider="openai", working_dir=workdir, env=env)


async def consume_until(orch: Orchestrator, task: str, scope: CancelScope, when: type,
                        session_id: str | None = None) -> None:
    async def turn() -> None:
        async for event in orch.events(task, session_id=session_id):
            if isinstance(event, when):
                threading.Thread(target=scope.cancel).start()  # from another thread

    await scope.run(turn())


async def test_cancel_during_streaming_keeps_the_partial_answer(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    scripted_openai.add(Reply.say("word " * 200, chunk_delay=0.01), Reply.say("still here"))
    orch = orchestrator(scripted_openai, tmp_path)
    scope = CancelScope()
    with pytest.raises(Cancelled):
        await consume_until(orch, "talk", scope, TextDelta)
    assert orch.session_id is not None
    records = orch.sessions.load_records(orch.session_id)
    assert records[-1].status == "cancelled"
    partial = records[-1].message.text
    assert partial.endswith("[cancelled]")
    # the stream was stopped: only the words that arrived before the cancel were kept
    assert 0 < partial.count("word") < 200, "the stream was not stopped"
    run = orch.sessions.runs(orch.session_id)[0]
    assert run.status == "cancelled"
    assert await orch.run("go on", session_id=orch.session_id) == "still here"
    sent = scripted_openai.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]


async def test_cancel_kills_running_shell_and_repairs_history(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    marker = tmp_path / "pid.txt"
    command = f"echo $$ > {marker}; sleep 30"
    scripted_openai.add(Reply.call("execute_bash", {"command": command}), Reply.say("after"))
    orch = orchestrator(scripted_openai, tmp_path)
    scope = CancelScope()

    async def turn() -> None:
        async for event in orch.events("run it"):
            if isinstance(event, ToolCallStarted):
                for _ in range(1000):
                    if marker.exists() and marker.read_text().strip():
                        break
                    await asyncio.sleep(0.01)
                scope.cancel()

    with pytest.raises(Cancelled):
        await scope.run(turn())
    # found by command line: in the sandbox's PID namespace $$ is not the host's pid
    for _ in range(100):
        if not _processes_naming(str(marker)):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the shell survived the cancellation")
    assert await orch.run("continue", session_id=orch.session_id) == "after"
    sent = scripted_openai.requests[-1].body["messages"]
    tool = next(m for m in sent if m["role"] == "tool")
    assert tool["content"] == INTERRUPTED


def test_cancel_with_nothing_running_is_a_no_op() -> None:
    assert CancelScope().cancel() is False


def test_repair_answers_unanswered_calls_and_drops_orphans() -> None:
    history = [
        Message.user("hi"),
        Message("assistant", [TextPart("doing"), ToolCallPart("a", "read_file", {}),
                              ToolCallPart("b", "list_dir", {})]),
        Message("tool", [ToolResultPart("a", "read_file", "ok")]),
        Message("tool", [ToolResultPart("zzz", "ghost", "orphan")]),
        Message.user("next"),
    ]
    fixed = repair(history)
    assert [m.role for m in fixed] == ["user", "assistant", "tool", "user"]
    results = fixed[2].tool_results
    assert [(r.tool_call_id, r.is_error) for r in results] == [("a", False), ("b", True)]
    assert results[1].content == INTERRUPTED
    tail = repair([Message("assistant", [ToolCallPart("c", "x", {})])])
    assert tail[-1].tool_results[0].tool_call_id == "c"


def _processes_naming(text: str) -> list[int]:
    """Live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if text.encode() in (entry / "cmdline").read_bytes():
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if stat[0] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found
