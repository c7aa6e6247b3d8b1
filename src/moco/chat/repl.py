"""The ``moco chat`` loop: read a line, run a slash command or a turn, repeat.

One session for the whole chat: the first turn creates it (unless ``-s``/``-c`` chose one),
every later turn continues it. Leaving prints how to come back (``moco chat -s <id>``).
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from typing import TYPE_CHECKING, TextIO

from moco.chat.commands import dispatch
from moco.chat.input import LineReader, PipeReader, PromptReader
from moco.chat.state import ChatState, short_path
from moco.chat.turns import run_turn
from moco.errors import MocoError

if TYPE_CHECKING:
    from moco.core.orchestrator import Orchestrator

HISTORY_FILE = "chat_history"


def run_chat(
    orchestrator: Orchestrator,
    session_id: str | None = None,
    *,
    stream: bool = True,
    verbose: bool = False,
    stdin: TextIO | None = None,
) -> None:
    """Chat on the terminal until the person leaves (blocking)."""
    chat = ChatState(orchestrator, session_id, stream=stream, verbose=verbose)
    reader = make_reader(chat, stdin or sys.stdin)
    asyncio.run(chat_loop(chat, reader, banner=True))


def make_reader(chat: ChatState, stdin: TextIO) -> LineReader:
    """A full prompt on a terminal; plain lines when input or output is redirected."""
    if stdin.isatty() and chat.out.isatty():
        from moco.config import moco_home

        history = moco_home(chat.orchestrator.env) / HISTORY_FILE
        return PromptReader(chat, history)
    return PipeReader(stdin)


async def chat_loop(chat: ChatState, reader: LineReader, *, banner: bool = False) -> None:
    """Read and answer until /quit, Ctrl-D or Ctrl-C on an empty line."""
    if banner:
        greet(chat)
    try:
        while not chat.should_exit:
            try:
                text = await reader.read()
            except (EOFError, KeyboardInterrupt):
                break
            if text.strip():
                await handle_line(chat, text)
    finally:
        await chat.orchestrator.aclose()
    farewell(chat)


async def handle_line(chat: ChatState, text: str) -> None:
    """A command or a turn; whatever goes wrong becomes one line and the chat goes on."""
    try:
        if not await dispatch(chat, text):
            await run_turn(chat, text.strip())
    except MocoError as error:
        chat.error(str(error))
    except KeyboardInterrupt:
        chat.say("[cancelled]")
    except Exception as error:  # the chat's boundary: report, never a traceback
        if chat.verbose:
            traceback.print_exc(file=chat.err)
        chat.error(f"unexpected {type(error).__name__}: {error}")


def greet(chat: ChatState) -> None:
    orchestrator = chat.orchestrator
    chat.say(f"moco chat · {orchestrator.profile.name} · {orchestrator.settings.label} · "
             f"{short_path(orchestrator.working_dir)}")
    if chat.session_id is not None:
        record = orchestrator.sessions.get_session(chat.session_id)
        count = record.message_count if record else 0
        if count:
            chat.say(f"continuing session {chat.session_label} ({count} messages)")
        else:
            chat.say(f"session {chat.session_label}")
    chat.say("/help for commands · Ctrl-C stops a turn · Ctrl-D quits")


def farewell(chat: ChatState) -> None:
    chat.refresh()
    if chat.session_id is None:
        chat.say("bye")
        return
    named = f" ({chat.session_label})" if chat.session_label != chat.session_id else ""
    chat.say(f"session {chat.session_id}{named} — resume with: moco chat -s {chat.session_id}")
