"""AgentRuntime against the scripted OpenAI server with real SDK calls."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import pytest

from moco.core.events import (
    Error,
    MessageCompleted,
    RunFinished,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    UsageReported,
    Warning,
)
from moco.core.messages import Message
from moco.core.runtime import AgentRuntime
from moco.errors import ToolError
from moco.providers.base import RetryPolicy
from moco.providers.openai_compat import OpenAICompatProvider
from moco.testing import Reply, ScriptedOpenAIServer, ToolCall
from moco.tools.base import get_tool, tool
from moco.tools.context import ToolContext


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: First number.
        b: Second number.
    """
    return a + b


class Rendezvous:
    """Tool calls meet here: each waits until ``expected`` calls have arrived. Calls that run
    at the same time all meet; calls run one after another never do (the first waits in vain
    until :data:`HANG_GUARD`, a timeout against hangs, not a measured bound)."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.arrived: list[str] = []
        self.everyone = threading.Event()
        self._lock = threading.Lock()

    def arrive(self, name: str) -> None:
        with self._lock:
            self.arrived.append(name)
            if len(self.arrived) >= self.expected:
                self.everyone.set()


HANG_GUARD = 10.0
MEETING = Rendezvous(1)  # a test that uses the meeting tools puts its own here


@tool
async def meet(text: str) -> str:
    """Wait in the event loop until every expected call has started, then echo.

    Args:
        text: What to echo.
    """
    MEETING.arrive(text)
    for _ in range(int(HANG_GUARD / 0.01)):
        if MEETING.everyone.is_set():
            return text
        await asyncio.sleep(0.01)
    return f"{text} waited alone"


@tool
def meet_in_thread(text: str) -> str:
    """Block a worker thread until every expected call has started, then echo.

    Args:
        text: What to echo.
    """
    MEETING.arrive(text)
    return text if MEETING.everyone.wait(HANG_GUARD) else f"{text} waited alone"


@tool
def explode(reason: str) -> str:
    """Always fails.

    Args:
        reason: Why.
    """
    if reason == "tool-error":
        raise ToolError("the file is locked")
    raise RuntimeError(reason)


TOOLS = [get_tool(f) for f in (add, meet, meet_in_thread, explode)]


def runtime(server: ScriptedOpenAIServer, tmp_path: Path, **options: object) -> AgentRuntime:
    provider = OpenAICompatProvider(api_key="k", base_url=server.base_url,
                                    retry=RetryPolicy(max_retries=2, base_delay=0.001))
    return AgentRuntime(name="assistant", provider=provider, model="gpt-4o",
                        system_prompt="You help.", tools=[t for t in TOOLS if t],
                        context=ToolContext(tmp_path), **options)  # type: ignore[arg-type]


async def collect(agent: AgentRuntime, task: str = "go") -> tuple[list[object], list[Message]]:
    messages = [Message.user(task)]
    events = [event async for event in agent.run(messages, task=task)]
    return events, messages


async def test_tool_call_then_answer(scripted_openai: ScriptedOpenAIServer, tmp_path: Path):
    scripted_openai.add(Reply.call("add", {"a": 2, "b": 3}), Reply.say("The sum is 5."))
    events, messages = await collect(runtime(scripted_openai, tmp_path))
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    assert (finished.status, finished.output, finished.turns) == ("completed", "The sum is 5.", 2)
    assert finished.input_tokens == 20 and finished.output_tokens == 10
    result = next(e for e in events if isinstance(e, ToolCallFinished))
    assert (result.name, result.result, result.is_error) == ("add", "5", False)
    assert [m.role for m in messages] == ["user", "assistant", "tool", "assistant"]
    second = scripted_openai.requests[1].body["messages"]
    assert second[0] == {"role": "system", "content": "You help."}
    assert second[-1]["role"] == "tool" and second[-1]["content"] == "5"
    assert sum(isinstance(e, UsageReported) for e in events) == 2
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "The sum is 5."
    assert sum(isinstance(e, MessageCompleted) for e in events) == 3


async def test_parallel_tool_calls_overlap(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Two async tools and one blocking tool of one turn run at the same time: each waits
    for the other two to start, which only happens when none waits for another to finish."""
    meeting = Rendezvous(3)
    monkeypatch.setattr(sys.modules[__name__], "MEETING", meeting)
    scripted_openai.add(
        Reply.calls(ToolCall("meet", {"text": "a"}), ToolCall("meet", {"text": "b"}),
                    ToolCall("meet_in_thread", {"text": "c"})),
        Reply.say("done"))
    events, messages = await collect(runtime(scripted_openai, tmp_path))
    assert sum(isinstance(e, ToolCallStarted) for e in events) == 3
    assert sorted(meeting.arrived) == ["a", "b", "c"]
    results = messages[2].tool_results
    assert [r.content for r in results] == ["a", "b", "c"]  # call order, and nobody waited alone


async def test_tool_failures_become_results(scripted_openai: ScriptedOpenAIServer, tmp_path: Path):
    scripted_openai.add(
        Reply.calls(ToolCall("explode", {"reason": "tool-error"}),
                    ToolCall("explode", {"reason": "kaboom"}),
                    ToolCall("no_such_tool", {}),
                    ToolCall("add", raw_arguments="{not json"),
                    ToolCall("add", {"a": "x"})),
        Reply.say("I recovered."))
    events, messages = await collect(runtime(scripted_openai, tmp_path))
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"
    results = messages[2].tool_results
    assert all(r.is_error for r in results)
    assert results[0].content == "Error: the file is locked"
    assert "RuntimeError: kaboom" in results[1].content
    assert "unknown tool 'no_such_tool'" in results[2].content and "add" in results[2].content
    assert "not a valid JSON object" in results[3].content
    assert "invalid arguments for add" in results[4].content
    sent = scripted_openai.requests[1].body["messages"]
    assert [m["role"] for m in sent[-5:]] == ["tool"] * 5


async def test_max_turns_stops_clearly(scripted_openai: ScriptedOpenAIServer, tmp_path: Path):
    scripted_openai.add(*[Reply.call("add", {"a": 1, "b": i}) for i in range(3)])
    events, _ = await collect(runtime(scripted_openai, tmp_path, max_turns=3))
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "max_turns"
    error = next(e for e in events if isinstance(e, Error))
    assert error.kind == "max_turns" and "3 turns" in error.message
    assert len(scripted_openai.requests) == 3


async def test_provider_error_ends_run_with_error_event(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
):
    scripted_openai.add(Reply.error(401))
    agent = runtime(scripted_openai, tmp_path)
    events, _ = await collect(agent)
    assert isinstance(events[-1], RunFinished) and events[-1].status == "error"
    assert any(isinstance(e, Error) and "rejected (401)" in e.message for e in events)
    assert agent.outcome.error is not None


async def test_dropped_stream_warns_and_retries(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
):
    scripted_openai.add(Reply.say("partial answer that is long", drop=True), Reply.say("whole"))
    events, messages = await collect(runtime(scripted_openai, tmp_path))
    assert any(isinstance(e, Warning) for e in events)
    assert messages[-1].text == "whole"


async def test_length_finish_warns(scripted_openai: ScriptedOpenAIServer, tmp_path: Path):
    scripted_openai.add(Reply.say("cut", finish_reason="length"))
    events, _ = await collect(runtime(scripted_openai, tmp_path))
    assert any(isinstance(e, Warning) and "token limit" in e.message for e in events)


async def test_tool_calls_over_the_turn_limit_are_answered_not_run(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    meeting = Rendezvous(99)  # counts the calls that really ran; nobody waits for 99
    monkeypatch.setattr(sys.modules[__name__], "MEETING", meeting)
    monkeypatch.setattr(sys.modules[__name__], "HANG_GUARD", 0.0)
    calls = [ToolCall("meet_in_thread", {"text": str(n)}) for n in range(5)]
    scripted_openai.add(Reply.calls(*calls), Reply.calls(*calls[:2]), Reply.say("done"))
    events, messages = await collect(runtime(scripted_openai, tmp_path,
                                             max_tool_calls_per_turn=3))
    assert sorted(meeting.arrived) == ["0", "0", "1", "1", "2"]
    first = messages[2].tool_results
    assert [r.is_error for r in first] == [False, False, False, True, True]
    assert first[3].content.startswith("Error: not run — at most 3 tool calls per turn")
    assert [r.is_error for r in messages[4].tool_results] == [False, False]  # a new turn
    sent = [m for m in scripted_openai.requests[1].body["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in sent][3:] == [first[3].content, first[4].content]
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"


async def test_no_turn_limit_runs_every_call(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
):
    scripted_openai.add(Reply.calls(*[ToolCall("add", {"a": n, "b": 1}) for n in range(60)]),
                        Reply.say("done"))
    _, messages = await collect(runtime(scripted_openai, tmp_path, max_tool_calls_per_turn=None))
    assert [r.content for r in messages[2].tool_results] == [str(n + 1) for n in range(60)]
