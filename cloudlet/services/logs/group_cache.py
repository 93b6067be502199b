"""What a log group's records compile to (its metric filters, its subscription filters), cached in
process for the ingest hooks, which run on every append: a cached group (one without filters, the
common case, included) costs a dict lookup, a group not cached one range read.

A change of those records calls `changed(tx, ...)` in its transaction: this process's entry goes
at once, and every process listening on the store channel (this one included) drops it again
when the transaction commits, so a reader that raced the change does not keep what it read. A
reader keeps what it loaded only if no eviction came while it read. Entries also expire after
`ttl_s`, for processes that hear no notifications (several sharing one SQLite file). As a
background service the cache listens on its channel.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from cloudlet.store import Store, Transaction

T = TypeVar("T")
Key = tuple[str, str, str]  # (account, region, group)
MAX_ENTRIES = 10_000


def note(account: str | None = None, region: str | None = None, group: str | None = None) -> str:
    """A channel note evicting one group, or (no group) every group."""
    return f"{account}\t{region}\t{group}" if group else ""


class GroupCache(Generic[T]):
    def __init__(self, store: Store, channel: str, ttl_s: float, load: Callable[[Transaction, str, str, str], T],
                 *, name: str) -> None:
        self.store = store
        self.channel = channel
        self.ttl_s = ttl_s
        self.load = load
        self.name = name  # (as a background service)
        self.entries: dict[Key, tuple[float, T]] = {}  # key -> (expiry, time.monotonic(); value)
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, tx: Transaction, account: str, region: str, group: str) -> T:
        key = (account, region, group)
        now = time.monotonic()
        entry = self.entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        generation = self._generation
        value = self.load(tx, account, region, group)
        with self._lock:
            if generation == self._generation:   # no eviction came while we read
                if len(self.entries) >= MAX_ENTRIES:
                    self.entries.clear()
                self.entries[key] = (now + self.ttl_s, value)
        return value

    def changed(self, tx: Transaction, account: str | None = None, region: str | None = None,
                group: str | None = None) -> None:
        """In the transaction that changes a group's records (no group: any group's)."""
        self.evict(note(account, region, group))
        notify(tx, self.channel, account, region, group)

    def evict(self, payload: str = "") -> None:
        """A channel note: `account\\tregion\\tgroup`, or "" for every group."""
        parts = payload.split("\t", 2)
        with self._lock:
            self._generation += 1
            if len(parts) == 3:
                self.entries.pop((parts[0], parts[1], parts[2]), None)
            else:
                self.entries.clear()

    def clear(self) -> None:
        self.evict("")

    async def run(self, stopping: asyncio.Event) -> None:
        stop = await asyncio.to_thread(self.store.listen, self.channel, self.evict)
        self.clear()   # whatever was cached before we listened
        try:
            await stopping.wait()
        finally:
            stop()


def notify(tx: Transaction, channel: str, account: str | None = None, region: str | None = None,
           group: str | None = None) -> None:
    """Evict a group (no group: every group) from the caches on `channel` of every process, when
    `tx` commits; for a change made where the cache object is not at hand."""
    tx.notify(channel, note(account, region, group))
