"""What other services may ask of CloudWatch Logs: write log events.

Writers (Lambda's function output, later API Gateway access logs, EventBridge log targets) send
events durably: `send` writes an outbox record ("logs.events") in the caller's transaction, or in
one of its own, and the outbox appends batches of them to their streams (creating group and
stream when missing) in the transaction that claims them. A log group ARN is also a delivery
target (delivery.py): each delivered payload becomes one event.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from cloudlet.call import CallContext
from cloudlet.delivery import Targets, UnknownTarget
from cloudlet.outbox import Outbox, Record, enqueue
from cloudlet.retry import RetryPolicy
from cloudlet.store import Store, Transaction

from .events import Event
from .ingest import Ingest

EVENTS = "logs.events"
# Events are durable once sent; they are appended to their streams in batches this much later
# (as CloudWatch Logs takes a moment to show them), so one transaction carries many.
APPEND_LINGER_S = 0.05
# Records per claiming transaction: with the embedded store it runs on the event loop, so a
# small batch keeps each pause short (a few milliseconds) for the requests waiting behind it.
APPEND_BATCH = 16
# Appending is a store write: it fails only on a bug or a broken store; try for a while.
POLICY = RetryPolicy(max_retries=20, max_age_s=3600, delays_s=(0.05, 0.2, 1, 5, 30))


class LogsApi:
    def __init__(self, store: Store, outbox: Outbox, targets: Targets) -> None:
        self.store = store
        self.ingest = Ingest(store)
        outbox.register(EVENTS, apply=self._apply, policy=POLICY, linger_s=APPEND_LINGER_S, batch=APPEND_BATCH)
        targets.register("logs", send_in_tx=self._send_to_group)

    def send(self, tx: Transaction, call: CallContext, group: str, stream: str, events: Sequence[Event]) -> None:
        """Append `(timestamp_ms, message)` events to `group`/`stream` of the call's account and
        region once `tx` commits (nothing is validated: callers are internal)."""
        self.send_many(tx, call, [(group, stream, events)])

    def send_many(self, tx: Transaction, call: CallContext, batches: Sequence[tuple[str, str, Sequence[Event]]]) -> None:
        """`send` of several `(group, stream, events)` at once: one outbox record for all."""
        streams = [[group, stream, list(events)] for group, stream, events in batches if events]
        if streams:
            enqueue(tx, EVENTS, {"streams": streams}, call=call)

    def send_now(self, call: CallContext, group: str, stream: str, events: Sequence[Event]) -> None:
        """`send` in a transaction of its own (must not be called with a transaction open)."""
        if events:
            with self.store.transaction() as tx:
                self.send(tx, call, group, stream, events)

    def _apply(self, tx: Transaction, records: list[Record]) -> None:
        """Append a claimed batch, one write per stream."""
        merged: dict[tuple[str, str, str, str], list[Event]] = {}
        for record in records:
            call = record.call
            assert call is not None
            for group, stream, events in record.body["streams"]:
                merged.setdefault((call.account, call.region, group, stream), []).extend(
                    (int(ts), msg) for ts, msg in events)
        for (account, region, group, stream), events in merged.items():
            events.sort(key=lambda event: event[0])
            self.ingest.write(tx, account, region, group, stream, events, create=True)

    def _send_to_group(self, tx: Transaction, call: CallContext, arn: str, payload: bytes,
                       options: dict[str, Any]) -> None:
        """A log group as a delivery target: `arn:aws:logs:<region>:<account>:log-group:<name>[:*]`."""
        parts = arn.split(":", 6)
        if len(parts) < 7 or parts[5] != "log-group":
            raise UnknownTarget(f"{arn} is not a log group ARN")
        group = parts[6].removesuffix(":*")
        target = CallContext(account=parts[4], region=parts[3], request_id=call.request_id,
                             principal=call.principal, source_arn=call.source_arn, trace_header=call.trace_header)
        stream = options.get("stream") or call.request_id or "delivery"
        message = payload.decode("utf-8", "replace")
        self.send(tx, target, group, stream, [(time.time_ns() // 1_000_000, message)])
