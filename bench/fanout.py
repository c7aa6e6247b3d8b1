"""Parallel fan-out: one agent delegating to 10 sub-agents in one turn, against one sub-agent.

The primary agent of a temporary profile makes ten ``delegate_to_agent`` calls in a single
turn. Every sub-agent takes two model turns — a ``list_dir`` call, then its answer — and the
scripted model waits 300 ms before each reply, so one sub-agent needs at least 0.6 s. Measured:
the fan-out window, from the first ``AgentDelegated`` event to the last ``AgentReturned``. If
the sub-agents really run concurrently, ten take about as long as one (target: < 1.25x).

Runs with the default limit (``max_parallel_agents=10``: all ten at once) and with a limit
of 5 (two waves), to show the limit at work. Prints numbers only.
Run: python bench/fanout.py [rounds]
"""

from __future__ import annotations

import asyncio
import inspect
import statistics
import sys
import tempfile
import time
from pathlib import Path

from moco.core.events import AgentDelegated, AgentReturned, RunFinished
from moco.core.orchestrator import Orchestrator
from moco.testing import Reply, RoutedScript, ScriptedOpenAIServer, ToolCall

AGENTS = 10
LATENCY = 0.3  # seconds the scripted model waits before each reply
TURNS = 2  # per sub-agent: list_dir, then the answer
DEFAULT_LIMIT: int = inspect.signature(Orchestrator).parameters["max_parallel_agents"].default


def worker(index: int) -> str:
    return f"worker-{index}"


def write_profile(folder: Path) -> Path:
    """A profile: ``boss`` (primary) and ``worker-0`` … ``worker-9`` (list_dir only)."""
    profile = folder / "fanout"
    agents = profile / "agents"
    agents.mkdir(parents=True)
    (profile / "profile.yaml").write_text(
        "name: fanout\ninclude_base_tools: true\ndefault_agent: boss\n")
    (agents / "boss.md").write_text(
        "---\ndescription: Hands work out.\nmode: primary\ntools: [delegate_to_agent]\n---\n"
        "You are the boss.\n")
    for index in range(AGENTS):
        (agents / f"{worker(index)}.md").write_text(
            f"---\ndescription: Worker {index}.\nmode: subagent\ntools: [list_dir]\n---\n"
            f"You are {worker(index)}.\n")
    return profile


def script(count: int) -> RoutedScript:
    """The boss delegates to ``count`` workers in one turn, then answers; each worker lists
    the directory, then answers; every worker reply takes ``LATENCY`` seconds."""
    calls = [ToolCall("delegate_to_agent", {"agent_name": worker(i), "task": f"job {i}"})
             for i in range(count)]
    routes = {"You are the boss.": [Reply.calls(*calls), Reply.say("all done")]}
    for index in range(count):
        routes[f"You are {worker(index)}."] = [
            Reply.call("list_dir", {"path": "."}, latency=LATENCY),
            Reply.say(f"{worker(index)} done", latency=LATENCY),
        ]
    return RoutedScript(routes)


async def fan_out(profile: Path, workdir: Path, count: int, limit: int) -> float:
    """One run; the seconds from the first delegation to the last return."""
    routed = script(count)
    with ScriptedOpenAIServer(routed) as server:
        orch = Orchestrator(profile=str(profile), provider="openai", working_dir=workdir,
                            env={"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url,
                                 "MOCO_HOME": str(workdir / ".moco-home")},
                            max_parallel_agents=limit)
        first = last = 0.0
        returned = 0
        final = None
        async for event in orch.events("go"):
            if isinstance(event, AgentDelegated) and not first:
                first = time.perf_counter()
            elif isinstance(event, AgentReturned):
                last = time.perf_counter()
                returned += 1
                assert event.status == "completed", event
            elif isinstance(event, RunFinished) and event.agent == "boss":
                final = event.output
    assert returned == count and final == "all done", (returned, final)
    assert not routed.remaining and len(server.requests) == 2 + TURNS * count, routed.remaining
    return last - first


async def windows(profile: Path, workdir: Path, count: int, limit: int,
                  rounds: int) -> list[float]:
    await fan_out(profile, workdir, count, limit)  # warm up
    return [await fan_out(profile, workdir, count, limit) for _ in range(rounds)]


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        profile = write_profile(folder / "profiles")
        workdir = folder / "work"
        workdir.mkdir()
        (workdir / "notes.txt").write_text("something to list\n")
        single = await windows(profile, workdir, 1, AGENTS, rounds)
        full = await windows(profile, workdir, AGENTS, DEFAULT_LIMIT, rounds)
        halved = await windows(profile, workdir, AGENTS, AGENTS // 2, rounds)
    floor = TURNS * LATENCY
    print(f"sub-agents: {TURNS} model turns each (list_dir, answer), {LATENCY * 1000:.0f} ms "
          f"scripted latency per turn (floor {floor:.2f} s); fan-out window over {rounds} "
          "rounds: median (max); ratio of medians")
    rows = [
        ("1 sub-agent", single, ""),
        (f"{AGENTS} sub-agents, max_parallel_agents={DEFAULT_LIMIT} (default)", full,
         " (target < 1.25x)"),
        (f"{AGENTS} sub-agents, max_parallel_agents={AGENTS // 2}", halved, " (two waves)"),
    ]
    base = statistics.median(single)
    for label, samples, note in rows:
        median = statistics.median(samples)
        ratio = "" if samples is single else f"   ratio {median / base:.2f}x{note}"
        print(f"{label:<66} {median:6.3f} s ({max(samples):.3f}){ratio}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
