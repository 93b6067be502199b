"""What other services may ask of SQS: put messages on queues, and take them off.

* A queue ARN is a delivery target (delivery.py): `Targets.send(tx, call, queue_arn, payload)`
  writes the message in the caller's transaction (Lambda destinations, SNS subscriptions,
  EventBridge targets, S3 notifications). Options: `attributes` (MessageAttributes as SQS takes
  them), `group` and `dedup` (FIFO MessageGroupId / MessageDeduplicationId; by default the
  group is the caller's source ARN and content-based deduplication is used).
* `send(tx, call, queue_arn, body, attributes)`: the same, called directly.
* `receive(call, queue_arn, ...)` and `delete(call, queue_arn, handles)`: what a poller (Lambda's
  SQS event source mapping) uses: messages as ReceiveMessage returns them, every system
  attribute included, and batch deletes answering which handles failed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from cloudlet.call import CallContext
from cloudlet.delivery import Targets, UnknownTarget
from cloudlet.protocol.errors import ServiceError
from cloudlet.store import Store, Transaction

from . import engine, fifo, standard
from .messages import SYSTEM_ATTRIBUTE_NAMES, attribute_filter, receipt_handle, to_message
from .queues import CHANNEL, Queue, QueueCache, parse_arn
from .waiting import Waiters

log = logging.getLogger("cloudlet.sqs")

EVERY_SYSTEM = frozenset(SYSTEM_ATTRIBUTE_NAMES)
EVERY_ATTRIBUTE = attribute_filter(["All"])


class SqsApi:
    def __init__(self, store: Store, targets: Targets, endpoint: Any = None) -> None:
        self.store = store
        self.cache = QueueCache(store)
        self.waiters = Waiters()
        store.listen(CHANNEL, self._on_note)
        targets.register("sqs", send_in_tx=self._send_to_queue, check=self._check)

    def _on_note(self, payload: str) -> None:
        self.cache.on_note(payload)
        self.waiters.on_note(payload)

    # ---- for the provider ----

    @staticmethod
    def sent(rec: dict[str, Any]) -> dict[str, Any]:
        out = {"MessageId": rec["id"], "MD5OfMessageBody": rec["mb"]}
        if "ma" in rec:
            out["MD5OfMessageAttributes"] = rec["ma"]
        if "ms" in rec:
            out["MD5OfMessageSystemAttributes"] = rec["ms"]
        if "s" in rec:
            out["SequenceNumber"] = str(rec["s"])
        return out

    def receive_now(self, account: str, region: str, name: str, count: int, visibility: int,
                    attempt: str | None, query: bool) -> tuple[list[dict[str, Any]], int | None]:
        """One receive attempt: the records taken, and when the next hidden row becomes visible."""
        now = time.time_ns() // 1_000_000

        def run(tx: Transaction) -> tuple[list[dict[str, Any]], int | None]:
            queue = self.cache.require(account, region, name, query, tx)
            taken = engine.receive(tx, self.cache, queue, count, visibility, now, attempt)
            return taken, None if taken else engine.rows_of(queue).next_visible(tx, queue, now)

        return self.store.transact(run)

    # ---- for other services ----

    def _queue_of(self, tx: Transaction | None, queue_arn: str) -> Queue:
        found = parse_arn(queue_arn)
        queue = self.cache.get(*found, tx) if found is not None else None
        if queue is None:
            raise UnknownTarget(f"{queue_arn} is not an existing queue")
        return queue

    def send(self, tx: Transaction, call: CallContext, queue_arn: str, body: str,
             attributes: dict[str, dict[str, Any]] | None = None, *, group: str | None = None,
             dedup: str | None = None) -> dict[str, Any]:
        """Send one message in `tx` (UnknownTarget if the queue does not exist; the ServiceError
        SendMessage would answer if the message is not one SQS takes)."""
        queue = self._queue_of(tx, queue_arn)
        now = time.time_ns() // 1_000_000
        entry: dict[str, Any] = {"MessageBody": body, "MessageAttributes": attributes or None}
        if queue.fifo:
            entry["MessageGroupId"] = group or call.source_arn or call.account
            entry["MessageDeduplicationId"] = dedup or fifo.content_dedup_id(body)
        record = engine.prepare(queue, entry, call.source_account or call.account, call.trace_header, now)
        return self.sent(engine.send(tx, queue, [record], now)[0])

    def _send_to_queue(self, tx: Transaction, call: CallContext, arn: str, payload: bytes,
                       options: dict[str, Any]) -> None:
        try:
            self.send(tx, call, arn, payload.decode("utf-8", "replace"), options.get("attributes"),
                      group=options.get("group"), dedup=options.get("dedup"))
        except (UnknownTarget, ServiceError) as exc:
            log.warning("delivery to %s dropped: %s", arn, exc)

    def _check(self, tx: Transaction, call: CallContext, arn: str) -> str | None:
        found = parse_arn(arn)
        return None if found is not None and self.cache.get(*found, tx) is not None else "not found"

    def receive(self, call: CallContext, queue_arn: str, count: int = 10,
                visibility: int | None = None) -> list[dict[str, Any]]:
        """Up to `count` (1..10,000 in batches of the store's claims) messages now visible, as
        ReceiveMessage returns them with every attribute; its own transaction."""
        now = time.time_ns() // 1_000_000

        def run(tx: Transaction) -> list[dict[str, Any]]:
            queue = self._queue_of(tx, queue_arn)
            timeout = queue.visibility if visibility is None else visibility
            taken = engine.receive(tx, self.cache, queue, count, timeout, now)
            return [to_message(r, receipt_handle(queue.qid, r["id"], r["h"]), EVERY_SYSTEM, EVERY_ATTRIBUTE)
                    for r in taken]

        return self.store.transact(run)

    def delete(self, call: CallContext, queue_arn: str, handles: list[str]) -> list[str]:
        """Delete received messages by receipt handle; the handles that failed (and why, logged)."""
        now = time.time_ns() // 1_000_000

        def run(tx: Transaction) -> list[str]:
            queue = self._queue_of(tx, queue_arn)
            failed = []
            for handle in handles:
                try:
                    engine.delete(tx, queue, handle, now)
                except ServiceError as exc:
                    log.info("delete of a message of %s failed: %s", queue_arn, exc)
                    failed.append(handle)
            return failed

        return self.store.transact(run)

    def visible_count(self, queue_arn: str) -> int:
        """ApproximateNumberOfMessages (how a poller scales with backlog)."""
        with self.store.transaction(write=False) as tx:
            queue = self._queue_of(tx, queue_arn)
            counted = (fifo if queue.fifo else standard).counts(tx, queue, time.time_ns() // 1_000_000)
        return int(counted["ApproximateNumberOfMessages"])
