"""``moco chat``: an interactive session with a profile's agents, in the terminal.

- :mod:`moco.chat.repl` — the loop (read, command or turn, repeat);
- :mod:`moco.chat.turns` — one turn rendered live, Ctrl-C cancelling only the turn;
- :mod:`moco.chat.commands` — the slash commands, a table of small functions;
- :mod:`moco.chat.completion` — Tab completion of commands, paths, bookmarks and mentions;
- :mod:`moco.chat.input` — the prompt_toolkit prompt (and plain lines from a pipe);
- :mod:`moco.chat.state` — what a chat knows: orchestrator, session, output.
"""

from __future__ import annotations

from moco.chat.repl import run_chat

__all__ = ["run_chat"]
