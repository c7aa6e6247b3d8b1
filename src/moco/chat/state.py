"""The state of one chat: its orchestrator, its session, where its output goes.

Slash commands and the turn loop change the chat only through this object, so the commands
can be tested without a terminal.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from moco.cancellation import CancelScope
from moco.storage.session_state import STATE_KEYS

if TYPE_CHECKING:
    from moco.core.orchestrator import Orchestrator
    from moco.messages import Part
    from moco.storage.bookmarks import BookmarkStore
    from moco.ui.console import ConsoleRenderer

#: what ``orchestrator.state`` keeps for one session (the todo list, the skills loaded)
SESSION_STATE_KEYS = STATE_KEYS


class ChatState:
    """One interactive chat. ``session_id`` is ``None`` until the first turn creates it."""

    def __init__(
        self,
        orchestrator: Orchestrator,
        session_id: str | None = None,
        *,
        stream: bool = True,
        verbose: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.orchestrator = orchestrator
        self.session_id = session_id
        self.stream = stream
        self.verbose = verbose
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.scope = CancelScope()
        self.previous_dir: Path | None = None
        self.should_exit = False
        self.tokens: tuple[int, int] = (0, 0)
        self.session_label = ""
        #: files to send with the next message (``/image``, ``/file``)
        self.attachments: list[Part] = []
        orchestrator.session_id = session_id
        if session_id is not None:  # its todos, skills and /model choice, before the first turn
            note = orchestrator.restore_session_state(session_id)
            if note:
                self.say(f"note: {note}")
        self.refresh()

    # -- output -------------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def error(self, text: str) -> None:
        """One line on stderr; the chat goes on."""
        self.out.flush()
        self.err.write(f"error: {text}\n")
        self.err.flush()

    def renderer(self) -> ConsoleRenderer:
        from moco.ui.console import ConsoleRenderer

        return ConsoleRenderer(stream=self.stream, verbose=self.verbose, out=self.out,
                               err=self.err, root_agent=self.orchestrator.agent_name)

    # -- session ------------------------------------------------------------------------------
    @property
    def working_dir(self) -> Path:
        return self.orchestrator.working_dir

    @property
    def bookmarks(self) -> BookmarkStore:
        from moco.storage.bookmarks import BookmarkStore

        return BookmarkStore(self.orchestrator.sessions.db)

    def refresh(self) -> None:
        """Re-read the session's token totals and label (after a turn or a command)."""
        if self.orchestrator.session_id:
            self.session_id = self.orchestrator.session_id
        if self.session_id is None:
            self.tokens, self.session_label = (0, 0), ""
            return
        sessions = self.orchestrator.sessions
        self.tokens = sessions.usage_totals(self.session_id)
        record = sessions.get_session(self.session_id)
        self.session_label = (record.name if record and record.name else self.session_id)

    def new_session(self) -> None:
        """Forget the current session; the next turn starts a fresh one."""
        self.session_id = None
        self.orchestrator.session_id = None
        for key in SESSION_STATE_KEYS:
            self.orchestrator.state.pop(key, None)
        self.refresh()

    def replace_orchestrator(self, orchestrator: Orchestrator) -> None:
        """Switch to another orchestrator (another profile); starts a new session."""
        self.orchestrator = orchestrator
        self.new_session()

    def change_dir(self, target: Path) -> None:
        self.previous_dir = self.orchestrator.working_dir
        self.orchestrator.working_dir = target.expanduser().resolve()

    # -- status -------------------------------------------------------------------------------
    def status_text(self) -> str:
        """profile · provider/model · folder · tokens · session, for the bottom toolbar."""
        orchestrator = self.orchestrator
        used = self.tokens[0] + self.tokens[1]
        session = self.session_label or "new session"
        return (f" {orchestrator.profile.name} · {orchestrator.settings.label} · "
                f"{short_path(orchestrator.working_dir)} · {human_tokens(used)} tokens · "
                f"{session} ")


def short_path(path: Path, limit: int = 40) -> str:
    """``/home/ana/work/shop/api`` -> ``~/work/shop/api``; long paths keep their last parts."""
    text = str(path)
    home = str(Path.home())
    if home != "/" and (text == home or text.startswith(home + "/")):
        text = "~" + text[len(home):]
    if len(text) <= limit:
        return text
    parts = Path(text).parts
    tail = parts[-1]
    for part in reversed(parts[:-1]):
        candidate = f"{part}/{tail}"
        if len(candidate) + 2 > limit:
            break
        tail = candidate
    return "…/" + tail


def human_tokens(count: int) -> str:
    """1234 -> ``1.2k``; 2500000 -> ``2.5M``."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.1f}M"
