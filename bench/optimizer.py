"""Tokens the optimizer saves on the `development` profile's first request.

For a few typical tasks, the orchestrator's first request is captured at a scripted server
with and without the optimizer (lexical method, which makes no extra call), and the size is
printed in bytes and estimated tokens. The model method costs one extra small request; its
size is printed too.
Run: python bench/optimizer.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import Any

from moco.core.context_compressor import TokenCounter
from moco.core.messages import Message
from moco.core.orchestrator import Orchestrator
from moco.testing import Reply, RoutedScript, ScriptedOpenAIServer

TASKS = (
    "Write unit tests for the invoice parser",
    "Audit the login endpoint for security vulnerabilities",
    "Speed up the slow report query",
    "Document the public API of the billing service",
)


def estimate(body: dict[str, Any]) -> int:
    text = str(body.get("messages")) + str(body.get("tools"))
    return TokenCounter().estimate("", [Message.user(text)], [])


async def first_request(task: str, optimizer: bool, method: str = "lexical") -> list[Any]:
    script = RoutedScript({"You choose which specialist agents": [Reply.say('["unit-tester"]')],
                           "": [Reply.say("ok")]})
    with ScriptedOpenAIServer(script) as server, tempfile.TemporaryDirectory() as workdir:
        env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url,
               "MOCO_HOME": os.path.join(workdir, ".moco")}
        orch = Orchestrator(profile="development", provider="openai", working_dir=workdir,
                            env=env, optimizer=optimizer, optimizer_method=method, persist=False)
        async for _ in orch.events(task):
            pass
        return list(server.requests)


async def main() -> None:
    print(f"{'task':55} {'bytes':>14} {'tokens (est.)':>16} saved")
    saved = []
    for task in TASKS:
        full = (await first_request(task, optimizer=False))[0]
        lean = (await first_request(task, optimizer=True))[0]
        before, after = estimate(full.body), estimate(lean.body)
        saved.append(before - after)
        print(f"{task:55} {full.size:6} -> {lean.size:5} {before:7} -> {after:6} "
              f"{before - after:5} ({(before - after) / before:.0%})")
    chooser = (await first_request(TASKS[0], optimizer=True, method="model"))[0]
    print(f"average saved per request: {sum(saved) / len(saved):.0f} tokens; the model "
          f"method's selection call costs {chooser.size} bytes (~{estimate(chooser.body)} "
          "tokens) once per run")


if __name__ == "__main__":
    asyncio.run(main())
