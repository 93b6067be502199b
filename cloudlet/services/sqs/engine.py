"""Send, receive, delete and change visibility, for both kinds of queue, inside a caller's
transaction: what the provider's operations and the internal API (api.py) share.

The rows of each kind are in standard.py and fifo.py; this module checks a message the way AWS
does, assigns FIFO sequence numbers and deduplicates, moves a message that was received
maxReceiveCount times to the dead-letter queue on its next receive, and notifies the `sqs`
channel (`m:<account>/<region>/<name>`) whenever a message becomes receivable now, which wakes
long polls in every process that hears it (waiting.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cloudlet.store import Transaction
from cloudlet.store.keyspace import resource_key

from . import fifo, standard
from .errors import InvalidParameterValueException, ReceiptHandleIsInvalid, invalid_value, missing
from .messages import (
    check_attributes,
    check_body,
    check_fifo_id,
    new_record,
    parse_handle,
    pointer_key,
)
from .queues import CHANNEL, Queue, QueueCache, allows_source, parse_arn

ATTEMPT_WINDOW_MS = 5 * 60 * 1000


def rows_of(queue: Queue) -> Any:
    return fifo if queue.fifo else standard


def arrived(tx: Transaction, queue: Queue) -> None:
    tx.notify(CHANNEL, f"m:{queue.account}/{queue.region}/{queue.name}")


def prepare(queue: Queue, entry: dict, sender: str, trace: str, now_ms: int) -> dict:
    """The record of one message to send, checked as AWS checks it (raises its error)."""
    body = entry.get("MessageBody")
    attributes = check_attributes(entry.get("MessageAttributes"))
    system = check_attributes(entry.get("MessageSystemAttributes"), system=True)
    check_body(body, queue.max_size, entry.get("MessageAttributes"))
    assert body is not None
    delay = entry.get("DelaySeconds")
    group = entry.get("MessageGroupId")
    dedup = entry.get("MessageDeduplicationId")
    check_fifo_id(group, "MessageGroupId")
    check_fifo_id(dedup, "MessageDeduplicationId")
    if queue.fifo:
        if delay:
            raise invalid_value(delay, "DelaySeconds", "The request include parameter that is not valid for this "
                                                       "queue type.")
        if not group:
            raise missing("MessageGroupId")
        if not dedup:
            if not queue.content_dedup:
                raise InvalidParameterValueException(
                    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId "
                    "provided explicitly")
            dedup = fifo.content_dedup_id(body)
        delay = queue.delay
    else:
        if dedup:
            raise invalid_value(dedup, "MessageDeduplicationId", "The request includes a parameter that is not "
                                                                 "valid for this queue type.")
        if delay is None:
            delay = queue.delay
        elif not 0 <= delay <= 900:
            raise invalid_value(delay, "DelaySeconds", "DelaySeconds must be >= 0 and <= 900.")
    if trace and not system:
        system = {"AWSTraceHeader": {"DataType": "String", "StringValue": trace}}
    record = new_record(body, attributes, system, sender, now_ms, delay)
    if group:
        record["g"] = group
    if dedup:
        record["d"] = dedup
    return record


def send(tx: Transaction, queue: Queue, records: list[dict], now_ms: int) -> list[dict]:
    """Write prepared records; returns them with their ids and sequence numbers (a FIFO
    duplicate within 5 minutes gets the original's, and is not enqueued again)."""
    if queue.fifo:
        fresh: list[dict] = []
        seen: dict[tuple[str, str], dict] = {}
        out: list[dict] = []
        for rec in records:
            scope = (rec["g"] if queue.group_scope else "", rec["d"])
            earlier = seen.get(scope) or fifo.duplicate(tx, queue, rec["g"], rec["d"], now_ms)
            if earlier is not None:
                out.append({**rec, "dup": earlier})   # (its id and number once `earlier` has them)
                continue
            fresh.append(rec)
            out.append(rec)
            seen[scope] = rec
        if fresh:
            first = fifo.next_sequences(tx, queue, len(fresh))
            for i, rec in enumerate(fresh):
                rec["s"] = str(first + i)
                fifo.remember(tx, queue, rec["g"], rec["d"], rec["id"], first + i, now_ms)
            fifo.put(tx, queue, fresh)
        for rec in out:
            earlier = rec.pop("dup", None)
            if earlier is not None:
                rec.update(id=earlier["id"], s=earlier["s"])
    else:
        out = records
        standard.put(tx, queue, records)
    if any(rec["v"] <= now_ms for rec in records):
        arrived(tx, queue)
    return out


def dead_letter(cache: QueueCache, queue: Queue, now_ms: int) -> Callable[[Transaction, dict], bool]:
    """Moves a record to `queue`'s dead-letter queue (False, keeping it, when that queue is gone,
    of the other kind, or its RedriveAllowPolicy refuses `queue`)."""
    def move(tx: Transaction, rec: dict) -> bool:
        assert queue.redrive is not None
        target = parse_arn(queue.redrive["deadLetterTargetArn"])
        dlq = cache.get(*target, tx) if target is not None else None
        if dlq is None or dlq.fifo != queue.fifo or not allows_source(dlq.record, queue.arn):
            return False
        moved = {k: v for k, v in rec.items() if k not in ("h",)}
        moved.update(v=now_ms, src=queue.arn)
        if dlq.fifo:
            moved["s"] = str(fifo.next_sequences(tx, dlq, 1))
        rows_of(dlq).put(tx, dlq, [moved])
        arrived(tx, dlq)
        return True
    return move


def receive(tx: Transaction, cache: QueueCache, queue: Queue, count: int, visibility_s: int, now_ms: int,
            attempt: str | None = None) -> list[dict]:
    """Up to `count` messages now visible, each made invisible for `visibility_s` (records with
    `h`, the nonce of this receive). A FIFO `attempt` id seen in the last 5 minutes answers the
    same messages again while their receive is still current."""
    if attempt and queue.fifo:
        key = resource_key(queue.account, queue.region, "sqs", "attempt", queue.qid, attempt)
        found = tx.get_json(key)
        if found is not None and found["until"] > now_ms:
            again = []
            for msg_id, nonce in found["ids"]:
                pointer = tx.get_json(pointer_key(queue.account, queue.region, queue.qid, msg_id))
                if pointer is not None and pointer["h"] == nonce:
                    raw = tx.get(fifo.rows_prefix(queue) + tuple(pointer["k"]))
                    if raw is not None:
                        again.append(json.loads(raw))
            return again
    dead = dead_letter(cache, queue, now_ms) if queue.redrive else None
    taken: list[dict] = rows_of(queue).receive(tx, queue, count, visibility_s, now_ms, dead)
    if attempt and queue.fifo and taken:
        tx.put_json(key, {"until": now_ms + ATTEMPT_WINDOW_MS, "ids": [[r["id"], r["h"]] for r in taken]})
    return taken


def handle_of(queue: Queue, handle: str) -> tuple[str, str]:
    qid, msg_id, nonce = parse_handle(handle)
    if qid != queue.qid:
        raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not a valid receipt handle.')
    return msg_id, nonce


def delete(tx: Transaction, queue: Queue, handle: str, now_ms: int) -> None:
    msg_id, nonce = handle_of(queue, handle)
    if rows_of(queue).delete(tx, queue, msg_id, nonce, handle, now_ms):
        arrived(tx, queue)


def change_visibility(tx: Transaction, queue: Queue, handle: str, visibility_s: int, now_ms: int) -> None:
    if not 0 <= visibility_s <= 43_200:
        raise invalid_value(visibility_s, "VisibilityTimeout", "VisibilityTimeout must be an integer between 0 "
                                                               "and 43200")
    msg_id, nonce = handle_of(queue, handle)
    if rows_of(queue).change_visibility(tx, queue, msg_id, nonce, handle, visibility_s, now_ms):
        arrived(tx, queue)
