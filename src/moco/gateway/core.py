"""The gateway: chats in, moco sessions behind them, answers out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Collection
from contextlib import aclosing
from pathlib import Path
from typing import Any

import httpx2

from moco.gateway.api import UIClient, UIError
from moco.gateway.channel import Channel, IncomingMessage, split_message
from moco.gateway.commands import COMMANDS, run_command
from moco.gateway.store import ChatStore
from moco.gateway.turn import TurnResult, read_turn

log = logging.getLogger(__name__)

WORKING = "working…"
DENIED = ("The phone cannot approve {tool} ({description}), so it was denied. Approve such "
          "steps in the web UI, or run the UI with `moco ui --yes`.")
DENY_REASON = "Denied: the user is on a phone through the gateway and cannot approve this."


class Gateway:
    """Serves one :class:`Channel`: one moco session per chat, through the UI at ``api_url``.

    Only ``allowed_senders`` are heard (anyone else is ignored and logged); each sender may
    send ``rate_per_minute`` messages a minute (``/stop`` always passes). When the answer
    takes more than ``progress_after`` seconds the chat gets "working…" once. Permission asks
    are denied, since nobody can approve from the phone; the chat is told why.
    """

    def __init__(self, api_url: str, token: str, channel: Channel, *,
                 allowed_senders: Collection[str], rate_per_minute: int,
                 state_file: Path, profile: str | None = None,
                 progress_after: float = 20.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api = UIClient(api_url, token)
        self.channel = channel
        self.allowed = frozenset(allowed_senders)
        self.rate_per_minute = rate_per_minute
        self.profile = profile
        self.progress_after = progress_after
        self.chats = ChatStore(state_file)
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}
        self._warned: dict[str, float] = {}
        self._turns: dict[str, asyncio.Task[None]] = {}

    async def aclose(self) -> None:
        await self.idle()
        await self.api.aclose()

    async def idle(self) -> None:
        """Wait until every turn under way has been answered."""
        while self._turns:
            await asyncio.gather(*self._turns.values(), return_exceptions=True)

    def running(self, chat_id: str) -> bool:
        return chat_id in self._turns

    async def handle(self, message: IncomingMessage) -> None:
        """Take one message: a command is answered at once, anything else starts a turn."""
        if message.sender not in self.allowed:
            log.info("ignored a message from %s (not in the allow-list)", message.sender)
            return
        command, _, argument = message.text.strip().partition(" ")
        command = command.lower() if command.lower() in COMMANDS else ""
        if command != "/stop" and not await self._admit(message):
            return
        try:
            if command:
                await self.reply(message.chat_id, await run_command(self, message.chat_id,
                                                                    command, argument.strip()))
            elif self.running(message.chat_id):
                await self.reply(message.chat_id, "Still working on your last message; "
                                 "/stop cancels it.")
            else:
                task = asyncio.create_task(self._turn(message))
                self._turns[message.chat_id] = task
                task.add_done_callback(lambda _: self._turns.pop(message.chat_id, None))
        except (UIError, httpx2.HTTPError) as error:
            await self.reply(message.chat_id, f"Sorry, moco's UI answered: {_reason(error)}")

    async def _admit(self, message: IncomingMessage) -> bool:
        """Count the message against its sender's rate; say so (once a minute) when over."""
        now = self._clock()
        recent = self._recent.setdefault(message.sender, deque())
        while recent and now - recent[0] >= 60:
            recent.popleft()
        if len(recent) < self.rate_per_minute:
            recent.append(now)
            return True
        log.info("rate limit: dropped a message from %s", message.sender)
        if now - self._warned.get(message.sender, -60.0) >= 60:
            self._warned[message.sender] = now
            await self.reply(message.chat_id, f"Sorry, that is more than {self.rate_per_minute} "
                             "messages a minute; please wait a moment and send it again.")
        return False

    async def reply(self, chat_id: str, text: str) -> None:
        for piece in split_message(text, self.channel.max_message_chars):
            await self.channel.send_text(chat_id, piece)

    async def session_id(self, chat_id: str, *, fresh: bool = False) -> str:
        """The chat's session, created (with the chat's profile and provider) when needed."""
        state = self.chats.get(chat_id)
        if state.session_id is None or fresh:
            view = await self.api.create_session(profile=state.profile or self.profile,
                                                 provider=state.provider)
            state.session_id = str(view["id"])
            self.chats.save()
        return state.session_id

    async def _turn(self, message: IncomingMessage) -> None:
        chat = message.chat_id
        try:
            session = await self.session_id(chat)
            uploads = [await self.api.upload(session, media) for media in message.media]
            first = await self.api.send(session, message.text, uploads)
            result = await self._await_answer(chat, session, first)
            await self._deliver(chat, result)
        except (UIError, httpx2.HTTPError) as error:
            await self.reply(chat, f"Sorry, that failed: {_reason(error)}")

    async def _await_answer(self, chat: str, session: str, first: int) -> TurnResult:
        async def on_ask(ask: dict[str, Any]) -> None:
            await self.api.deny(session, str(ask["ask_id"]), DENY_REASON)
            await self.reply(chat, DENIED.format(tool=ask.get("tool", "a tool"),
                                                 description=ask.get("description", "")))

        async def read() -> TurnResult:
            async with aclosing(self.api.events(session, first - 1)) as events:
                return await read_turn(events, on_ask)

        reader = asyncio.create_task(read())
        try:
            return await asyncio.wait_for(asyncio.shield(reader), self.progress_after)
        except TimeoutError:
            await self.reply(chat, WORKING)
            return await reader

    async def _deliver(self, chat: str, result: TurnResult) -> None:
        if result.status == "cancelled":
            return  # /stop has answered already
        text = result.text
        if not text and result.errors:
            text = "Sorry, that failed: " + "; ".join(result.errors)
        await self.reply(chat, text or "(moco finished without an answer)")


def _reason(error: Exception) -> str:
    if isinstance(error, UIError):
        return error.detail
    return f"cannot reach it ({type(error).__name__})"
