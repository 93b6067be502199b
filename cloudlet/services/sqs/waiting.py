"""Long polling without a busy loop.

A ReceiveMessage that finds nothing and may wait registers an `asyncio.Event` for its queue and
sleeps on it. Whatever makes a message receivable now (a send, a visibility change to 0, a
FIFO delete that frees a group; engine.py) notifies the store's `sqs` channel after its commit:
in this process at once, in other processes on PostgreSQL through LISTEN/NOTIFY. The listener
sets the events of that queue on the event loop, and the woken receives try again.

What no one announces — a delay or a visibility timeout running out — the waiter computes: it
sleeps at most until the next row of the queue becomes visible. And since SQLite does not carry
notifications between processes, a waiter also looks again every `RECHECK_S`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from cloudlet.background import call_on_loop

RECHECK_S = 1.0
QueueId = tuple[str, str, str]


class Waiters:
    def __init__(self) -> None:
        self._events: dict[QueueId, set[asyncio.Event]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    def on_note(self, payload: str) -> None:
        """Store listener (any thread): a message became receivable in the queue named."""
        if payload.startswith("m:") and self._events:
            parts = payload[2:].split("/", 2)
            if len(parts) == 3:
                call_on_loop(self.loop, self._wake, (parts[0], parts[1], parts[2]))

    def _wake(self, queue: QueueId) -> None:
        for event in self._events.get(queue, ()):
            event.set()

    @contextmanager
    def watch(self, queue: QueueId) -> Iterator[asyncio.Event]:
        """An event set when `queue` gets a receivable message, registered for the block."""
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        event = asyncio.Event()
        self._events.setdefault(queue, set()).add(event)
        try:
            yield event
        finally:
            found = self._events.get(queue)
            if found is not None:
                found.discard(event)
                if not found:
                    del self._events[queue]


async def sleep_on(event: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        pass
