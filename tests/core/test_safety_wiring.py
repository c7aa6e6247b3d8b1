"""Loop detection and secret redaction inside real runs (scripted LLM, real tools)."""

from __future__ import annotations

from pathlib import Path

from moco.core.events import Error, Event, RunFinished, Warning
from moco.core.orchestrator import Orchestrator
from moco.testing import Reply, ScriptedOpenAIServer, ToolCall

KEY = "sk-proj-Zx81TestKeyValue00000000000000000000abcd"


def orchestrator(server: ScriptedOpenAIServer, workdir: Path, **env: str) -> Orchestrator:
    return Orchestrator(
        provider="openai",
        working_dir=workdir,
        env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url, **env},
    )


async def collect(orch: Orchestrator, task: str) -> list[Event]:
    return [event async for event in orch.events(task)]


def tool_contents(server: ScriptedOpenAIServer, index: int) -> list[str]:
    return [m["content"] for m in server.requests[index].body["messages"] if m["role"] == "tool"]


async def test_identical_calls_warn_then_stop(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    scripted_openai.add(*[Reply.call("list_dir", {"path": "."})] * 6, Reply.say("never"))
    events = await collect(orchestrator(scripted_openai, tmp_path), "look")
    warned = [e for e in events if isinstance(e, Warning)]
    assert warned and "3 times" in warned[0].message
    assert any("[moco]" in c for c in tool_contents(scripted_openai, 3))
    stop = next(e for e in events if isinstance(e, Error))
    assert stop.kind == "loop"
    assert isinstance(events[-1], RunFinished) and events[-1].status == "stopped"
    assert len(scripted_openai.requests) == 5


async def test_oscillation_is_stopped(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    replies = [Reply.call("read_file", {"path": p}) for p in ["a.txt", "b.txt"] * 8]
    scripted_openai.add(*replies)
    events = await collect(orchestrator(scripted_openai, tmp_path), "compare")
    stop = next(e for e in events if isinstance(e, Error))
    assert stop.kind == "loop" and isinstance(events[-1], RunFinished)
    assert events[-1].status == "stopped"


async def test_same_error_again_and_again(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    replies = [Reply.call("read_file", {"path": f"missing-{i}.txt"}) for i in range(8)]
    scripted_openai.add(*replies)
    events = await collect(orchestrator(scripted_openai, tmp_path), "read")
    assert any(isinstance(e, Error) and e.kind == "loop" for e in events)


async def test_repeated_text_is_noticed(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    text = "Let me check the configuration file once more to be sure it is right."
    (tmp_path / "config.toml").write_text("x = 1\n")
    calls = [
        ToolCall("read_file", {"path": "config.toml"}),
        ToolCall("file_info", {"path": "config.toml"}),
    ] * 3
    replies = [Reply.calls(call, text=text) for call in calls[:5]]
    scripted_openai.add(*replies, Reply.say("done"))
    events = await collect(orchestrator(scripted_openai, tmp_path), "check")
    assert any(isinstance(e, Warning) and "nearly the same message" in e.message for e in events), [
        e for e in events if isinstance(e, Warning)
    ]


async def test_keys_never_reach_the_model_the_database_or_the_shell(
    scripted_openai: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    (tmp_path / "settings.txt").write_text(f"api_key = {KEY}\nregion = eu\n")
    scripted_openai.add(
        Reply.call("read_file", {"path": "settings.txt"}),
        Reply.call("execute_bash", {"command": "env | grep -c OPENAI_API_KEY || true"}),
        Reply.say(f"The key is {KEY}"),
    )
    orch = orchestrator(scripted_openai, tmp_path, GITHUB_TOKEN="ghp_" + "a1B2" * 9)
    events = await collect(orch, f"my key is {KEY}, check settings.txt")
    for request in scripted_openai.requests[1:]:
        assert KEY not in request.raw.decode()
    assert "[REDACTED" in tool_contents(scripted_openai, 1)[0]
    assert tool_contents(scripted_openai, 2)[-1].strip() == "0"
    assert all(KEY not in str(e.to_dict()) for e in events)
    assert isinstance(events[-1], RunFinished) and KEY not in events[-1].output
    database = orch.sessions.db.path
    orch.sessions.db.close()
    for path in database.parent.glob("moco.db*"):
        assert KEY.encode() not in path.read_bytes(), path
