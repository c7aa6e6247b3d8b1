"""Asking a person in the terminal whether a tool call may run (``moco chat``, interactive
``moco run``): :class:`TerminalApprover` implements the permission layer's
:class:`~moco.core.permissions.Approver`.

The request (the exact command, or a diff of the change, coloured on a terminal, with
control characters shown escaped by :func:`moco.ui.sanitize.visible`) is printed to stderr,
then ``[y]es once / [a]lways for this session / [n]o`` is read from stdin in a thread, so
the event loop (and other agents) keep running. Ctrl-C, end of input or any answer but
yes/always deny; ``n <reason>`` passes the reason to the model. Echo is turned back on while
reading (a chat turn hides typed keys) and plain ``readline`` is used, so it works under
prompt_toolkit's ``patch_stdout`` too.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from moco.core.permissions import Approval, ApprovalRequest
from moco.ui.sanitize import visible

__all__ = ["TerminalApprover", "interactive_approver", "parse_answer"]

_POLL_SECONDS = 0.1
_RESET = "\x1b[0m"
_STYLES = {"title": "\x1b[1;33m", "dim": "\x1b[2m", "+": "\x1b[32m", "-": "\x1b[31m",
           "@": "\x1b[36m", "command": "\x1b[1m"}


def parse_answer(text: str) -> Approval | None:
    """``y``/``yes`` -> once, ``a``/``always`` -> always, ``n``/``no`` [reason] or an empty
    line -> deny; anything else -> ``None`` (ask again)."""
    answer = text.strip()
    word, _, rest = answer.partition(" ")
    word = word.lower().rstrip(",.:")
    if word in ("y", "yes"):
        return Approval.once()
    if word in ("a", "always"):
        return Approval.always()
    if word in ("", "n", "no"):
        return Approval.deny(rest.strip())
    return None


class TerminalApprover:
    """Prints each request to ``err`` (stderr) and reads the answer from ``stdin``.

    ``color`` defaults to whether ``err`` is a terminal. One question at a time.
    """

    def __init__(
        self, *, stdin: TextIO | None = None, err: TextIO | None = None,
        color: bool | None = None, attempts: int = 3,
    ) -> None:
        self.stdin = stdin or sys.stdin
        self.err = err or sys.stderr
        self.color = _isatty(self.err) if color is None else color
        self.attempts = attempts
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    async def approve(self, request: ApprovalRequest) -> Approval:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        async with self._lock:
            self._write(self.render(request))
            for _ in range(self.attempts):
                self._write(self._prompt(request))
                line = await self._read_line()
                if line is None:
                    self._write("\n")
                    return Approval.deny()
                answer = parse_answer(line)
                if answer is not None:
                    return answer
                self._write("please answer y, a or n\n")
            return Approval.deny()

    # -- output -------------------------------------------------------------------------------
    def render(self, request: ApprovalRequest) -> str:
        """The request as printed (without the question)."""
        who = f"{visible(request.agent)} wants to " if request.agent else ""
        verb = {"command": "run", "diff": "change a file with"}.get(request.kind, "call")
        lines = ["", self._style("title", f"? {who}{verb} {visible(request.tool)}")]
        # split on \n only: a \r (or \x1b[1G) must show, not rewind the line it is in
        for line in request.description.rstrip("\n").split("\n"):
            lines.append("  " + self._line(visible(line), request.kind))
        lines.append(self._style("dim", f"  asked by {visible(request.rule)}"))
        return "\n".join(lines) + "\n"

    def _prompt(self, request: ApprovalRequest) -> str:
        always = f" ({visible(request.always, newlines=False)})" if request.always else ""
        return f"Allow? [y]es once / [a]lways for this session{always} / [n]o: "

    def _line(self, line: str, kind: str) -> str:
        if kind == "command":
            return self._style("command", line)
        if kind == "diff" and line[:1] in "+-@" and not line.startswith(("+++", "---")):
            return self._style(line[:1], line)
        return line

    def _style(self, name: str, text: str) -> str:
        return f"{_STYLES[name]}{text}{_RESET}" if self.color and text else text

    def _write(self, text: str) -> None:
        self.err.write(text)
        self.err.flush()

    # -- input --------------------------------------------------------------------------------
    async def _read_line(self) -> str | None:
        """One line from stdin, read in a thread; ``None`` on end of input or Ctrl-C."""
        loop = asyncio.get_running_loop()
        interrupted: asyncio.Future[Any] = loop.create_future()
        stop = threading.Event()

        def on_sigint(signum: int, frame: Any) -> None:
            stop.set()
            loop.call_soon_threadsafe(_finish, interrupted)

        reader: asyncio.Future[Any] = asyncio.ensure_future(
            asyncio.to_thread(self._blocking_read, stop))
        was_interrupted = False
        try:
            with _sigint_handler(on_sigint), _echo_on(self.stdin):
                await asyncio.wait({reader, interrupted}, return_when=asyncio.FIRST_COMPLETED)
            was_interrupted = interrupted.done()
        finally:
            stop.set()  # the reading thread ends within one poll
        line: str | None = await reader
        return None if was_interrupted else line

    def _blocking_read(self, stop: threading.Event) -> str | None:
        stream = self.stdin
        if _isatty(stream):
            while not stop.is_set():
                try:
                    ready, _, _ = select.select([stream], [], [], _POLL_SECONDS)
                except (OSError, ValueError):
                    break
                if ready:
                    break
            if stop.is_set():
                return None
        try:
            line = stream.readline()
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        return line if line else None


def interactive_approver() -> TerminalApprover | None:
    """A :class:`TerminalApprover` when stdin and stderr are terminals, else ``None`` (a
    non-interactive run: asks are denied with advice)."""
    if _isatty(sys.stdin) and _isatty(sys.stderr):
        return TerminalApprover()
    return None


def _finish(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(None)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


@contextlib.contextmanager
def _sigint_handler(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Ctrl-C denies the question instead of stopping the turn (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


@contextlib.contextmanager
def _echo_on(stream: TextIO) -> Iterator[None]:
    """Typed keys are echoed and lines edited normally while the answer is read."""
    try:
        import termios

        fd = stream.fileno()
        saved = termios.tcgetattr(fd) if stream.isatty() else None
    except (ImportError, OSError, ValueError, AttributeError):
        saved = None
    if saved is None:
        yield
        return
    visible = list(saved)
    visible[3] |= termios.ECHO | termios.ICANON
    termios.tcsetattr(fd, termios.TCSANOW, visible)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)
