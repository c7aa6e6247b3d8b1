"""Shared by the task tests: a project folder and the environment a task runs with."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from moco.testing import ScriptedOpenAIServer


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def task_env(scripted_openai: ScriptedOpenAIServer, moco_home: Path) -> dict[str, str]:
    """This process's environment (MOCO_HOME is the test's) pointed at the scripted server."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.pop("MOCO_DEFAULT_PROVIDER", None)
    env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=scripted_openai.base_url,
               MOCO_HOME=str(moco_home))
    return env
