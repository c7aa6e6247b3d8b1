"""What confinement adds to one command: the median of N ``true`` runs through
``execute_bash``, unconfined, under bubblewrap and under Landlock (target: bubblewrap adds
under 20 ms).

Run: python bench/sandbox.py [runs]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from moco.errors import ConfigError
from moco.sandbox import SandboxSettings, build_policy, choose_sandbox
from moco.sandbox.base import Sandbox
from moco.tools.base import get_tool
from moco.tools.context import ToolContext
from moco.tools.shell import execute_bash

TARGET_MS = 20.0


async def median_ms(sandbox: Sandbox, workdir: Path, runs: int) -> float:
    tool = get_tool(execute_bash)
    assert tool is not None
    ctx = ToolContext(working_dir=workdir, sandbox=sandbox)
    await tool.invoke(ctx, {"command": "true"})  # warm up (and the bwrap probe)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await tool.invoke(ctx, {"command": "true"})
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def main(runs: int) -> int:
    with tempfile.TemporaryDirectory(dir="/var/tmp") as folder:
        workdir = Path(folder)
        results: dict[str, float] = {}
        for mode in ("off", "bwrap", "landlock"):
            policy = build_policy(workdir, {}, SandboxSettings(mode=mode))  # type: ignore[arg-type]
            try:
                sandbox = choose_sandbox(policy, mode).sandbox
            except ConfigError as error:
                print(f"{mode:9} unavailable: {error}")
                continue
            results[mode] = await median_ms(sandbox, workdir, runs)
            added = results[mode] - results.get("off", results[mode])
            print(f"{mode:9} {sandbox.name:28} median {results[mode]:6.1f} ms "
                  f"(+{added:5.1f} ms over unconfined, {runs} runs)")
    if "bwrap" in results and results["bwrap"] - results["off"] > TARGET_MS:
        print(f"bubblewrap adds more than {TARGET_MS:g} ms")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)))
