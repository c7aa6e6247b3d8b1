"""``moco chat`` as a person uses it: a real pseudo-terminal, the real SDK, a scripted model.

Each test spawns ``python -m moco chat`` under pexpect and types into it. Waiting is done on
text (the prompt ``›`` or an expected answer), never on sleeps.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from moco.storage.session_logger import SessionLogger
from moco.testing import Reply, ScriptedOpenAIServer

pexpect = pytest.importorskip("pexpect")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal"),
]

TIMEOUT = 10
PROMPT = "›"
RESUME = r"resume with: moco chat -s (\w+)"


class Terminal:
    """A chat running in a pseudo-terminal."""

    def __init__(self, env: dict[str, str], cwd: Path, *args: str) -> None:
        self.child = pexpect.spawn(
            sys.executable, ["-m", "moco", "chat", *args], env=env, cwd=str(cwd),
            encoding="utf-8", codec_errors="replace", dimensions=(40, 160), timeout=TIMEOUT,
        )

    def prompt(self) -> None:
        self.child.expect_exact(PROMPT)

    def type(self, line: str) -> None:
        """Wait for the prompt, type ``line`` and press Enter."""
        self.prompt()
        self.child.send(line + "\r")

    def sees(self, text: str) -> None:
        self.child.expect_exact(text)

    def leaves(self) -> str:
        """Wait for the goodbye line and the end; returns the session id printed."""
        self.child.expect(RESUME)
        session_id = str(self.child.match.group(1))
        self.ends()
        return session_id

    def ends(self) -> None:
        self.child.expect(pexpect.EOF)
        self.child.close()
        assert self.child.exitstatus == 0, self.child.before

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


@pytest.fixture
def llm() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer([]) as server:
        yield server


@pytest.fixture
def env(llm: ScriptedOpenAIServer, moco_home: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    clean.pop("MOCO_DEFAULT_PROVIDER", None)
    clean.update(
        OPENAI_API_KEY="k", OPENAI_BASE_URL=llm.base_url, MOCO_HOME=str(moco_home),
        TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", COLUMNS="160", LINES="40",
    )
    return clean


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        terminal.close()


StartChat = Callable[..., Terminal]


@pytest.fixture
def start(env: dict[str, str], terminals: list[Terminal]) -> StartChat:
    def start_chat(cwd: Path, *args: str) -> Terminal:
        terminal = Terminal(env, cwd, *args)
        terminals.append(terminal)
        return terminal

    return start_chat


def test_a_conversation_with_a_tool_and_history(
    llm: ScriptedOpenAIServer, start: StartChat, project: Path, moco_home: Path
) -> None:
    llm.add(
        Reply.say("Two plus two is four."),
        Reply.call("write_file", {"path": "notes.txt", "content": "remember\n"}),
        Reply.say("Saved notes.txt."),
        Reply.say("Welcome back."),
    )
    chat = start(project)
    chat.sees("moco chat")
    chat.type("what is 2+2?")
    chat.sees("Two plus two is four.")
    chat.type("save a note")
    chat.sees("write_file")
    chat.sees("Saved notes.txt.")
    assert (project / "notes.txt").read_text() == "remember\n"
    second_turn = [m.get("content") for m in llm.requests[1].body["messages"]]
    assert "what is 2+2?" in second_turn and "Two plus two is four." in second_turn
    chat.prompt()
    chat.child.sendcontrol("d")
    session_id = chat.leaves()

    history = (moco_home / "chat_history").read_text()
    assert "+what is 2+2?" in history and "+save a note" in history
    logger = SessionLogger.open(home=moco_home)
    roles = [m.role for m in logger.load_messages(session_id)]
    assert roles == ["user", "assistant", "user", "assistant", "tool", "assistant"]

    resumed = start(project, "-s", session_id)
    resumed.sees(f"continuing session {session_id} (6 messages)")
    resumed.type("still remember?")
    resumed.sees("Welcome back.")
    resumed.prompt()
    resumed.child.sendcontrol("d")
    assert resumed.leaves() == session_id
    third_turn = [m.get("content") for m in llm.requests[-1].body["messages"]]
    assert "what is 2+2?" in third_turn and "Saved notes.txt." in third_turn


def test_slash_commands_bookmarks_and_model(
    llm: ScriptedOpenAIServer, start: StartChat, project: Path, tmp_path: Path
) -> None:
    (project / "sub").mkdir()
    (project / "sub" / "data.csv").write_text("a,b\n")
    llm.add(Reply.say("Answered by the new model."))
    chat = start(project)
    chat.type("/help")
    for command in ("/cd", "/workdir", "/model", "/checkpoint", "/cost", "keys:"):
        chat.sees(command)
    chat.type("/unknwn")
    chat.sees("unknown command /unknwn — try /help")
    chat.type("/cd sub")
    chat.sees(f"working directory: {project / 'sub'}")
    chat.type("/ls")
    chat.sees("data.csv")
    chat.type("/workdir add x")
    chat.sees("added bookmark x")
    chat.type("/model gpt-4.1")
    chat.sees("model: openai/gpt-4.1")
    chat.type("which model are you?")
    chat.sees("Answered by the new model.")
    assert llm.requests[-1].body["model"] == "gpt-4.1"
    chat.type("/quit")
    chat.leaves()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = start(elsewhere)
    again.type("/cd x")
    again.sees(f"working directory: {project / 'sub'}")
    again.type("/ls")
    again.sees("data.csv")
    again.prompt()
    again.child.sendcontrol("d")
    again.sees("bye")
    again.ends()


def test_ctrl_c_cancels_the_turn_and_the_chat_goes_on(
    llm: ScriptedOpenAIServer, start: StartChat, project: Path, moco_home: Path
) -> None:
    llm.add(Reply.say("slowly " * 150, chunk_delay=0.05), Reply.say("Still here."))
    chat = start(project)
    chat.type("tell me a long story")
    chat.sees("slowly")
    chat.child.sendintr()
    chat.sees("[cancelled]")
    chat.type("are you there?")
    chat.sees("Still here.")
    chat.prompt()
    chat.child.sendintr()  # Ctrl-C on an empty line leaves
    session_id = chat.leaves()

    logger = SessionLogger.open(home=moco_home)
    records = logger.load_records(session_id)
    cancelled = [r for r in records if r.status == "cancelled"]
    assert len(cancelled) == 1
    partial = cancelled[0].message.text
    assert partial.startswith("slowly") and partial.endswith("[cancelled]")
    assert len(partial) < len("slowly " * 150)
    assert [run.status for run in logger.runs(session_id)] == ["cancelled", "completed"]
    sent = [m.get("content") or "" for m in llm.requests[1].body["messages"]]
    assert any(text.endswith("[cancelled]") for text in sent)
