"""Concurrent streaming sessions through `moco ui`: the latency the web path adds per event over
the CLI path, the server's memory per session, and its event throughput.

Three processes, so that they do not share a GIL (on two cores they still share the CPU): the
scripted OpenAI server (this script, ``--llm-server``), ``moco ui --provider openai`` (real
uvicorn) in front of it, and this one: the client, and the CLI path in-process
(``Orchestrator(...).events()``, as ``moco run`` consumes it). Web path: ``POST /api/sessions``
per session, one SSE stream (``GET .../events``) each, then ``POST .../messages`` to all at once.

Latency: each text chunk is a placeholder that becomes ``t=<time.monotonic_ns()>;`` when the
scripted server writes it (CLOCK_MONOTONIC is system-wide: readings of different processes
compare). The server builds an answer's frames up front, but its handler calls
``frame.encode()`` right before each ``wfile.write``, so the frames are a ``str`` subclass
whose ``encode`` takes the reading (nothing in src/ changes; a warning is printed if an
answer's stamps do not span ``chunks * delay``). A receiver subtracts the stamp from its clock
when a ``text_delta`` arrives: the openai SDK and the agent loop (both paths), plus the event
log, JSON, SSE, HTTP and the client's line reading (web path). The message tells the scripted
server how many chunks and how fast. Cases: 1 session, then ``--sessions`` at once for each
``--chunk-delay``, after a short warm-up. Memory: VmRSS of ``moco ui`` (/proc/<pid>/status);
it holds at most ``MAX_IDLE_LIVE`` idle orchestrators. CPU: user+system s per process per case.
Run: python bench/web_sessions.py [--sessions 50] [--chunks 200] [--chunk-delay 0.05 0.01]
     [--cprofile FILE]  (runs the UI server under cProfile, to see where its time goes)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from moco.testing import RecordedRequest, Reply, ScriptedOpenAIServer
from moco.web.service import MAX_IDLE_LIVE

PLACEHOLDER = "########"  # one 8-character piece of Reply.text_chunks()
STAMP = re.compile(r"t=(\d+);")
ASK = re.compile(r"chunks=(\d+) delay=([\d.]+)")
TOKEN = "bench-token-0123456789"
PIDS: dict[str, int] = {"client": os.getpid()}  # whose CPU time is shown: llm, ui, client


class StampedFrame(str):
    """An SSE frame whose placeholder becomes the clock reading when it is encoded to be sent."""

    __slots__ = ()

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.replace(PLACEHOLDER, f"t={time.monotonic_ns()};").encode(encoding, errors)


class StampingServer(ScriptedOpenAIServer):
    def sse_events(self, reply: Reply, request: RecordedRequest) -> Iterator[str]:
        for frame in super().sse_events(reply, request):
            yield StampedFrame(frame) if PLACEHOLDER in frame else frame


def answer(request: RecordedRequest) -> Reply:
    """``chunks`` stamped chunks ``delay`` seconds apart, as the last message asks."""
    asked = ASK.search(json.dumps(request.body["messages"][-1]))
    chunks, delay = (int(asked[1]), float(asked[2])) if asked else (10, 0.0)
    return Reply.say(PLACEHOLDER * chunks, chunk_delay=delay)


@dataclass
class Run:
    label: str
    chunks: int
    delay: float
    latencies: list[float] = field(default_factory=list)  # ms, one per stamp received
    events: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    spread: float = 0.0  # seconds from an answer's first stamp to its last (the largest)
    cpu: dict[str, float] = field(default_factory=dict)

    def take(self, text: str, now: int, stamps: list[int]) -> None:
        found = [int(s) for s in STAMP.findall(text)]
        self.latencies.extend((now - s) / 1e6 for s in found)
        stamps.extend(found)

    def check(self, stamps: list[int], where: str) -> None:
        if len(stamps) != self.chunks:
            self.errors.append(f"{where}: {len(stamps)} of {self.chunks} chunks")
        elif stamps:
            self.spread = max(self.spread, (stamps[-1] - stamps[0]) / 1e9)

    def start(self) -> None:
        self.seconds, self.cpu = time.perf_counter(), cpu_seconds()

    def stop(self) -> Run:
        self.seconds = time.perf_counter() - self.seconds
        self.cpu = {name: value - self.cpu.get(name, 0) for name, value in cpu_seconds().items()}
        return self


def cpu_seconds() -> dict[str, float]:
    stats = {name: Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
             for name, pid in PIDS.items()}  # fields 14 and 15: utime, stime
    return {name: (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK") for name, f in stats.items()}


def rss_kib(pid: int) -> int:
    found = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    assert found is not None, f"no VmRSS for {pid}"
    return int(found[1])


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[round(q * (len(values) - 1))] if values else 0.0


async def cli_run(label: str, orchestrators: list[Any], chunks: int, delay: float) -> Run:
    run = Run(label, chunks, delay)

    async def one(orch: Any) -> None:
        stamps: list[int] = []
        status = None
        async for event in orch.events(f"chunks={chunks} delay={delay}"):
            now = time.monotonic_ns()
            run.events += 1
            if event.type == "text_delta":
                run.take(event.text, now, stamps)
            elif event.type == "run_finished" and event.parent_run_id is None:
                status = event.status
        run.check(stamps, orch.session_id or "cli")
        if status != "completed":
            run.errors.append(f"CLI run finished {status}")

    run.start()
    await asyncio.gather(*(one(orch) for orch in orchestrators))
    return run.stop()


async def web_run(label: str, client: httpx2.AsyncClient, ids: list[str], chunks: int,
                  delay: float) -> Run:
    run = Run(label, chunks, delay)
    ready = [asyncio.Event() for _ in ids]

    async def follow(session_id: str, opened: asyncio.Event) -> None:
        stamps: list[int] = []
        finished = None
        async with client.stream("GET", f"/api/sessions/{session_id}/events") as stream:
            opened.set()
            if stream.status_code != 200:
                run.errors.append(f"events {session_id}: HTTP {stream.status_code}")
                return
            kind = ""
            async for line in stream.aiter_lines():
                now = time.monotonic_ns()
                if line.startswith("event: "):
                    kind = line[7:]
                    run.events += 1
                elif kind == "text_delta" and line.startswith("data: "):
                    run.take(line, now, stamps)
                elif kind == "turn_finished" and line.startswith("data: "):
                    finished = json.loads(line[6:])["status"]
                    break
        run.check(stamps, session_id)
        if finished != "completed":
            run.errors.append(f"{session_id}: turn_finished {finished}")

    async def send(session_id: str) -> None:
        sent = await client.post(f"/api/sessions/{session_id}/messages",
                                 json={"text": f"chunks={chunks} delay={delay}"})
        if sent.status_code != 202:
            run.errors.append(f"message {session_id}: HTTP {sent.status_code} {sent.text}")

    followers = [asyncio.create_task(follow(s, flag)) for s, flag in zip(ids, ready, strict=True)]
    await asyncio.gather(*(flag.wait() for flag in ready))
    run.start()
    await asyncio.gather(*(send(session_id) for session_id in ids))
    try:
        await asyncio.wait_for(asyncio.gather(*followers), 60 + chunks * delay * 4)
    except TimeoutError:
        run.errors.append("timed out waiting for turn_finished")
    return run.stop()


def clean_env(base_url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_API_KEY") and k != "MOCO_DEFAULT_PROVIDER"}
    return {**env, "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": base_url,
            "MOCO_HOME": str(home), "MOCO_TRUST_ALL": "1", "MOCO_UI_TOKEN": TOKEN}


async def cli_phase(base_url: str, temp: Path, args: argparse.Namespace) -> list[Run]:
    from moco.core.orchestrator import Orchestrator

    env = clean_env(base_url, temp / "cli-home")
    orchs = [Orchestrator(provider="openai", working_dir=temp / "work", env=env)
             for _ in range(args.sessions + 1)]
    await cli_run("warm-up", orchs[-1:], 20, 0.0)
    delays = args.chunk_delay
    runs = [await cli_run("CLI, 1 session", orchs[-1:], args.chunks, min(delays))]
    for delay in delays:
        runs.append(await cli_run(f"CLI, {args.sessions} at once", orchs[:-1], args.chunks, delay))
    for orch in orchs:
        await orch.aclose()
    return runs


async def web_phase(url: str, pid: int, args: argparse.Namespace,
                    memory: list[tuple[str, int]]) -> tuple[list[Run], float]:
    async def create(count: int) -> list[str]:
        made = [await client.post("/api/sessions", json={}) for _ in range(count)]
        return [str(response.raise_for_status().json()["id"]) for response in made]

    memory.append(("idle after start", rss_kib(pid)))
    limits = httpx2.Limits(max_connections=2 * args.sessions + 10)
    async with httpx2.AsyncClient(base_url=url, timeout=30, limits=limits,
                                  headers={"authorization": f"Bearer {TOKEN}"}) as client:
        warm = await create(1)
        await web_run("warm-up", client, warm, 20, 0.0)
        runs = [await web_run("web, 1 session", client, warm, args.chunks, min(args.chunk_delay))]
        memory.append(("after warm-up (1 session, 2 turns)", rss_kib(pid)))
        started = time.perf_counter()
        ids = await create(args.sessions)
        creating = time.perf_counter() - started
        memory.append((f"after creating {args.sessions} sessions", rss_kib(pid)))
        for number, delay in enumerate(args.chunk_delay, 1):
            runs.append(await web_run(f"web, {args.sessions} at once", client, ids,
                                      args.chunks, delay))
            memory.append((f"after {args.sessions} x {number} turn(s)", rss_kib(pid)))
    return runs, creating


def start_ui(base_url: str, temp: Path, cprofile: str | None) -> tuple[Any, str]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = int(sock.getsockname()[1])
    profiling = ["-m", "cProfile", "-o", cprofile] if cprofile else []
    command = [sys.executable, *profiling, "-m", "moco", "ui", "-p", str(port),
               "--provider", "openai", "-w", str(temp / "work")]
    with (temp / "ui.log").open("wb") as log:  # the login line, and any traceback
        server = subprocess.Popen(command, env=clean_env(base_url, temp / "ui-home"),
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        try:
            httpx2.get(f"{url}/api/info", headers={"authorization": f"Bearer {TOKEN}"},
                       timeout=1).raise_for_status()
            return server, url
        except httpx2.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("moco ui did not start:\n" + (temp / "ui.log").read_text())


def report(runs: list[Run], args: argparse.Namespace) -> None:
    print(f"latency per text_delta (ms), from the scripted server's socket write to the "
          f"consumer; {args.chunks} chunks per answer; CPU s: llm/ui/client processes")
    print(f"{'path':<18}{'delay':>6}{'events':>7}{'ev/s':>6}{'p50':>8}{'p90':>8}{'p99':>8}"
          f"{'max':>8}{'wall s':>7}{'errors':>7}  CPU s")
    for run in runs:
        values = run.latencies
        cpu = "/".join(f"{run.cpu[name]:.2f}" if name in run.cpu else "-"
                       for name in ("llm", "ui", "client"))
        late = run.spread < 0.5 * (run.chunks - 1) * run.delay  # stamps taken too early?
        print(f"{run.label:<18}{run.delay * 1000:>4.0f}ms{run.events:>7}"
              f"{run.events / run.seconds:>6.0f}{percentile(values, 0.5):>8.2f}"
              f"{percentile(values, 0.9):>8.2f}{percentile(values, 0.99):>8.2f}"
              f"{max(values, default=0):>8.2f}{run.seconds:>7.2f}{len(run.errors):>7}  {cpu}"
              + (f"  WARNING: stamps span only {run.spread:.3f} s" if late else ""))
    half = len(runs) // 2
    for cli, web in zip(runs[:half], runs[half:], strict=True):
        p50, p99 = (percentile(web.latencies, q) - percentile(cli.latencies, q)
                    for q in (0.5, 0.99))
        print(f"added by the web path, {web.label[5:]}, {web.delay * 1000:.0f} ms apart: "
              f"p50 {p50:+.2f} ms, p99 {p99:+.2f} ms")
    for error in [f"{run.label}: {error}" for run in runs for error in run.errors][:10]:
        print(f"  error ({error})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--chunks", type=int, default=200, help="text chunks per answer")
    parser.add_argument("--chunk-delay", type=float, nargs="+", default=[0.05, 0.01],
                        help="seconds between chunks; one concurrent case per value")
    parser.add_argument("--cprofile", help="write the UI server's cProfile output here")
    parser.add_argument("--llm-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.llm_server:  # the scripted model's process: serves until stdin closes
        with StampingServer(answer) as server:
            print(server.base_url, flush=True)
            sys.stdin.read()
        return
    llm = subprocess.Popen([sys.executable, __file__, "--llm-server"], text=True,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert llm.stdout is not None and llm.stdin is not None
    base_url, PIDS["llm"] = llm.stdout.readline().strip(), llm.pid
    memory: list[tuple[str, int]] = []
    try:
        with tempfile.TemporaryDirectory() as name:
            temp = Path(name)
            (temp / "work").mkdir()
            runs = asyncio.run(cli_phase(base_url, temp, args))
            ui, url = start_ui(base_url, temp, args.cprofile)
            PIDS["ui"] = ui.pid
            try:
                web, creating = asyncio.run(web_phase(url, ui.pid, args, memory))
            finally:
                ui.send_signal(signal.SIGINT)  # uvicorn stops cleanly; cProfile writes its file
                ui.wait(timeout=30)
                server_log = (temp / "ui.log").read_text(errors="replace")
    finally:
        llm.stdin.close()
        llm.wait(timeout=10)
    report(runs + web, args)
    if "Traceback" in server_log:
        print("the UI server logged errors:\n" + server_log[-3000:])
    print(f"\nserver VmRSS (MiB); creating {args.sessions} sessions took {creating:.2f} s "
          f"({creating * 1000 / args.sessions:.1f} ms each); at most {MAX_IDLE_LIVE} idle held")
    for index, (label, kib) in enumerate(memory):
        per = (kib - memory[1][1]) / args.sessions
        print(f"  {label:<36}{kib / 1024:7.1f}" + (f"  {per:6.0f} KiB/session over the "
                                                   "warm-up" if index >= 2 else ""))


if __name__ == "__main__":
    main()
