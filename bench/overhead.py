"""Framework overhead per turn: moco's AgentRuntime vs a hand-written loop on the raw
`openai` SDK, both against the same scripted OpenAI server in the same process.

Each run is 20 tool-call turns plus a final answer (21 streamed requests).
Run: python bench/overhead.py [rounds]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from typing import Any

from moco.core.messages import Message
from moco.core.runtime import AgentRuntime
from moco.providers.openai_compat import OpenAICompatProvider
from moco.testing import Reply, ScriptedOpenAIServer, ToolCall
from moco.tools.base import get_tool, tool
from moco.tools.context import ToolContext

TOOL_TURNS = 20


@tool
def noop(value: int) -> str:
    """Return the value.

    Args:
        value: Any number.
    """
    return str(value)


NOOP_SCHEMA = {"type": "function", "function": {
    "name": "noop", "description": "Return the value.",
    "parameters": {"type": "object", "properties": {"value": {"type": "integer"}},
                   "required": ["value"]}}}


def script(request: Any) -> Reply:
    turns = sum(1 for m in request.body["messages"] if m["role"] == "tool")
    if turns < TOOL_TURNS:
        return Reply.calls(ToolCall("noop", {"value": turns}, id=f"c{turns}"), text="step")
    return Reply.say("all done")


def run_noop(arguments: dict[str, Any]) -> str:
    return str(arguments["value"])


async def raw_loop(client: Any, tools: list[dict[str, Any]] | None = None,
                   run_tool: Any = run_noop, system: str = "bench") -> float:
    messages: list[dict[str, Any]] = [{"role": "system", "content": system},
                                      {"role": "user", "content": "go"}]
    started = time.perf_counter()
    while True:
        stream = await client.chat.completions.create(
            model="m", messages=messages, tools=tools or [NOOP_SCHEMA], stream=True,
            stream_options={"include_usage": True})
        text, calls = [], {}
        async for chunk in stream:
            for choice in chunk.choices:
                if choice.delta.content:
                    text.append(choice.delta.content)
                for delta in choice.delta.tool_calls or []:
                    slot = calls.setdefault(delta.index, {"id": "", "name": "", "args": ""})
                    slot["id"] = delta.id or slot["id"]
                    if delta.function:
                        slot["name"] = delta.function.name or slot["name"]
                        slot["args"] += delta.function.arguments or ""
        if not calls:
            break
        messages.append({"role": "assistant", "content": "".join(text), "tool_calls": [
            {"id": c["id"], "type": "function",
             "function": {"name": c["name"], "arguments": c["args"]}} for c in calls.values()]})
        for c in calls.values():
            result = run_tool(json.loads(c["args"]))
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": result})
    return time.perf_counter() - started


async def moco_loop(provider: OpenAICompatProvider, workdir: str) -> float:
    runtime = AgentRuntime(name="bench", provider=provider, model="m", system_prompt="bench",
                           tools=[get_tool(noop)], context=ToolContext(workdir))  # type: ignore[list-item]
    started = time.perf_counter()
    async for _ in runtime.run([Message.user("go")], task="go"):
        pass
    assert runtime.outcome.turns == TOOL_TURNS + 1, runtime.outcome
    return time.perf_counter() - started


class ReplayProvider(OpenAICompatProvider):
    """No network at all: replays the scripted answers as provider events, so the time
    measured is the loop's own (messages, events, validation, the tool's thread hop)."""

    async def _stream_once(self, request: Any) -> Any:
        from moco.providers.base import (
            Finish,
            TextChunk,
            ToolCallReady,
            UsageChunk,
            parse_tool_arguments,
        )

        turns = sum(1 for m in request.messages if m.role == "tool")
        if turns < TOOL_TURNS:
            yield TextChunk("step")
            yield ToolCallReady(parse_tool_arguments(f"c{turns}", "noop", {"value": turns}))
            yield UsageChunk(10, 5)
            yield Finish("tool_calls")
        else:
            yield TextChunk("all done")
            yield UsageChunk(10, 5)
            yield Finish("stop")


async def framework_only(rounds: int, workdir: str) -> float:
    provider = ReplayProvider(api_key="k")
    samples = []
    for _ in range(rounds):
        samples.append(await moco_loop(provider, workdir))
    return statistics.median(samples) * 1000 / (TOOL_TURNS + 1)


def file_script(request: Any) -> Reply:
    turns = sum(1 for m in request.body["messages"] if m["role"] == "tool")
    if turns < TOOL_TURNS:
        return Reply.calls(ToolCall("file_info", {"path": f"f{turns}.txt"}), text="step")
    return Reply.say("all done")


async def full_stack(rounds: int, workdir: str) -> tuple[float, float]:
    """The whole Orchestrator (SQLite session, guardrails, permissions, redaction, loop
    detector, compression check) against a raw loop calling the same cheap tool."""
    import os
    from pathlib import Path

    from moco.core.orchestrator import Orchestrator

    for index in range(TOOL_TURNS):
        Path(workdir, f"f{index}.txt").write_text("x")  # noqa: ASYNC240 - setup, not timed
    with ScriptedOpenAIServer(file_script) as server:
        env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url,
               "MOCO_HOME": os.path.join(workdir, ".moco")}
        orch = Orchestrator(provider="openai", working_dir=workdir, env=env)
        import openai

        spec = orch.profile.primary_agent()
        system = orch.system_prompt(spec)
        tools = [{"type": "function", "function": t.schema()} for t in orch.tools_for(spec)]

        from moco.tools.filesystem import file_info

        context = ToolContext(workdir)

        def stat_file(arguments: dict[str, Any]) -> str:
            return str(file_info(context, arguments["path"]))  # the same tool, called inline

        client = openai.AsyncOpenAI(api_key="k", base_url=server.base_url, max_retries=0)
        samples_moco, samples_raw = [], []
        for _ in range(rounds + 1):
            started = time.perf_counter()
            async for _event in orch.events("go"):
                pass
            samples_moco.append(time.perf_counter() - started)
            samples_raw.append(await raw_loop(client, tools, stat_file, system))
        await client.close()
        await orch.aclose()
    return statistics.median(samples_raw[1:]), statistics.median(samples_moco[1:])


async def main(rounds: int) -> None:
    import openai

    with ScriptedOpenAIServer(script) as server, tempfile.TemporaryDirectory() as workdir:
        client = openai.AsyncOpenAI(api_key="k", base_url=server.base_url, max_retries=0)
        provider = OpenAICompatProvider(api_key="k", base_url=server.base_url)
        raw_times, moco_times = [], []
        await raw_loop(client)
        await moco_loop(provider, workdir)  # warm up both
        for _ in range(rounds):
            raw_times.append(await raw_loop(client))
            moco_times.append(await moco_loop(provider, workdir))
        await client.close()
        await provider.aclose()
        own = await framework_only(rounds * 4, workdir)
        raw_full, moco_full = await full_stack(rounds, workdir)
    turns = TOOL_TURNS + 1
    raw_ms = statistics.median(raw_times) * 1000
    moco_ms = statistics.median(moco_times) * 1000
    per_turn = (moco_ms - raw_ms) / turns
    print(f"{turns} turns ({TOOL_TURNS} tool calls), median of {rounds} rounds")
    print(f"raw openai loop  {raw_ms:8.2f} ms  ({raw_ms / turns:.3f} ms/turn)")
    print(f"moco runtime     {moco_ms:8.2f} ms  ({moco_ms / turns:.3f} ms/turn)")
    print(f"overhead         {per_turn:+8.3f} ms/turn (target < 0.5 ms; HTTP noise dominates)")
    print(f"loop's own cost  {own:8.3f} ms/turn (no network: events, validation, tool thread)")
    full_turn = (moco_full - raw_full) * 1000 / turns
    print(f"whole stack      {full_turn:+8.3f} ms/turn over the raw loop (Orchestrator: two "
          "SQLite commits per turn, guardrails, permissions, redaction, loop detector, "
          "compression check, the tool in a worker thread; same 14-tool request)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 15))
