"""Reading what the person types: a prompt_toolkit prompt on a terminal, lines from a pipe.

Both readers return one message per call and raise ``EOFError`` (Ctrl-D, end of input) or
``KeyboardInterrupt`` (Ctrl-C on an empty line) when the person wants to leave.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

    from moco.chat.state import ChatState

PROMPT = "› "


class LineReader(Protocol):
    async def read(self) -> str: ...


def continues(line: str) -> bool:
    """A line ending with a backslash asks for another line."""
    return line.endswith("\\")


def chat_key_bindings() -> KeyBindings:
    """Enter sends; Alt-Enter, Esc Enter, Ctrl-J or a trailing ``\\`` insert a newline;
    Ctrl-C clears the line, or leaves when it is empty."""
    from prompt_toolkit.key_binding import KeyBindings

    bindings = KeyBindings()

    @bindings.add("enter")
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and state.current_completion is not None:
            buffer.apply_completion(state.current_completion)
            return
        before = buffer.document.text_before_cursor
        if continues(before) and buffer.document.is_cursor_at_the_end:
            buffer.delete_before_cursor(1)
            buffer.insert_text("\n")
            return
        buffer.validate_and_handle()

    @bindings.add("escape", "enter")
    @bindings.add("c-j")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @bindings.add("c-c")
    def _interrupt(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.text:
            buffer.reset()
        else:
            event.app.exit(exception=KeyboardInterrupt, style="class:aborting")

    return bindings


class PromptReader:
    """A prompt_toolkit prompt with history, completion and a status toolbar."""

    def __init__(self, chat: ChatState, history_file: Path) -> None:
        self.session = build_prompt_session(chat, history_file)

    async def read(self) -> str:
        text: str = await self.session.prompt_async(PROMPT)
        return text


def build_prompt_session(chat: ChatState, history_file: Path) -> PromptSession[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    from moco.chat.completion import ChatCompleter

    history_file.parent.mkdir(parents=True, exist_ok=True)

    def continuation(width: int, line_number: int, wrap_count: int) -> str:
        return "… ".rjust(width)

    return PromptSession(
        history=FileHistory(str(history_file)),
        completer=ChatCompleter(chat),
        complete_while_typing=False,
        multiline=True,
        key_bindings=chat_key_bindings(),
        bottom_toolbar=chat.status_text,
        prompt_continuation=continuation,
        enable_open_in_editor=True,
    )


class PipeReader:
    """Lines from a pipe or file (``echo "hi" | moco chat``); ``\\`` at the end continues."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdin

    async def read(self) -> str:
        lines: list[str] = []
        while True:
            line = await asyncio.to_thread(self.stream.readline)
            if not line:
                if lines:
                    return "\n".join(lines)
                raise EOFError
            line = line.rstrip("\r\n")
            if not continues(line):
                lines.append(line)
                return "\n".join(lines)
            lines.append(line[:-1])
