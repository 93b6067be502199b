"""Ingestion: the one way events enter a log stream, and what watches them arrive.

PutLogEvents and the outbox records of other services' writers (api.py) both append through
`Ingest.write`. Whatever must react to new events registers a hook: metric filters (counts
written with the events), subscription filters (deliveries enqueued with the events), live tail
sessions. A hook runs inside the appending transaction, after the events are stored, with the
events that were appended; it must be quick (it is on every append) and may only write in that
transaction (`tx.put`, `targets.send`, `tx.notify`), so its effects commit with the events or
not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cloudlet.store import Store, Transaction

from .events import RETRIES, RETRY_BACKOFF_S, Event, write_events_in

# (tx, account, region, group, stream, events appended, in timestamp order)
Hook = Callable[[Transaction, str, str, str, str, Sequence[Event]], None]


class Ingest:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._hooks: list[Hook] = []

    def add_hook(self, hook: Hook) -> None:
        self._hooks.append(hook)

    def write(self, tx: Transaction, account: str, region: str, group: str, stream: str, events: list[Event],
              *, create: bool) -> dict:
        """Append `events` in `tx` (see events.write_events_in) and run the hooks; returns the
        stream record."""
        meta = write_events_in(tx, account, region, group, stream, events, create=create)
        if events:
            for hook in self._hooks:
                hook(tx, account, region, group, stream, events)
        return meta

    def write_now(self, account: str, region: str, group: str, stream: str, events: list[Event],
                  *, create: bool) -> dict:
        """`write` in a transaction of its own, retried while it conflicts with other writers of
        the stream (see events.write_events)."""
        return self.store.transact(lambda tx: self.write(tx, account, region, group, stream, events, create=create),
                                   attempts=RETRIES, backoff=RETRY_BACKOFF_S)
