"""Fixtures for the sandbox tests: folders the test made, outside ``/tmp`` (bubblewrap gives
commands a private ``/tmp``, which would hide a target there for the wrong reason), and a
context whose commands run under the real bubblewrap or the real Landlock.

A kind that cannot work here skips with the reason; with ``MOCO_SANDBOX_REQUIRED=1`` (CI) it
fails instead.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from moco.sandbox import SandboxPolicy, SandboxSettings, build_policy, choose_sandbox
from moco.sandbox.base import Sandbox
from moco.tools.base import get_tool
from moco.tools.context import ToolContext
from moco.tools.shell import execute_bash

KINDS = ["bwrap", "landlock"]
#: what the tests plant where commands must not read it
CANARY = "moco-canary-4f1e9b"


def require(kind: str) -> None:
    """Skip (or, in CI, fail) when ``kind`` cannot run here."""
    from moco.errors import ConfigError

    if not sys.platform.startswith("linux"):
        pytest.skip(f"{kind} needs Linux")
    try:
        choose_sandbox(SandboxPolicy(working_dir=Path(tempfile.gettempdir())), kind)
    except ConfigError as error:
        if os.environ.get("MOCO_SANDBOX_REQUIRED"):
            pytest.fail(f"{kind} is required here: {error}")
        pytest.skip(str(error))


@dataclass
class Area:
    """``base``/work (the working directory), outside (a target), home (``HOME``),
    moco-home (``MOCO_HOME``)."""

    base: Path

    @property
    def work(self) -> Path:
        return self.base / "work"

    @property
    def outside(self) -> Path:
        return self.base / "outside"

    @property
    def home(self) -> Path:
        return self.base / "home"

    @property
    def moco_home(self) -> Path:
        return self.base / "moco-home"


@pytest.fixture
def area(monkeypatch: pytest.MonkeyPatch) -> Iterator[Area]:
    base = Path(tempfile.mkdtemp(prefix="moco-sandbox-test-", dir="/var/tmp")).resolve()
    made = Area(base)
    for folder in (made.work, made.outside, made.home, made.moco_home):
        folder.mkdir()
    monkeypatch.setenv("HOME", str(made.home))
    monkeypatch.setenv("MOCO_HOME", str(made.moco_home))
    yield made
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    require(request.param)
    return str(request.param)


def make_sandbox(kind: str, area: Area, *, network: bool = True) -> Sandbox:
    settings = SandboxSettings(mode=kind, network=network)  # type: ignore[arg-type]
    return choose_sandbox(build_policy(area.work, dict(os.environ), settings), kind).sandbox


def context(sandbox: Sandbox, area: Area) -> ToolContext:
    return ToolContext(working_dir=area.work, sandbox=sandbox)


async def sh(ctx: ToolContext, command: str, timeout: int = 60) -> str:  # noqa: ASYNC109
    """Run ``command`` through the shell tool, as an agent would."""
    tool = get_tool(execute_bash)
    assert tool is not None
    return await tool.invoke(ctx, {"command": command, "timeout": timeout})
