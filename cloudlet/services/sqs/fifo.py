"""The rows of a FIFO queue: messages in order per group, groups by when their head is visible,
deduplication ids and the sequence counter.

    (account, region, "sqs", "f", qid, group, sequence)      -> message record (messages.py)
    (account, region, "sqs", "fh", qid, head_visible_ms, group) -> b"": one row per group that
                                                               has messages, at its first message's
                                                               `v` (visible-next time)
    (account, region, "sqs", "dedup", qid, scope, dedup id)  -> {"id", "s", "until"}; scope is the
                                                               group with DeduplicationScope
                                                               messageGroup, else ""
    (account, region, "sqs", "seq", qid)                     -> the last SequenceNumber given

A group can be received from when its first message is visible: a message in flight at the
head of its group keeps the whole group back (in-flight group locking), and a receive takes a
group's messages in order, stopping at the first that is not visible. So a receive claims the
`fh` rows up to now (skipping rows other receivers hold, on PostgreSQL), reads each group's
first messages and moves the group's row to its head's new time.
"""

from __future__ import annotations

import hashlib
import json
import time

from cloudlet.store import Transaction
from cloudlet.store.base import dumps_json
from cloudlet.store.keyspace import resource_key, resource_prefix

from .errors import MessageNotInflight, invalid_value
from .messages import nonce, pointer_key, pointers_prefix
from .queues import Queue
from .standard import Dead, not_available, tally

DEDUP_WINDOW_MS = 5 * 60 * 1000


def rows_prefix(queue: Queue) -> tuple:
    return resource_prefix(queue.account, queue.region, "sqs", "f", queue.qid)


def heads_prefix(queue: Queue) -> tuple:
    return resource_prefix(queue.account, queue.region, "sqs", "fh", queue.qid)


def dedup_prefix(queue: Queue) -> tuple:
    return resource_prefix(queue.account, queue.region, "sqs", "dedup", queue.qid)


def seq_key(queue: Queue) -> tuple:
    return resource_key(queue.account, queue.region, "sqs", "seq", queue.qid)


def content_dedup_id(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def next_sequences(tx: Transaction, queue: Queue, count: int) -> int:
    """The first of `count` new sequence numbers (20 digits, increasing; a conflict on the counter
    raises ConflictError for `store.transact` to retry)."""
    found = tx.get_json_versioned(seq_key(queue))
    last = found[0] if found else 0
    first = max(last + 1, 10**19 + time.time_ns() // 1000 * 100)
    if found is None:
        tx.put_json(seq_key(queue), first + count - 1, if_absent=True)
    else:
        tx.put_json(seq_key(queue), first + count - 1, if_version=found[1])
    return first


def duplicate(tx: Transaction, queue: Queue, group: str, dedup_id: str, now_ms: int) -> dict | None:
    """The message sent with this deduplication id in the last 5 minutes, if any."""
    found = tx.get_json(dedup_prefix(queue) + (group if queue.group_scope else "", dedup_id))
    return found if found is not None and found["until"] > now_ms else None


def remember(tx: Transaction, queue: Queue, group: str, dedup_id: str, msg_id: str, seq: int, now_ms: int) -> None:
    tx.put_json(dedup_prefix(queue) + (group if queue.group_scope else "", dedup_id),
                {"id": msg_id, "s": str(seq), "until": now_ms + DEDUP_WINDOW_MS})


def _first(tx: Transaction, queue: Queue, group: str) -> tuple[tuple, dict] | None:
    rows = tx.range(rows_prefix(queue) + (group,), limit=1, relative=True)
    return (rows[0][0], json.loads(rows[0][1])) if rows else None


def _move_head(tx: Transaction, queue: Queue, group: str, old_at: int | None) -> int | None:
    """Re-point the group's `fh` row at its (new) first message; that message's `v`, or None."""
    heads = heads_prefix(queue)
    if old_at is not None:
        tx.delete(heads + (old_at, group))
    first = _first(tx, queue, group)
    if first is None:
        return None
    tx.put(heads + (first[1]["v"], group), b"")
    return int(first[1]["v"])


def put(tx: Transaction, queue: Queue, records: list[dict]) -> None:
    """Append records (each with `g` and `s`) to their groups."""
    prefix = rows_prefix(queue)
    heads = heads_prefix(queue)
    new_groups: dict[str, int] = {}
    for rec in records:
        group = rec["g"]
        if group not in new_groups and _first(tx, queue, group) is None:
            new_groups[group] = rec["v"]
    tx.put_many([((rec["g"], int(rec["s"])), dumps_json(rec)) for rec in records], prefix=prefix)
    tx.put_many([((rec["id"],), dumps_json({"k": [rec["g"], int(rec["s"])], "h": rec.get("h", "")}))
                 for rec in records], prefix=pointers_prefix(queue.account, queue.region, queue.qid))
    for group, at in new_groups.items():
        tx.put(heads + (at, group), b"")


def receive(tx: Transaction, queue: Queue, count: int, visibility_s: int, now_ms: int,
            dead: Dead | None) -> list[dict]:
    heads = heads_prefix(queue)
    prefix = rows_prefix(queue)
    max_receives = queue.redrive["maxReceiveCount"] if queue.redrive else None
    taken: list[dict] = []
    for key, _ in tx.claim_many(heads, end=heads + (now_ms + 1,), limit=count):
        if len(taken) >= count:
            break
        head_at, group = key[len(heads):]
        changed = False
        for rel, value in tx.range(prefix + (group,), limit=count - len(taken) + 10, relative=True):
            rec = json.loads(value)
            if rec["v"] > now_ms or len(taken) >= count:
                break
            changed = True
            if max_receives is not None and rec["rc"] >= max_receives and dead is not None and dead(tx, rec):
                tx.delete(prefix + (group,) + rel)
                tx.delete(pointer_key(queue.account, queue.region, queue.qid, rec["id"]))
                continue
            rec["rc"] += 1
            rec.setdefault("fr", now_ms)
            rec["v"] = now_ms + visibility_s * 1000
            rec["h"] = nonce()
            tx.put(prefix + (group,) + rel, dumps_json(rec))
            tx.put_json(pointer_key(queue.account, queue.region, queue.qid, rec["id"]),
                        {"k": [group, int(rec["s"])], "h": rec["h"]})
            taken.append(rec)
        if changed:
            _move_head(tx, queue, group, head_at)
    return taken


def expired(handle: str) -> Exception:
    return invalid_value(handle, "ReceiptHandle", "The receipt handle has expired.")


def _located(tx: Transaction, queue: Queue, msg_id: str, handle_nonce: str) -> tuple[tuple, dict] | None:
    found = tx.get_json(pointer_key(queue.account, queue.region, queue.qid, msg_id))
    if found is None or found["h"] != handle_nonce:
        return None
    key = rows_prefix(queue) + tuple(found["k"])
    raw = tx.get(key)
    return None if raw is None else (key, json.loads(raw))


def delete(tx: Transaction, queue: Queue, msg_id: str, handle_nonce: str, handle: str, now_ms: int) -> bool:
    """Delete a received message; a handle that is no longer the message's latest receive, or
    whose visibility timeout passed: InvalidParameterValue (the receipt handle has expired), as
    on AWS's FIFO queues. True when the group's next message became receivable."""
    if tx.get(pointer_key(queue.account, queue.region, queue.qid, msg_id)) is None:
        return False
    located = _located(tx, queue, msg_id, handle_nonce)
    if located is None or located[1]["v"] <= now_ms:
        raise expired(handle)
    key, rec = located
    was_head = _first(tx, queue, rec["g"])
    tx.delete(key)
    tx.delete(pointer_key(queue.account, queue.region, queue.qid, msg_id))
    if was_head is not None and was_head[1]["id"] == msg_id:
        at = _move_head(tx, queue, rec["g"], rec["v"])
        return at is not None and at <= now_ms
    return False


def remove(tx: Transaction, queue: Queue, msg_id: str) -> dict | None:
    found = tx.get_json(pointer_key(queue.account, queue.region, queue.qid, msg_id))
    if found is None:
        return None
    key = rows_prefix(queue) + tuple(found["k"])
    raw = tx.get(key)
    if raw is None:
        tx.delete(pointer_key(queue.account, queue.region, queue.qid, msg_id))
        return None
    rec = json.loads(raw)
    was_head = _first(tx, queue, rec["g"])
    tx.delete(key)
    tx.delete(pointer_key(queue.account, queue.region, queue.qid, msg_id))
    if was_head is not None and was_head[1]["id"] == msg_id:
        _move_head(tx, queue, rec["g"], rec["v"])
    return rec


def change_visibility(tx: Transaction, queue: Queue, msg_id: str, handle_nonce: str, handle: str,
                      visibility_s: int, now_ms: int) -> bool:
    located = _located(tx, queue, msg_id, handle_nonce)
    if located is None:
        raise not_available(handle)
    key, rec = located
    if rec["v"] <= now_ms:
        raise MessageNotInflight("The message referred to isn't in flight.")
    first = _first(tx, queue, rec["g"])
    old = rec["v"]
    rec["v"] = now_ms + visibility_s * 1000
    tx.put(key, dumps_json(rec))
    if first is not None and first[1]["id"] == msg_id:
        _move_head(tx, queue, rec["g"], old)
        return visibility_s == 0
    return False


def counts(tx: Transaction, queue: Queue, now_ms: int) -> dict[str, int]:
    records = (json.loads(value) for _, value in tx.range(rows_prefix(queue), relative=True))
    return tally(((rec["v"], rec["rc"]) for rec in records), now_ms)


def next_visible(tx: Transaction, queue: Queue, now_ms: int) -> int | None:
    heads = heads_prefix(queue)
    rows = tx.range(heads, start=heads + (now_ms + 1,), limit=1)
    return int(rows[0][0][len(heads)]) if rows else None


def purge(tx: Transaction, queue: Queue) -> None:
    tx.delete_range(rows_prefix(queue))
    tx.delete_range(heads_prefix(queue))
    tx.delete_range(pointers_prefix(queue.account, queue.region, queue.qid))


def expire_dedup(tx: Transaction, queue: Queue, now_ms: int) -> int:
    gone = [key for key, value in tx.range(dedup_prefix(queue)) if json.loads(value)["until"] <= now_ms]
    tx.delete_many(gone)
    return len(gone)
