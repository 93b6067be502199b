"""Queue operations: create, delete, attributes, listing, tags, permissions, purge.

Each takes the store transaction and the caller's account and region; the provider resolves
the queue and wraps the call. Records and their layout are in queues.py.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cloudlet.store import Transaction

from . import fifo, standard
from .errors import (
    InvalidAttributeName,
    InvalidParameterValueException,
    PurgeQueueInProgress,
    QueueDeletedRecently,
    QueueNameExists,
    invalid_value,
)
from .messages import pointers_prefix
from .queues import (
    ALL_NAMES,
    COUNTED,
    DELETED_RECENTLY_S,
    FIFO_ONLY,
    Queue,
    QueueCache,
    allows_source,
    arn,
    changed,
    check_name,
    check_redrive,
    check_redrive_allow,
    deleted_key,
    index_key,
    index_value,
    new_record,
    normalize,
    parse_arn,
    queue_key,
    queues_prefix,
)
from .redrive import TASKS, tasks_prefix

MAX_TAGS = 50
ACTIONS = ("*", "SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "GetQueueAttributes",
           "GetQueueUrl", "ListDeadLetterSourceQueues", "PurgeQueue", "ListQueueTags", "SendMessageBatch",
           "DeleteMessageBatch", "ChangeMessageVisibilityBatch")


def checked_attributes(tx: Transaction, cache: QueueCache, account: str, region: str, name: str,
                       given: dict[str, str], fifo_queue: bool, creating: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in given.items():
        out[key] = normalize(key, value, fifo_queue, creating=creating)
    if out.get("RedrivePolicy"):
        policy = check_redrive(out["RedrivePolicy"])
        target = parse_arn(policy["deadLetterTargetArn"])
        dlq = cache.get(*target, tx) if target is not None else None
        if dlq is None:
            raise invalid_value(out["RedrivePolicy"], "RedrivePolicy", "Dead letter target does not exist.")
        if dlq.fifo != fifo_queue:
            raise invalid_value(out["RedrivePolicy"], "RedrivePolicy",
                                "Dead-letter target must be the same type of queue as the source queue.")
        if not allows_source(dlq.record, arn(account, region, name)):
            raise invalid_value(out["RedrivePolicy"], "RedrivePolicy",
                                f"Queue {arn(account, region, name)} is not allowed to use "
                                f"{policy['deadLetterTargetArn']} as a dead-letter queue.")
        out["RedrivePolicy"] = json.dumps(policy, separators=(",", ":"))
    if out.get("RedriveAllowPolicy"):
        check_redrive_allow(out["RedriveAllowPolicy"])
    return out


def create(tx: Transaction, cache: QueueCache, account: str, region: str, name: str, given: dict[str, str],
           tags: dict[str, str]) -> None:
    fifo_queue = str(given.get("FifoQueue", "")).lower() == "true"
    check_name(name, fifo_queue)
    if not fifo_queue:
        for attr in FIFO_ONLY:
            if attr in given:
                raise InvalidAttributeName(f"You can specify the {attr} only when FifoQueue is set to true.")
    attrs = checked_attributes(tx, cache, account, region, name, given, fifo_queue, creating=True)
    existing = tx.get_json(queue_key(account, region, name))
    if existing is not None:
        for key, value in attrs.items():
            stored = existing["attrs"].get(key, "")
            if key == "FifoQueue" and not existing["fifo"] and value == "false":
                continue
            if stored != value:
                raise QueueNameExists(f"A queue already exists with the same name and a different value for "
                                      f"attribute {key}")
        return
    deleted = tx.get_json(deleted_key(account, region, name))
    now = time.time()
    if deleted is not None and deleted["at"] + DELETED_RECENTLY_S * 1000 > now * 1000:
        raise QueueDeletedRecently("You must wait 60 seconds after deleting a queue before you can create another "
                                   "with the same name.")
    if not fifo_queue:
        attrs.pop("FifoQueue", None)
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValueException(f"Too many tags added for queue {name}.")
    record = new_record(name, fifo_queue, {k: v for k, v in attrs.items() if v != "" or k != "Policy"}, tags, now)
    tx.put_json(queue_key(account, region, name), record)
    tx.put_json(index_key(account, region, name), index_value(record))
    if deleted is not None:
        tx.delete(deleted_key(account, region, name))
    changed(tx, account, region, name)


def delete(tx: Transaction, queue: Queue) -> None:
    a, r, n = queue.account, queue.region, queue.name
    (fifo if queue.fifo else standard).purge(tx, queue)
    if queue.fifo:
        tx.delete_range(fifo.dedup_prefix(queue))
        tx.delete(fifo.seq_key(queue))
    tx.delete(queue_key(a, r, n))
    tx.delete(index_key(a, r, n))
    tx.put_json(deleted_key(a, r, n), {"at": time.time_ns() // 1_000_000})
    for _, value in tx.range(tasks_prefix(a, r, n)):
        tx.delete(TASKS + (json.loads(value)["id"],))
    tx.delete_range(tasks_prefix(a, r, n))
    changed(tx, a, r, n)


def get_attributes(tx: Transaction, queue: Queue, names: list[str]) -> dict[str, str]:
    wanted = set(names)
    for name in wanted:
        if name not in ALL_NAMES:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
    every = "All" in wanted
    record = queue.record
    values: dict[str, str] = dict(record["attrs"])
    values.update(QueueArn=queue.arn, CreatedTimestamp=str(record["created"]),
                  LastModifiedTimestamp=str(record["modified"]))
    if every or wanted & set(COUNTED):
        now_ms = time.time_ns() // 1_000_000
        counted = (fifo if queue.fifo else standard).counts(tx, queue, now_ms)
        values.update({k: str(v) for k, v in counted.items()})
    return {k: v for k, v in values.items() if (every or k in wanted) and v != ""}


def set_attributes(tx: Transaction, cache: QueueCache, queue: Queue, given: dict[str, str]) -> None:
    record = tx.get_json(queue_key(queue.account, queue.region, queue.name)) or queue.record
    attrs = checked_attributes(tx, cache, queue.account, queue.region, queue.name, given, record["fifo"],
                               creating=False)
    for key, value in attrs.items():
        if value == "" and key in ("Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId"):
            record["attrs"].pop(key, None)
        else:
            record["attrs"][key] = value
    record["modified"] = int(time.time())
    tx.put_json(queue_key(queue.account, queue.region, queue.name), record)
    tx.put_json(index_key(queue.account, queue.region, queue.name), index_value(record))
    changed(tx, queue.account, queue.region, queue.name)


def update_record(tx: Transaction, queue: Queue, change: Any) -> dict:
    record = tx.get_json(queue_key(queue.account, queue.region, queue.name)) or queue.record
    change(record)
    tx.put_json(queue_key(queue.account, queue.region, queue.name), record)
    changed(tx, queue.account, queue.region, queue.name)
    return record


def tag(tx: Transaction, queue: Queue, tags: dict[str, str]) -> None:
    def change(record: dict) -> None:
        merged = {**record["tags"], **tags}
        if len(merged) > MAX_TAGS:
            raise InvalidParameterValueException(f"Too many tags added for queue {queue.name}.")
        record["tags"] = merged
    update_record(tx, queue, change)


def untag(tx: Transaction, queue: Queue, keys: list[str]) -> None:
    update_record(tx, queue, lambda record: [record["tags"].pop(k, None) for k in keys])


def purge(tx: Transaction, queue: Queue) -> None:
    now_ms = time.time_ns() // 1_000_000
    record = tx.get_json(queue_key(queue.account, queue.region, queue.name)) or queue.record
    if record.get("purged", 0) + 60_000 > now_ms:
        raise PurgeQueueInProgress(f"Only one PurgeQueue operation on {queue.name} is allowed every 60 seconds.")
    (fifo if queue.fifo else standard).purge(tx, queue)
    record["purged"] = now_ms
    tx.put_json(queue_key(queue.account, queue.region, queue.name), record)
    changed(tx, queue.account, queue.region, queue.name)


def add_permission(tx: Transaction, queue: Queue, label: str, accounts: list[str], actions: list[str]) -> None:
    for action in actions:
        if action not in ACTIONS:
            raise invalid_value(f"SQS:{action}", "ActionName", "Please refer to the appropriate WSDL for a list of "
                                                               "valid actions. ")

    def change(record: dict) -> None:
        raw = record["attrs"].get("Policy")
        policy: dict[str, Any] = json.loads(raw) if raw else {
            "Version": "2008-10-17", "Id": f"{queue.arn}/SQSDefaultPolicy", "Statement": []}
        statements: list[dict[str, Any]] = policy.setdefault("Statement", [])
        if any(s.get("Sid") == label for s in statements):
            raise invalid_value(label, "Label", "Already exists.")
        principals = [f"arn:aws:iam::{a}:root" for a in accounts]
        verbs = [f"SQS:{a}" for a in actions]
        statements.append({"Sid": label, "Effect": "Allow",
                           "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                           "Action": verbs[0] if len(verbs) == 1 else verbs, "Resource": queue.arn})
        record["attrs"]["Policy"] = json.dumps(policy, separators=(",", ":"))
    update_record(tx, queue, change)


def remove_permission(tx: Transaction, queue: Queue, label: str) -> None:
    def change(record: dict) -> None:
        raw = record["attrs"].get("Policy")
        policy = json.loads(raw) if raw else {"Statement": []}
        statements = policy.get("Statement") or []
        if not any(s.get("Sid") == label for s in statements):
            raise invalid_value(label, "Label", "can't find label.")
        policy["Statement"] = [s for s in statements if s.get("Sid") != label]
        if policy["Statement"]:
            record["attrs"]["Policy"] = json.dumps(policy, separators=(",", ":"))
        else:
            record["attrs"].pop("Policy", None)
    update_record(tx, queue, change)


def names(tx: Transaction, account: str, region: str, prefix: str, after: str | None, limit: int | None) -> list[str]:
    base = queues_prefix(account, region)
    start = base + (prefix,) if prefix else None
    out = []
    for key, _ in tx.range(base, start=start, after=base + (after,) if after else None,
                           limit=None if limit is None else limit + 1):
        name = key[len(base)]
        if prefix and not name.startswith(prefix):
            break
        out.append(name)
    return out


def dead_letter_sources(tx: Transaction, account: str, region: str, dlq_arn: str) -> list[str]:
    base = queues_prefix(account, region)
    out = []
    for key, value in tx.range(base):
        raw = json.loads(value)["attrs"].get("RedrivePolicy")
        if raw and json.loads(raw).get("deadLetterTargetArn") == dlq_arn:
            out.append(key[len(base)])
    return out


def pointers_of(queue: Queue) -> tuple:
    return pointers_prefix(queue.account, queue.region, queue.qid)
