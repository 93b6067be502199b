"""The rows of a standard queue's messages, ordered by when each is visible next.

    (account, region, "sqs", "v", qid, visible_at_ms, message id, received) -> message record

`received` is 0 until the first receive, 1 after: the rows after now are the delayed (0) and the
in-flight (1) messages, the rows up to now the visible ones, so the Approximate* counters come
from the keys alone. A receive claims the first rows up to now (`Transaction.claim_many`: on
PostgreSQL concurrent receivers skip each other's rows) and moves each to `now + visibility
timeout`; nothing in memory says when a message becomes visible again: its key does.
Each message also has its pointer row (messages.py), which says where its row is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from cloudlet.store import Transaction, unpack
from cloudlet.store.base import dumps_json
from cloudlet.store.keyspace import resource_prefix

from .errors import MessageNotInflight, invalid_value
from .messages import nonce, pointer_key, pointers_prefix
from .queues import Queue

Dead = Callable[[Transaction, dict], bool]   # move a record to the dead-letter queue; False: keep it


def rows_prefix(queue: Queue) -> tuple:
    return resource_prefix(queue.account, queue.region, "sqs", "v", queue.qid)


def put(tx: Transaction, queue: Queue, records: list[dict]) -> None:
    prefix = rows_prefix(queue)
    rows, pointers = [], []
    for rec in records:
        received = 1 if rec["rc"] else 0
        rows.append(((rec["v"], rec["id"], received), dumps_json(rec)))
        pointers.append(((rec["id"],), dumps_json({"k": [rec["v"], rec["id"], received], "h": rec.get("h", "")})))
    tx.put_many(rows, prefix=prefix)
    tx.put_many(pointers, prefix=pointers_prefix(queue.account, queue.region, queue.qid))


def receive(tx: Transaction, queue: Queue, count: int, visibility_s: int, now_ms: int,
            dead: Dead | None) -> list[dict]:
    prefix = rows_prefix(queue)
    end = prefix + (now_ms + 1,)
    taken: list[dict] = []
    seen: set[str] = set()
    start: tuple | None = None
    max_receives = queue.redrive["maxReceiveCount"] if queue.redrive else None
    new_rows, new_pointers, old = [], [], []
    while len(taken) < count:
        rows = tx.claim_many(prefix, start=start, end=end, limit=count - len(taken))
        if not rows:
            break
        start = rows[-1][0] + (None,)
        for key, value in rows:
            rec = json.loads(value)
            if rec["id"] in seen:
                continue
            seen.add(rec["id"])
            if max_receives is not None and rec["rc"] >= max_receives and dead is not None:
                old.append(key)
                if dead(tx, rec):
                    tx.delete(pointer_key(queue.account, queue.region, queue.qid, rec["id"]))
                    continue
                old.pop()
            old.append(key)
            rec["rc"] += 1
            rec.setdefault("fr", now_ms)
            rec["v"] = now_ms + visibility_s * 1000
            rec["h"] = nonce()
            new_rows.append(((rec["v"], rec["id"], 1), dumps_json(rec)))
            new_pointers.append(((rec["id"],), dumps_json({"k": [rec["v"], rec["id"], 1], "h": rec["h"]})))
            taken.append(rec)
    if old:
        tx.delete_many(old)
    if new_rows:
        tx.put_many(new_rows, prefix=prefix)
        tx.put_many(new_pointers, prefix=pointers_prefix(queue.account, queue.region, queue.qid))
    return taken


def pointer(tx: Transaction, queue: Queue, msg_id: str) -> dict | None:
    return tx.get_json(pointer_key(queue.account, queue.region, queue.qid, msg_id))


def delete(tx: Transaction, queue: Queue, msg_id: str, handle_nonce: str, handle: str, now_ms: int) -> None:
    """Delete the message a receipt handle names. A message already deleted, or a handle of an
    earlier receive: success, nothing deleted (as AWS documents for standard queues)."""
    found = pointer(tx, queue, msg_id)
    if found is None or found["h"] != handle_nonce:
        return
    tx.delete(rows_prefix(queue) + tuple(found["k"]))
    tx.delete(pointer_key(queue.account, queue.region, queue.qid, msg_id))


def remove(tx: Transaction, queue: Queue, msg_id: str) -> dict | None:
    """Delete a message whatever its state (retention, moves); its record, or None."""
    found = pointer(tx, queue, msg_id)
    if found is None:
        return None
    key = rows_prefix(queue) + tuple(found["k"])
    raw = tx.get(key)
    tx.delete(key)
    tx.delete(pointer_key(queue.account, queue.region, queue.qid, msg_id))
    return None if raw is None else json.loads(raw)


def not_available(handle: str) -> Exception:
    return invalid_value(handle, "ReceiptHandle", "Message does not exist or is not available for visibility "
                                                  "timeout change.")


def change_visibility(tx: Transaction, queue: Queue, msg_id: str, handle_nonce: str, handle: str,
                      visibility_s: int, now_ms: int) -> bool:
    """Make the message visible `visibility_s` from now; True if that is now (wake receivers)."""
    found = pointer(tx, queue, msg_id)
    if found is None or found["h"] != handle_nonce:
        raise not_available(handle)
    visible_at, _, received = found["k"]
    if visible_at <= now_ms:
        raise MessageNotInflight("The message referred to isn't in flight.")
    prefix = rows_prefix(queue)
    raw = tx.get(prefix + tuple(found["k"]))
    if raw is None:
        raise not_available(handle)
    rec = json.loads(raw)
    tx.delete(prefix + tuple(found["k"]))
    rec["v"] = now_ms + visibility_s * 1000
    tx.put(prefix + (rec["v"], msg_id, received), dumps_json(rec))
    found["k"] = [rec["v"], msg_id, received]
    tx.put_json(pointer_key(queue.account, queue.region, queue.qid, msg_id), found)
    return visibility_s == 0


def tally(messages: Iterable[tuple[int, Any]], now_ms: int) -> dict[str, int]:
    """The Approximate* counters of messages given as (visible at, received yet)."""
    visible = hidden = delayed = 0
    for visible_at, received in messages:
        if visible_at <= now_ms:
            visible += 1
        elif received:
            hidden += 1
        else:
            delayed += 1
    return {"ApproximateNumberOfMessages": visible, "ApproximateNumberOfMessagesNotVisible": hidden,
            "ApproximateNumberOfMessagesDelayed": delayed}


def counts(tx: Transaction, queue: Queue, now_ms: int) -> dict[str, int]:
    rows = (unpack(packed) for packed, _ in tx.range_packed(rows_prefix(queue)))
    return tally(((visible_at, received) for visible_at, _, received in rows), now_ms)


def next_visible(tx: Transaction, queue: Queue, now_ms: int) -> int | None:
    """When the next message not visible now becomes visible (ms), if any."""
    prefix = rows_prefix(queue)
    rows = tx.range_packed(prefix, start=prefix + (now_ms + 1,), limit=1)
    return unpack(rows[0][0])[0] if rows else None


def purge(tx: Transaction, queue: Queue) -> None:
    tx.delete_range(rows_prefix(queue))
    tx.delete_range(pointers_prefix(queue.account, queue.region, queue.qid))


def visible_records(tx: Transaction, queue: Queue, now_ms: int, limit: int) -> list[dict[str, Any]]:
    prefix = rows_prefix(queue)
    return [json.loads(v) for _, v in tx.range(prefix, end=prefix + (now_ms + 1,), limit=limit)]
