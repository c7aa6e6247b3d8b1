"""Processes under the real sandboxes: moco's environment stays out of sight, nothing a
command starts outlives it, and ``network: false`` cuts even loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.conftest import CANARY, Area, context, make_sandbox, sh

#: run in a fresh interpreter whose environment holds a secret from the start, as moco's
#: does (``/proc/<pid>/environ`` shows the environment a process started with)
SHOW_ENVIRONMENTS = r"""
import asyncio, os, sys
from collections.abc import Iterator
from pathlib import Path
from moco.sandbox import SandboxSettings, build_policy, choose_sandbox
from moco.tools.base import get_tool
from moco.tools.context import ToolContext
from moco.tools.shell import execute_bash

kind, work = sys.argv[1], Path(sys.argv[2])
policy = build_policy(work, dict(os.environ), SandboxSettings(mode=kind))
ctx = ToolContext(working_dir=work, sandbox=choose_sandbox(policy, kind).sandbox,
                  hidden_env=frozenset({"MOCO_TEST_SECRET_KEY"}))
command = ("tr '\\0' '\\n' < /proc/$PPID/environ; ps eww -A 2>&1; "
           "for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f 2>/dev/null; done; echo end")
tool = get_tool(execute_bash)
print(asyncio.run(tool.invoke(ctx, {"command": command})))
"""


def show_environments(kind: str, area: Area) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SHOW_ENVIRONMENTS, kind, str(area.work)],
        env={**os.environ, "MOCO_TEST_SECRET_KEY": CANARY}, capture_output=True, text=True,
        timeout=60, check=True)
    return done.stdout


def test_moco_environment_is_out_of_sight(kind: str, area: Area) -> None:
    if kind == "landlock" and os.geteuid() == 0:
        pytest.skip("Landlock: a command running as root can read /proc/<moco>/environ "
                    "(a documented limit; bubblewrap's PID namespace covers it)")
    output = show_environments(kind, area)
    assert "end" in output
    assert CANARY not in output


def test_control_unconfined_commands_see_moco_environment(area: Area) -> None:
    assert CANARY in show_environments("off", area)


def _processes_naming(text: str) -> list[int]:
    """Live processes with ``text`` in their command line or environment (the tests give
    every process a command starts the marker in ``MOCO_TEST_MARKER``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            named = any(text.encode() in (entry / part).read_bytes()
                        for part in ("cmdline", "environ"))
            if named and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


async def _gone(marker: str) -> bool:
    for _ in range(100):
        if not _processes_naming(marker):
            return True
        await asyncio.sleep(0.05)
    return False


def _escapes(marker: str) -> str:
    """Three ways out; each sleeper carries ``marker`` as its own name (``exec -a``), so a
    leftover is found and the control's cleanup reaches it."""
    body = f"bash -c 'exec -a {marker} sleep 300' >/dev/null 2>&1"
    return f"setsid {body} & nohup {body} & ( {body} & ); disown -a; echo started"


async def test_background_children_do_not_outlive_the_command(kind: str, area: Area) -> None:
    marker = f"moco-bg-{uuid.uuid4().hex}"
    ctx = context(make_sandbox(kind, area), area)
    ctx.env = {"MOCO_TEST_MARKER": marker}
    output = await sh(ctx, _escapes(marker))
    assert "started" in output
    assert await _gone(marker), f"left behind: {_processes_naming(marker)}"


async def test_a_timed_out_command_dies_with_all_it_started(kind: str, area: Area) -> None:
    marker = f"moco-to-{uuid.uuid4().hex}"
    ctx = context(make_sandbox(kind, area), area)
    ctx.env = {"MOCO_TEST_MARKER": marker}
    output = await sh(ctx, f"{_escapes(marker)}; sleep 300; : {marker}", timeout=1)
    assert "timed out" in output
    assert await _gone(marker), f"left behind: {_processes_naming(marker)}"


async def test_control_unconfined_setsid_children_survive(area: Area) -> None:
    marker = f"moco-bg-{uuid.uuid4().hex}"
    ctx = context(make_sandbox("off", area), area)
    ctx.env = {"MOCO_TEST_MARKER": marker}
    await sh(ctx, _escapes(marker))
    try:
        await asyncio.sleep(0.2)
        assert _processes_naming(marker)
    finally:
        for pid in _processes_naming(marker):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def listening() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


async def test_no_network_cuts_a_loopback_connection(kind: str, area: Area,
                                                     listening: int) -> None:
    connect = ("python3 -c \"import socket; socket.create_connection(('127.0.0.1', "
               f"{listening}), 3); print('connected')\"")
    allowed = await sh(context(make_sandbox(kind, area), area), connect)
    assert "connected" in allowed
    cut = await sh(context(make_sandbox(kind, area, network=False), area), connect)
    assert "connected" not in cut
    assert "exit code" in cut
