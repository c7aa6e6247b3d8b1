"""Tab completion for ``moco chat``: slash commands, their arguments, paths and ``@`` mentions.

Paths complete relative to the chat's working directory (which ``/cd`` changes), so the
completer asks the chat state each time instead of keeping a folder of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from moco.chat.commands import COMMANDS, command_names, find_command
from moco.chat.state import ChatState

MAX_PATHS = 200
WORKDIR_ACTIONS = ("add", "list", "remove")


def path_completions(base: Path, partial: str, *, dirs_only: bool = False) -> Iterator[Completion]:
    """Entries matching ``partial`` (relative to ``base``, absolute, or ``~/...``); folders
    end with ``/``. Hidden entries show only once ``partial`` names a dot."""
    expanded = os.path.expanduser(partial)
    cut = expanded.rfind("/") + 1
    head, prefix = expanded[:cut], expanded[cut:]
    folder = Path(head) if os.path.isabs(head) else base / head
    try:
        entries = sorted(folder.iterdir(), key=lambda entry: entry.name)
    except OSError:
        return
    shown = 0
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix) or (name.startswith(".") and not prefix.startswith(".")):
            continue
        is_dir = entry.is_dir()
        if dirs_only and not is_dir:
            continue
        text = name + ("/" if is_dir else "")
        yield Completion(text, start_position=-len(prefix), display=text)
        shown += 1
        if shown >= MAX_PATHS:
            return


def word_completions(words: Iterable[str], prefix: str, meta: str = "") -> Iterator[Completion]:
    for word in words:
        if word.startswith(prefix):
            yield Completion(word, start_position=-len(prefix), display_meta=meta)


class ChatCompleter(Completer):
    """Completes the line being typed in a chat."""

    def __init__(self, chat: ChatState) -> None:
        self.chat = chat

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        text = document.text_before_cursor
        if text.startswith("/") and "\n" not in text:
            if not any(c.isspace() for c in text):
                yield from self._commands(text[1:])
            else:
                name, _, argument = text[1:].partition(" ")
                yield from self._argument(name, argument.lstrip())
            return
        word = text.split()[-1] if text and not text[-1].isspace() else ""
        if word.startswith("@"):
            yield from self._mention(word[1:])

    def _commands(self, prefix: str) -> Iterator[Completion]:
        prefix = prefix.lower()
        for name in command_names():
            if name.startswith(prefix):
                found = find_command(name)
                meta = found.help if found else ""
                yield Completion("/" + name, start_position=-len(prefix) - 1,
                                 display_meta=meta)

    def _argument(self, name: str, argument: str) -> Iterator[Completion]:
        found = find_command(name)
        if found is None:
            return
        base = self.chat.working_dir
        if found.name == "cd":
            if "/" not in argument:
                yield from word_completions(self._bookmarks(), argument, "bookmark")
            yield from path_completions(base, argument, dirs_only=True)
        elif found.name in ("ls", "tree"):
            yield from path_completions(base, argument, dirs_only=True)
        elif found.name == "workdir":
            action, space, rest = argument.partition(" ")
            if not space:
                yield from word_completions(WORKDIR_ACTIONS, action)
            elif action in ("remove", "rm"):
                yield from word_completions(self._bookmarks(), rest.lstrip(), "bookmark")
        elif found.name == "profile":
            yield from word_completions(self._profiles(), argument, "profile")
        elif found.name == "model":
            from moco.providers.registry import PROVIDERS

            yield from word_completions([f"{p}/" for p in PROVIDERS], argument, "provider")
        elif found.name == "help":
            yield from word_completions(sorted(COMMANDS), argument)

    def _mention(self, partial: str) -> Iterator[Completion]:
        if "/" not in partial:
            agents = list(self.chat.orchestrator.profile.agents)
            for completion in word_completions(agents, partial, "agent"):
                yield Completion(completion.text + " ", completion.start_position,
                                 display=completion.text, display_meta="agent")
        yield from path_completions(self.chat.working_dir, partial)

    def _bookmarks(self) -> list[str]:
        return self.chat.bookmarks.names()

    def _profiles(self) -> list[str]:
        from moco.profiles import list_profiles

        orchestrator = self.chat.orchestrator
        return [info.name for info in list_profiles(orchestrator.working_dir, orchestrator.env)]
