"""Slash commands, completion and key handling of ``moco chat``, without a terminal."""

from __future__ import annotations

import asyncio
import importlib.util
import io
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from moco.chat.commands import COMMANDS, dispatch, parse_command, suggest, unknown_message
from moco.chat.completion import ChatCompleter, path_completions
from moco.chat.input import PipeReader, build_prompt_session
from moco.chat.repl import chat_loop
from moco.chat.state import ChatState, human_tokens, short_path
from moco.chat.turns import run_turn
from moco.storage.bookmarks import BookmarkStore
from moco.testing import Reply, ScriptedOpenAIServer

from .conftest import output


# -- parsing ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("/help", ("help", "")),
        ("  /CD   src/pkg  ", ("cd", "src/pkg")),
        ("/workdir add api", ("workdir", "add api")),
        ("/", ("", "")),
        ("hello /help", None),
        ("/etc/hosts is broken, fix it", None),
        ("what about @assistant", None),
    ],
)
def test_parse_command(line: str, parsed: tuple[str, str] | None) -> None:
    assert parse_command(line) == parsed


def test_unknown_commands_get_a_hint_and_a_close_match() -> None:
    assert unknown_message("unknwn") == "unknown command /unknwn — try /help"
    assert suggest("hepl") == "help"
    assert unknown_message("modle") == "unknown command /modle — try /help (did you mean /model?)"
    assert suggest("cots") == "cost"


async def test_help_lists_every_command(chat: ChatState) -> None:
    assert await dispatch(chat, "/help")
    text = output(chat)
    for name in COMMANDS:
        assert f"/{name}" in text
    assert "Ctrl-C" in text and "Alt-Enter" in text


async def test_messages_are_not_commands(chat: ChatState) -> None:
    assert not await dispatch(chat, "tell me about /etc/hosts")
    assert output(chat) == ""


async def test_quit_and_clear(chat: ChatState) -> None:
    chat.session_id = chat.orchestrator.session_id = chat.orchestrator.create_session()
    chat.orchestrator.state["todos"] = [{"content": "x", "status": "pending"}]
    await dispatch(chat, "/clear")
    assert chat.session_id is None and chat.orchestrator.session_id is None
    assert "todos" not in chat.orchestrator.state
    assert "new session" in output(chat)
    await dispatch(chat, "/exit")
    assert chat.should_exit


# -- folders and bookmarks --------------------------------------------------------------------
async def test_cd_relative_back_and_errors(chat: ChatState, project: Path) -> None:
    await dispatch(chat, "/cd src/pkg")
    assert chat.orchestrator.working_dir == project / "src" / "pkg"
    assert f"working directory: {project / 'src' / 'pkg'}" in output(chat)
    await dispatch(chat, "/cd ../..")
    assert chat.working_dir == project
    await dispatch(chat, "/cd -")
    assert chat.working_dir == project / "src" / "pkg"
    await dispatch(chat, "/cd nowhere")
    assert "error: no such directory or bookmark: nowhere" in output(chat)
    assert chat.working_dir == project / "src" / "pkg"


async def test_workdir_bookmarks_persist_and_cd_uses_them(
    chat: ChatState, project: Path, tmp_path: Path
) -> None:
    await dispatch(chat, "/cd docs")
    await dispatch(chat, "/workdir add manual")
    await dispatch(chat, "/workdir add")  # named after the folder
    assert "added bookmark manual" in output(chat)
    await dispatch(chat, "/cd /")
    await dispatch(chat, "/cd manual")
    assert chat.working_dir == project / "docs"
    again = BookmarkStore(chat.orchestrator.sessions.db)  # what a later chat would see
    assert again.names() == ["docs", "manual"]
    await dispatch(chat, "/workdir list")
    listed = output(chat)
    assert "manual" in listed and str(project / "docs") in listed
    await dispatch(chat, "/workdir remove manual")
    await dispatch(chat, "/workdir remove manual")
    text = output(chat)
    assert "removed bookmark manual" in text and "no bookmark named manual" in text
    await dispatch(chat, "/workdir frobnicate")
    assert "usage: /workdir" in output(chat)


async def test_bookmark_names_are_one_word(chat: ChatState) -> None:
    await dispatch(chat, "/workdir add two words")
    assert "cannot be a bookmark name" in output(chat)


async def test_ls_and_tree(chat: ChatState) -> None:
    await dispatch(chat, "/ls")
    listed = output(chat)
    assert "src/" in listed and "README.md" in listed
    await dispatch(chat, "/ls src")
    assert "main.py" in output(chat)
    await dispatch(chat, "/tree 1")
    shallow = output(chat)
    assert "src/" in shallow and "main.py" not in shallow
    await dispatch(chat, "/tree")
    assert "main.py" in output(chat)
    await dispatch(chat, "/ls missing")
    assert "error: missing does not exist" in output(chat)


# -- model, profile, cost ---------------------------------------------------------------------
async def test_model_switches(chat: ChatState) -> None:
    await dispatch(chat, "/model")
    assert "model: openai/gpt-4o" in output(chat)
    base_url = chat.orchestrator.settings.base_url
    await dispatch(chat, "/model gpt-4.1")
    assert chat.orchestrator.settings.model == "gpt-4.1"
    assert chat.orchestrator.settings.base_url == base_url
    assert "model: openai/gpt-4.1" in output(chat)
    await dispatch(chat, "/model openai/gpt-4.1-mini")
    assert chat.orchestrator.settings.label == "openai/gpt-4.1-mini"
    await dispatch(chat, "/model anthropic/claude-sonnet-4-5")  # no ANTHROPIC_API_KEY
    assert "error: ANTHROPIC_API_KEY" in output(chat)
    assert chat.orchestrator.settings.label == "openai/gpt-4.1-mini"


async def test_profile_switch_keeps_folder_and_model(chat: ChatState, project: Path) -> None:
    await dispatch(chat, "/model gpt-4.1")
    await dispatch(chat, "/cd src")
    chat.session_id = chat.orchestrator.session_id = chat.orchestrator.create_session()
    before = chat.orchestrator
    await dispatch(chat, "/profile code")
    assert chat.orchestrator is not before
    assert chat.orchestrator.profile.name == "code"
    assert chat.orchestrator.settings.label == "openai/gpt-4.1"
    assert chat.working_dir == project / "src"
    assert chat.session_id is None
    assert "profile: code" in output(chat)
    await dispatch(chat, "/profile no-such-profile")
    assert "error: unknown profile 'no-such-profile'" in output(chat)
    await dispatch(chat, "/profile")
    assert "available:" in output(chat)


async def test_cost_and_sessions(chat: ChatState, scripted_openai: ScriptedOpenAIServer) -> None:
    await dispatch(chat, "/cost")
    assert "no tokens used yet" in output(chat)
    scripted_openai.add(Reply.say("hi", input_tokens=120, output_tokens=30))
    await run_turn(chat, "hello")
    assert chat.tokens == (120, 30)
    assert "150 tokens" in chat.status_text()
    await dispatch(chat, "/cost")
    text = output(chat)
    assert "120 in / 30 out tokens" in text and "assistant" in text
    await dispatch(chat, "/sessions")
    assert f"* {chat.session_id}" in output(chat)


async def test_checkpoint_and_compact_without_a_session(chat: ChatState) -> None:
    await dispatch(chat, "/compact")
    text = output(chat)
    assert "nothing to compact yet" in text or "not available" in text
    await dispatch(chat, "/checkpoint")
    text = output(chat)
    if importlib.util.find_spec("moco.core.checkpoint") is None:
        assert "checkpoints are not available" in text
    else:
        assert text.startswith("error: ") and "send a message first" in text


@pytest.mark.skipif(importlib.util.find_spec("moco.core.checkpoint") is None,
                    reason="moco.core.checkpoint is not there yet")
async def test_checkpoint_and_restore(
    chat: ChatState, scripted_openai: ScriptedOpenAIServer
) -> None:
    scripted_openai.add(Reply.say("one"), Reply.say("two"))
    await run_turn(chat, "first")
    await dispatch(chat, "/checkpoint start")
    assert "checkpoint start saved" in output(chat)
    await run_turn(chat, "second")
    await dispatch(chat, "/restore start")
    assert "restored start: 2 messages dropped" in output(chat)
    assert chat.session_id is not None
    assert len(chat.orchestrator.sessions.load_messages(chat.session_id)) == 2


# -- turns ------------------------------------------------------------------------------------
async def test_turns_continue_one_session(
    chat: ChatState, scripted_openai: ScriptedOpenAIServer
) -> None:
    scripted_openai.add(Reply.say("Paris."), Reply.say("About 2 million."))
    assert await run_turn(chat, "capital of France?") == "completed"
    first = chat.session_id
    assert await run_turn(chat, "population?") == "completed"
    assert chat.session_id == first
    sent = [m.get("content") for m in scripted_openai.requests[1].body["messages"]]
    assert "capital of France?" in sent and "Paris." in sent
    assert "Paris.\n" in output(chat)


async def test_provider_error_is_one_line_and_the_chat_goes_on(
    chat: ChatState, scripted_openai: ScriptedOpenAIServer
) -> None:
    scripted_openai.add(Reply.error(400, "bad request body"), Reply.say("fine now"))
    reader = PipeReader(io.StringIO("hello\nagain\n"))
    await chat_loop(chat, reader)
    text = output(chat)
    assert "bad request body" in text and "Traceback" not in text
    assert "fine now" in text
    assert f"resume with: moco chat -s {chat.session_id}" in text


async def test_cancel_keeps_the_partial_answer(
    chat: ChatState, scripted_openai: ScriptedOpenAIServer
) -> None:
    scripted_openai.add(Reply.say("word " * 200, chunk_delay=0.02), Reply.say("still here"))
    turn = asyncio.create_task(run_turn(chat, "talk"))
    for _ in range(500):
        if "word" in chat.out.getvalue():  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.01)
    assert chat.scope.cancel()
    assert await turn == "cancelled"
    text = output(chat)
    assert text.startswith("word") and text.endswith("\n[cancelled]\n")
    assert chat.session_id is not None
    records = chat.orchestrator.sessions.load_records(chat.session_id)
    assert records[-1].status == "cancelled" and "[cancelled]" in records[-1].message.text
    assert await run_turn(chat, "still there?") == "completed"


async def test_pipe_reader_joins_continued_lines() -> None:
    reader = PipeReader(io.StringIO("one \\\ntwo\nthree"))
    assert await reader.read() == "one \ntwo"
    assert await reader.read() == "three"
    with pytest.raises(EOFError):
        await reader.read()


# -- keys -------------------------------------------------------------------------------------
async def read_keys(chat: ChatState, keys: str, history: Path) -> str:
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        session = build_prompt_session(chat, history)
        pipe.send_text(keys)
        text: str = await session.prompt_async("› ")
        return text


async def test_enter_sends_and_newlines_need_alt_enter_or_backslash(
    chat: ChatState, tmp_path: Path
) -> None:
    history = tmp_path / "home" / "chat_history"
    assert await read_keys(chat, "hello\r", history) == "hello"
    assert await read_keys(chat, "one\x1b\rtwo\r", history) == "one\ntwo"
    assert await read_keys(chat, "one\\\rtwo\r", history) == "one\ntwo"
    assert await read_keys(chat, "drop this\x03kept\r", history) == "kept"
    pasted = "\x1b[200~def f():\r\n    return 1\r\n\x1b[201~\r"
    assert await read_keys(chat, pasted, history) == "def f():\n    return 1\n"
    with pytest.raises(KeyboardInterrupt):
        await read_keys(chat, "\x03", history)
    with pytest.raises(EOFError):
        await read_keys(chat, "\x04", history)
    assert "+hello" in history.read_text() and "+one\n+two" in history.read_text()


async def test_tab_completes_a_unique_command(chat: ChatState, tmp_path: Path) -> None:
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        session = build_prompt_session(chat, tmp_path / "history")
        reading = asyncio.create_task(session.prompt_async("› "))
        pipe.send_text("/wor\t")
        for _ in range(200):  # completions arrive in the background
            if session.default_buffer.text.startswith("/workdir"):
                break
            await asyncio.sleep(0.01)
        pipe.send_text(" add\r")
        assert await reading == "/workdir add"


# -- completion -------------------------------------------------------------------------------
def complete(chat: ChatState, text: str) -> list[str]:
    completer = ChatCompleter(chat)
    found = completer.get_completions(Document(text), CompleteEvent(completion_requested=True))
    return [c.text for c in found]


def test_completes_commands_and_their_arguments(chat: ChatState) -> None:
    assert complete(chat, "/he") == ["/help"]
    assert "/workdir" in complete(chat, "/w")
    assert complete(chat, "/cd s") == ["src/"]
    assert complete(chat, "/cd src/") == ["pkg/"]
    assert complete(chat, "/ls ") == ["docs/", "src/"]
    assert complete(chat, "/workdir r") == ["remove"]
    assert "openai/" in complete(chat, "/model op")
    assert "code" in complete(chat, "/profile c")
    assert complete(chat, "/nope x") == []


def test_completes_bookmarks(chat: ChatState, project: Path) -> None:
    chat.bookmarks.add("docsite", project / "docs")
    assert complete(chat, "/cd doc") == ["docsite", "docs/"]
    assert complete(chat, "/workdir remove d") == ["docsite"]


def test_completes_mentions(chat: ChatState) -> None:
    assert complete(chat, "@assi") == ["assistant "]
    assert complete(chat, "look at @src/m") == ["main.py"]
    assert complete(chat, "look at @READ") == ["README.md"]
    assert complete(chat, "no mention here") == []


def test_path_completion_hides_dotfiles_until_asked(project: Path) -> None:
    names = [c.text for c in path_completions(project, "")]
    assert ".hidden/" not in names and "README.md" in names
    assert [c.text for c in path_completions(project, ".h")] == [".hidden/"]
    assert [c.text for c in path_completions(project, str(project / "sr"))] == ["src/"]
    assert list(path_completions(project, "missing/x")) == []


# -- status -----------------------------------------------------------------------------------
def test_status_line(chat: ChatState, project: Path) -> None:
    status = chat.status_text()
    assert "default" in status and "openai/gpt-4o" in status and "new session" in status
    assert "0 tokens" in status
    assert human_tokens(1234) == "1.2k" and human_tokens(2_500_000) == "2.5M"
    assert short_path(Path.home() / "work" / "api") == "~/work/api"
    deep = Path("/very/long/path/with/many/levels/that/goes/on/and/on/project")
    assert short_path(deep, limit=24) == "…/goes/on/and/on/project"
