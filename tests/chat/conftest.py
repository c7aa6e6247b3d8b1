"""A chat on a real Orchestrator and database, its output captured, the model scripted."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from moco.chat.state import ChatState
from moco.core.orchestrator import Orchestrator
from moco.testing import ScriptedOpenAIServer


class Captured(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "main.py").write_text("print('hi')\n")
    (root / "docs").mkdir()
    (root / ".hidden").mkdir()
    (root / "README.md").write_text("# project\n")
    return root


@pytest.fixture
def orchestrator(project: Path, moco_home: Path,
                 scripted_openai: ScriptedOpenAIServer) -> Orchestrator:
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": scripted_openai.base_url,
           "MOCO_HOME": str(moco_home)}
    return Orchestrator(provider="openai", working_dir=project, env=env)


@pytest.fixture
def chat(orchestrator: Orchestrator) -> ChatState:
    return ChatState(orchestrator, out=Captured(), err=Captured())


def output(chat: ChatState) -> str:
    """Everything the chat printed (stdout and stderr) so far, then forget it."""
    text = ""
    for stream in (chat.out, chat.err):
        assert isinstance(stream, io.StringIO)
        text += stream.getvalue()
        stream.seek(0)
        stream.truncate()
    return text
