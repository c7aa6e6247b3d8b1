"""One chat turn: the orchestrator's events rendered live; Ctrl-C stops the turn, not the chat.

While a turn runs the terminal is in its normal mode, so Ctrl-C arrives as SIGINT. For the
duration of the turn SIGINT cancels the chat's :class:`~moco.cancellation.CancelScope`: the
turn's task is cancelled (closing the model stream and cancelling tools and sub-agents), the
orchestrator records the partial answer with status ``cancelled``, and the chat goes on.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar

from moco.cancellation import CancelScope
from moco.chat.state import ChatState
from moco.errors import Cancelled, MocoError
from moco.events import root_finish

T = TypeVar("T")


@contextmanager
def sigint_cancels(scope: CancelScope) -> Iterator[None]:
    """While inside, SIGINT (Ctrl-C) cancels ``scope`` instead of raising KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def cancel(signum: int, frame: Any) -> None:
        scope.cancel("cancelled with Ctrl-C")

    signal.signal(signal.SIGINT, cancel)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


@contextmanager
def quiet_terminal(stream: TextIO | None = None) -> Iterator[None]:
    """While a turn streams, keys typed ahead are not echoed into the answer (they wait for
    the next prompt) and Ctrl-C does not print ``^C``; it still sends SIGINT."""
    stream = stream or sys.stdin
    try:
        import termios

        fd = stream.fileno()
        saved = termios.tcgetattr(fd) if stream.isatty() else None
    except (ImportError, OSError, ValueError):
        saved = None
    if saved is None:
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~(termios.ECHO | getattr(termios, "ECHOCTL", 0))
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


async def cancellable(chat: ChatState, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` so that Ctrl-C cancels it (raising :class:`~moco.errors.Cancelled`)."""
    with sigint_cancels(chat.scope):
        return await chat.scope.run(coro)


async def run_turn(chat: ChatState, text: str) -> str:
    """Send ``text`` in the chat's session and render the answer; returns the run's status
    (``completed``, ``error``, ``cancelled`` ...). Errors are printed as one line."""
    from moco.chat.attach import take_attachments

    orchestrator = chat.orchestrator
    renderer = chat.renderer()
    status = "error"

    async def consume() -> None:
        nonlocal status
        attachments = take_attachments(chat, text)
        async for event in orchestrator.events(text, session_id=chat.session_id,
                                               attachments=attachments):
            renderer.handle(event)
            finished = root_finish(event)
            if finished is not None:
                status = finished.status

    try:
        with quiet_terminal():
            await cancellable(chat, consume())
    except Cancelled:
        renderer.interrupted("[cancelled]")
        status = "cancelled"
    except MocoError as error:
        renderer.interrupted("")
        chat.error(str(error))
    chat.refresh()
    return status
