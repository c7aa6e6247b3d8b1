"""Cancelling a team run reaches tools running in threads, in sub-agents too."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from moco.cancellation import CancelFlag, CancelScope
from moco.core.orchestrator import Orchestrator
from moco.errors import Cancelled
from moco.testing import Reply, RoutedScript, ScriptedOpenAIServer, ToolCall

SPIN_TOOL = '''
import time
from pathlib import Path
from moco.tools.base import tool
from moco.tools.context import ToolContext

@tool
def spin(ctx: ToolContext, marker: str) -> str:
    """Work until cancelled.

    Args:
        marker: File to report progress in.
    """
    Path(marker).write_text("started")
    for _ in range(600):  # gives up after about 30 s
        if ctx.is_cancelled:
            Path(marker).write_text("saw the cancel")
            return "stopped"
        time.sleep(0.05)
    Path(marker).write_text("never told")
    return "finished"
'''


@pytest.fixture
def team(tmp_path: Path) -> Path:
    profile = tmp_path / ".moco" / "profiles" / "team"
    (profile / "agents").mkdir(parents=True)
    (profile / "tools").mkdir()
    (profile / "tools" / "spin.py").write_text(SPIN_TOOL)
    (profile / "agents" / "lead.md").write_text(
        "---\ndescription: lead\nmode: primary\n---\nYou are lead.\n")
    (profile / "agents" / "worker.md").write_text(
        "---\ndescription: works\nmode: subagent\ntools: [spin]\n---\nYou are worker.\n")
    return tmp_path


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def wait_for_text(path: Path, text: str, attempts: int = 400) -> str:
    for _ in range(attempts):
        if read(path) == text:
            break
        await asyncio.sleep(0.05)
    return read(path)


async def test_cancel_reaches_a_thread_tool_of_a_sub_agent(team: Path) -> None:
    marker = team / "progress.txt"
    script = RoutedScript({
        "You are lead.": [Reply.call("delegate_to_agent",
                                     {"agent_name": "worker", "task": "spin"}),
                          Reply.say("done")],
        "You are worker.": [Reply.calls(ToolCall("spin", {"marker": str(marker)})),
                            Reply.say("spun")],
    })
    with ScriptedOpenAIServer(script) as server:
        env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url}
        orch = Orchestrator(profile="team", provider="openai", working_dir=team, env=env)
        scope = CancelScope()

        async def turn() -> None:
            async for _event in orch.events("go"):
                pass

        async def cancel_when_started() -> None:
            assert await wait_for_text(marker, "started") == "started"
            scope.cancel()

        canceller = asyncio.ensure_future(cancel_when_started())
        with pytest.raises(Cancelled):
            await scope.run(turn())
        await canceller
        assert await wait_for_text(marker, "saw the cancel") == "saw the cancel"
    assert orch.session_id is not None
    statuses = {run.agent: run.status for run in orch.sessions.runs(orch.session_id)}
    assert statuses == {"lead": "cancelled", "lead > worker": "cancelled"}


async def test_cancel_flag_wakes_waiters_from_another_thread() -> None:
    flag = CancelFlag()
    waiter = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    assert not waiter.done() and not flag.is_set()
    await asyncio.to_thread(flag.set)
    await asyncio.wait_for(waiter, 5)
    assert flag.is_set()
