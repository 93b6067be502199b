"""Reclaiming blobs nothing references: the services say what they hold, a sweep deletes the rest.

Blobs are content-addressed and shared (an S3 object and its copies, the parts of a multipart
upload, a Lambda function's code, its versions, the layers they use), so no single record owns
one and deleting a record leaves its blob. Each service that keeps digests in its records
registers a holder, `holders.add(name, fn)`, where `fn(tx)` yields every digest its records name
(a read transaction). Every `CLOUDLET_BLOB_SWEEP_SECONDS` the sweeper lists the blobs older than
that same period, asks every holder, and deletes the blobs no holder named (store/blobs.py:
`BlobStore.sweep`, which also keeps a blob that a writer took up again meanwhile).

A record names its blob only after the blob is stored (a writer stores, then commits), and a
record that starts naming a blob it read in an earlier transaction calls `blobs.hold(digest)`
first (S3's CopyObject), so the grace period covers the gap between a blob being written or taken
up and the transaction that names it. (A record copied from another in one transaction, as
Lambda's PublishVersion copies $LATEST's code, needs nothing: the sweep's read sees one of them.) A holder that fails stops the sweep: deleting with
an incomplete picture of what is held would lose data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from cloudlet.background import sleep_or_stop

if TYPE_CHECKING:
    from cloudlet.store import BlobStore, Store, Transaction

log = logging.getLogger("cloudlet.blobs")

Holder = Callable[["Transaction"], Iterable[str]]


class BlobHolders:
    """What each service's records name, by service."""

    def __init__(self) -> None:
        self._holders: dict[str, Holder] = {}
        self.after_sweep: list[Callable[[float], object]] = []  # tidy what was made from blobs

    def add(self, name: str, holder: Holder, *, after_sweep: Callable[[float], object] | None = None) -> None:
        """`holder(tx)` yields the digests `name`'s records name; `after_sweep(older_than)`, if
        given, runs after each sweep (e.g. to drop what was unpacked from blobs that went)."""
        self._holders[name] = holder
        if after_sweep is not None:
            self.after_sweep.append(after_sweep)

    def referenced(self, store: Store) -> set[str]:
        """Every digest any holder's records name, read in one transaction."""
        found: set[str] = set()
        with store.transaction(write=False) as tx:
            for holder in self._holders.values():
                found.update(holder(tx))
        return found


class BlobSweeper:
    """Background service: every `interval` seconds, delete blobs older than that nobody holds."""

    name = "blob-sweeper"

    def __init__(self, store: Store, blobs: BlobStore, holders: BlobHolders, interval: float) -> None:
        self.store = store
        self.blobs = blobs
        self.holders = holders
        self.interval = interval

    def sweep(self) -> int:
        removed = self.blobs.sweep(lambda: self.holders.referenced(self.store), self.interval)
        for tidy in self.holders.after_sweep:
            tidy(self.interval)
        return removed

    async def run(self, stopping: asyncio.Event) -> None:
        while not await sleep_or_stop(stopping, self.interval):
            removed = await asyncio.to_thread(self.sweep)
            if removed:
                log.info("blobs: deleted %d that nothing references", removed)
