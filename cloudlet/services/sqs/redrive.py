"""Message move tasks (StartMessageMoveTask and friends) and the retention sweep: the two kinds
of background work SQS does on its own.

    (account, region, "sqs", "task", source name, started ms, task id) -> task (JSON)
    ("global", "sqs", "task", task id) -> {"account", "region", "source", "started"}: running tasks

A task moves the visible messages of a dead-letter queue to its DestinationArn, or each back to
the queue it came from (its DeadLetterQueueSourceArn), in batches of up to `BATCH` per
transaction (fewer with MaxNumberOfMessagesPerSecond), counting ApproximateNumberOfMessagesMoved,
until none is left (COMPLETED) or it is cancelled (CANCELLED). The runner picks running tasks
from the global index, so a task started before a restart carries on after it.

The retention sweep deletes, every `interval` seconds, the messages older than their queue's
MessageRetentionPeriod: message ids begin with their send time (messages.py), so the expired
ones are the first pointer rows of the queue. It also forgets FIFO deduplication ids and receive
attempts older than 5 minutes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from typing import Any

from cloudlet.background import sleep_or_stop
from cloudlet.store import Store, Transaction
from cloudlet.store.keyspace import global_key, resource_key, resource_prefix

from . import fifo, standard
from .engine import arrived, rows_of
from .messages import id_bound, pointers_prefix
from .queues import INDEX, Queue, QueueCache, parse_arn

log = logging.getLogger("cloudlet.sqs")

BATCH = 100
TICK_S = 0.1
IDLE_S = 0.25   # (an idle look is one range read of the running-task index)
TASKS = global_key("sqs", "task")


def task_key(account: str, region: str, source: str, started: int, task_id: str) -> tuple:
    return resource_key(account, region, "sqs", "task", source, started, task_id)


def tasks_prefix(account: str, region: str, source: str) -> tuple:
    return resource_prefix(account, region, "sqs", "task", source)


def encode_handle(task_id: str, source_arn: str) -> str:
    return base64.b64encode(json.dumps({"taskId": task_id, "sourceArn": source_arn}).encode()).decode()


def decode_handle(handle: str) -> tuple[str, str] | None:
    try:
        found = json.loads(base64.b64decode(handle, validate=True))
        return str(found["taskId"]), str(found["sourceArn"])
    except (ValueError, KeyError, TypeError):
        return None


def entry(task: dict) -> dict[str, Any]:
    """A task as ListMessageMoveTasks shows it."""
    out: dict[str, Any] = {"Status": task["status"], "SourceArn": task["source"],
                           "ApproximateNumberOfMessagesMoved": task["moved"],
                           "ApproximateNumberOfMessagesToMove": task["toMove"], "StartedTimestamp": task["started"]}
    if task["status"] == "RUNNING":
        out["TaskHandle"] = encode_handle(task["id"], task["source"])
    if task.get("dest"):
        out["DestinationArn"] = task["dest"]
    if task.get("rate"):
        out["MaxNumberOfMessagesPerSecond"] = task["rate"]
    if task.get("failure"):
        out["FailureReason"] = task["failure"]
    return out


class MoveTasks:
    """Background service: runs the message move tasks (module doc)."""

    name = "sqs-move-tasks"

    def __init__(self, store: Store, cache: QueueCache, run_store: Any) -> None:
        self.store = store
        self.cache = cache
        self.run_store = run_store

    async def run(self, stopping: asyncio.Event) -> None:
        while True:
            busy = await self.run_store(self.step)
            if await sleep_or_stop(stopping, TICK_S if busy else IDLE_S):
                return

    def step(self) -> bool:
        """One batch of every running task; True while any is still running."""
        running = self.store.range(TASKS)
        for key, value in running:
            task_id, index = key[-1], json.loads(value)

            def batch(tx: Transaction, task_id: str = task_id, index: dict = index) -> None:
                self._batch(tx, task_id, index)
            self.store.transact(batch)
        return bool(running)

    def _batch(self, tx: Transaction, task_id: str, index: dict) -> None:
        key = task_key(index["account"], index["region"], index["source"], index["started"], task_id)
        task = tx.get_json(key)
        if task is None or task["status"] != "RUNNING":
            tx.delete(TASKS + (task_id,))
            if task is not None and task["status"] == "CANCELLING":
                task["status"] = "CANCELLED"
                tx.put_json(key, task)
            return
        source = self.cache.get(index["account"], index["region"], index["source"], tx)
        if source is None:
            self._finish(tx, key, task, "FAILED", "AWS.SimpleQueueService.NonExistentQueue")
            return
        now_ms = time.time_ns() // 1_000_000
        size = BATCH if not task.get("rate") else max(1, int(task["rate"] * TICK_S))
        records = (fifo_visible(tx, source, now_ms, size) if source.fifo
                   else standard.visible_records(tx, source, now_ms, size))
        if not records:
            self._finish(tx, key, task, "COMPLETED")
            return
        for rec in records:
            target_arn = task.get("dest") or rec.get("src") or ""
            target_at = parse_arn(target_arn)
            target = self.cache.get(*target_at, tx) if target_at is not None else None
            if target is None or target.fifo != source.fifo:
                self._finish(tx, key, task, "FAILED", "AWS.SimpleQueueService.NonExistentQueue")
                return
            rows_of(source).remove(tx, source, rec["id"])
            moved = {k: v for k, v in rec.items() if k not in ("h", "src", "fr")}
            moved.update(v=now_ms, rc=0)
            if target.fifo:
                moved["s"] = str(fifo.next_sequences(tx, target, 1))
            rows_of(target).put(tx, target, [moved])
            arrived(tx, target)
            task["moved"] += 1
        tx.put_json(key, task)

    @staticmethod
    def _finish(tx: Transaction, key: tuple, task: dict, status: str, failure: str = "") -> None:
        task["status"] = status
        if failure:
            task["failure"] = failure
        tx.put_json(key, task)
        tx.delete(TASKS + (task["id"],))


def fifo_visible(tx: Transaction, queue: Queue, now_ms: int, limit: int) -> list[dict]:
    out = []
    for _, value in tx.range(fifo.rows_prefix(queue), limit=limit * 4):
        rec = json.loads(value)
        if rec["v"] <= now_ms:
            out.append(rec)
            if len(out) >= limit:
                break
    return out


class RetentionSweeper:
    """Background service: the retention sweep (module doc)."""

    name = "sqs-retention"

    def __init__(self, store: Store, cache: QueueCache, interval: float = 5.0) -> None:
        self.store = store
        self.cache = cache
        self.interval = interval

    async def run(self, stopping: asyncio.Event) -> None:
        while not await sleep_or_stop(stopping, self.interval):
            deleted = await asyncio.to_thread(self.sweep)
            if deleted:
                log.info("sqs retention: deleted %d expired messages", deleted)

    def sweep(self) -> int:
        deleted = 0
        now_ms = time.time_ns() // 1_000_000
        for key, value in self.store.range(INDEX):
            account, region, name = key[len(INDEX):]
            info = json.loads(value)

            def expire(tx: Transaction, a: str = account, r: str = region, n: str = name, i: dict = info) -> int:
                return self._expire(tx, a, r, n, i, now_ms)
            deleted += self.store.transact(expire)
        return deleted

    def _expire(self, tx: Transaction, account: str, region: str, name: str, info: dict, now_ms: int) -> int:
        queue = self.cache.get(account, region, name, tx)
        if queue is None or queue.qid != info["qid"]:
            return 0
        prefix = pointers_prefix(account, region, queue.qid)
        cutoff = now_ms - info["retention"] * 1000
        old = tx.range(prefix, end=prefix + (id_bound(cutoff),), limit=1000, relative=True)
        for rel, _ in old:
            rows_of(queue).remove(tx, queue, rel[0])
        if queue.fifo:
            fifo.expire_dedup(tx, queue, now_ms)
            attempts = resource_prefix(account, region, "sqs", "attempt", queue.qid)
            tx.delete_many([k for k, v in tx.range(attempts) if json.loads(v)["until"] <= now_ms])
        return len(old)
