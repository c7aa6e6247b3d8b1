"""The numbered event log of one session, which every tab and program follows over SSE.

Each event is kept as the JSON ``moco run --json`` prints, with an id that only grows. A
client that reconnects with ``Last-Event-ID`` gets everything after it; when that is older
than what is kept (or from before a restart) it gets a ``reset`` and reloads the session.
Ids start from the server's start time (in microseconds), so ids from an earlier start are
always older than any of this one's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from moco.events import Event

#: events kept per session: the current turn and the ones before it, as memory allows
KEEP_EVENTS = 20_000
#: a comment line at this interval keeps proxies and the browser from closing a quiet stream
KEEPALIVE_SECONDS = 15.0

_ID_BASE = int(time.time() * 1_000_000)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    id: int
    type: str
    data: str

    def sse(self) -> bytes:
        """The event in the ``text/event-stream`` format (``data`` is one JSON line)."""
        return f"id: {self.id}\nevent: {self.type}\ndata: {self.data}\n\n".encode()


class EventLog:
    """Numbered events of one session; :meth:`follow` yields them as they come."""

    def __init__(self, session_id: str, keep: int = KEEP_EVENTS) -> None:
        self.session_id = session_id
        self._events: deque[LoggedEvent] = deque(maxlen=keep)
        self._last_id = _ID_BASE
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def last_id(self) -> int:
        return self._last_id

    @property
    def next_id(self) -> int:
        return self._last_id + 1

    def publish(self, data: dict[str, Any]) -> int:
        """Add an event (a ``to_dict()`` form, or one of the web's own); returns its id."""
        data.setdefault("session_id", self.session_id)
        if data.get("session_id") is None:
            data["session_id"] = self.session_id
        self._last_id += 1
        self._events.append(LoggedEvent(self._last_id, str(data["type"]),
                                        json.dumps(data, ensure_ascii=False, default=str)))
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        return self._last_id

    def trim(self) -> None:
        """Forget the kept events (the session went idle); ids go on from where they were."""
        self._events.clear()

    def publish_event(self, event: Event) -> int:
        return self.publish(event.to_dict())

    def since(self, after: int) -> list[LoggedEvent] | None:
        """Events after ``after`` (0: all that are kept); None when some of them are no
        longer kept, or ``after`` is not an id of this log (an earlier start's)."""
        if after == self._last_id:
            return []
        if after > self._last_id or 0 < after < _ID_BASE:
            return None
        oldest = self._events[0].id if self._events else self._last_id + 1
        start = max(after, _ID_BASE) + 1
        if start < oldest:
            return None
        return list(itertools.islice(self._events, start - oldest, None))

    async def follow(self, after: int) -> AsyncIterator[LoggedEvent | None]:
        """Events after ``after``, then each new one as it is published; ``None`` every
        :data:`KEEPALIVE_SECONDS` of quiet. A ``reset`` event when ``after`` is too old."""
        while True:
            batch = self.since(after)
            if batch is None:
                reset = {"type": "reset", "session_id": self.session_id,
                         "last_event_id": self._last_id}
                yield LoggedEvent(self._last_id, "reset", json.dumps(reset))
                after = self._last_id
                continue
            for event in batch:
                yield event
                after = event.id
            if batch:
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield None
