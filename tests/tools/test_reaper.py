"""A moco killed with SIGKILL leaves no shell command running behind it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RUN_SHELL = """
import asyncio, sys
from pathlib import Path
from moco.tools.context import ToolContext
from moco.tools.shell import execute_bash

async def main() -> None:
    await execute_bash(ToolContext(working_dir=Path.cwd()), sys.argv[1], timeout=120)

asyncio.run(main())
"""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(condition: object, attempts: int = 1200) -> bool:
    """Poll up to a minute (a guard against hanging, not a measure of speed)."""
    for _ in range(attempts):
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to watch processes")
def test_shell_commands_die_with_a_killed_moco(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    late = tmp_path / "late.txt"
    command = (f"echo $$ > {pids}; (sleep 30; echo late > {late}) & echo $! >> {pids}; "
               f"sleep 30; echo late > {late}")
    process = subprocess.Popen([sys.executable, "-c", RUN_SHELL, command], cwd=tmp_path)
    try:
        assert wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 2)
        shell, background = map(int, pids.read_text().split())
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        assert wait_until(lambda: not alive(shell) and not alive(background)), \
            "the shell or its background child outlived moco"
    finally:
        process.kill()
    assert not late.exists()


def test_a_finished_command_is_forgotten(tmp_path: Path) -> None:
    from moco.tools.reaper import GroupReaper

    reaper = GroupReaper()
    sleeper = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        reaper.register(sleeper.pid)
        reaper.unregister(sleeper.pid)
        watcher = reaper._watcher
        assert watcher is not None and watcher.stdin is not None
        watcher.stdin.close()  # what the kernel does when moco dies
        watcher.wait(10)
        assert sleeper.poll() is None, "an unregistered group was killed"
    finally:
        sleeper.kill()
        sleeper.wait()
