"""Amazon SQS: standard and FIFO queues, messages, long polling, dead-letter queues, move tasks.

Each operation is a thin call into its module: control.py (queues), engine.py (messages, over
standard.py and fifo.py rows), redrive.py (move tasks, retention), waiting.py (long polls);
queues.py and messages.py document the state layout. One store transaction per call.
"""

from __future__ import annotations

import time
from typing import Any

from cloudlet.infra import Infra
from cloudlet.protocol.errors import ServiceError
from cloudlet.services.paging import decode_token, encode_token
from cloudlet.services.provider import Provider

from . import control, engine
from .api import SqsApi
from .errors import (
    E,
    InvalidParameterValueException,
    ResourceNotFoundException,
    invalid_value,
    queue_not_found,
)
from .messages import attribute_filter, check_batch_ids, receipt_handle, to_message, wanted_system
from .queues import CHANNEL, MAX_MESSAGE_BYTES, Queue, arn, base_url, parse_arn, parse_url, queue_url
from .redrive import (
    TASKS,
    MoveTasks,
    RetentionSweeper,
    decode_handle,
    encode_handle,
    entry,
    task_key,
    tasks_prefix,
)
from .waiting import RECHECK_S, sleep_on


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _query(ctx) -> bool:
    """Whether the request speaks the query protocol (AWS words some errors differently)."""
    req = ctx.request
    return req is not None and "x-amz-target" not in req.headers


def _failure(entry_id: str, err: ServiceError) -> dict[str, Any]:
    from cloudlet.protocol import load_service
    from cloudlet.protocol.base import resolve_error

    wire = resolve_error(load_service("sqs"), err)
    return {"Id": entry_id, "SenderFault": wire.sender_fault, "Code": wire.code, "Message": err.message}


class SqsProvider(Provider):
    service = "sqs"
    limits = {
        "AddPermission": "stored in the queue's Policy; not evaluated (waits for IAM enforcement)",
        "SetQueueAttributes": "Policy and KMS attributes are stored, not applied; messages are not encrypted",
        "ReceiveMessage": "a standard queue returns every visible message up to MaxNumberOfMessages (AWS samples "
                          "servers and may return fewer)",
        "DeleteMessage": "a receipt handle of an earlier receive of the message deletes nothing and succeeds (as AWS "
                         "documents); on FIFO queues an expired handle is refused",
    }

    def __init__(self, infra: Infra) -> None:
        super().__init__(infra)
        self.api = SqsApi(self.store, infra.targets, infra.endpoint)
        self.cache = self.api.cache
        self.waiters = self.api.waiters
        self.move_tasks = MoveTasks(self.store, self.cache, infra.run_store)
        infra.background.add(self.move_tasks)
        infra.background.add(RetentionSweeper(self.store, self.cache))

    def reset(self) -> None:
        self.cache.clear()

    # ---- helpers ----

    def _url(self, ctx, account: str, name: str) -> str:
        host = ctx.request.host if ctx.request is not None else ""
        return queue_url(base_url(host, self.infra.endpoint.port), account, name)

    def _queue(self, ctx, params: dict, tx=None) -> Queue:
        url = params["QueueUrl"]
        found = parse_url(url, ctx.region)
        if found is None:
            if "/" not in url and url:
                return self.cache.require(ctx.account, ctx.region, url, _query(ctx), tx)
            raise E.InvalidAddress(f"The address {url} is not valid for this endpoint.")
        return self.cache.require(*found, _query(ctx), tx)

    def _by_arn(self, tx, value: str, parameter: str) -> Queue:
        found = parse_arn(value)
        if found is None:
            raise InvalidParameterValueException(
                f"You must use this format to specify the {parameter}: arn:<partition>:<service>:<region>:"
                "<account-id>:<resource-id>")
        queue = self.cache.get(*found, tx)
        if queue is None:
            raise ResourceNotFoundException(f"The resource that you specified for the {parameter} parameter "
                                            "doesn't exist.")
        return queue

    # ---- queues ----

    def create_queue(self, ctx, params):
        name = params["QueueName"]
        attrs = {k: str(v) for k, v in (params.get("Attributes") or {}).items()}
        self.store.transact(lambda tx: control.create(tx, self.cache, ctx.account, ctx.region, name, attrs,
                                                      params.get("tags") or {}))
        return {"QueueUrl": self._url(ctx, ctx.account, name)}

    def get_queue_url(self, ctx, params):
        account = params.get("QueueOwnerAWSAccountId") or ctx.account
        self.cache.require(account, ctx.region, params["QueueName"], _query(ctx))
        return {"QueueUrl": self._url(ctx, account, params["QueueName"])}

    def list_queues(self, ctx, params):
        limit = params.get("MaxResults")
        if limit is not None and not 1 <= limit <= 1000:
            raise invalid_value(limit, "MaxResults", "MaxResults must be an integer between 1 and 1000.")
        after = decode_token(params.get("NextToken"), lambda: InvalidParameterValueException(
            "Invalid or expired next token."), lambda p: isinstance(p, str))
        with self.store.transaction(write=False) as tx:
            found = control.names(tx, ctx.account, ctx.region, params.get("QueueNamePrefix") or "", after,
                                  limit if limit is not None else 1000)
        page = limit if limit is not None else 1000
        out: dict[str, Any] = {}
        if found:
            out["QueueUrls"] = [self._url(ctx, ctx.account, n) for n in found[:page]]
        if limit is not None and len(found) > page:
            out["NextToken"] = encode_token(found[page - 1])
        return out

    def delete_queue(self, ctx, params):
        self.store.transact(lambda tx: control.delete(tx, self._queue(ctx, params, tx)))
        return {}

    def get_queue_attributes(self, ctx, params):
        with self.store.transaction(write=False) as tx:
            queue = self._queue(ctx, params, tx)
            attrs = control.get_attributes(tx, queue, params.get("AttributeNames") or [])
        return {"Attributes": attrs} if attrs else {}

    def set_queue_attributes(self, ctx, params):
        given = {k: str(v) for k, v in (params.get("Attributes") or {}).items()}
        self.store.transact(lambda tx: control.set_attributes(tx, self.cache, self._queue(ctx, params, tx), given))
        return {}

    def tag_queue(self, ctx, params):
        self.store.transact(lambda tx: control.tag(tx, self._queue(ctx, params, tx), params.get("Tags") or {}))
        return {}

    def untag_queue(self, ctx, params):
        self.store.transact(lambda tx: control.untag(tx, self._queue(ctx, params, tx), params.get("TagKeys") or []))
        return {}

    def list_queue_tags(self, ctx, params):
        with self.store.transaction(write=False) as tx:
            tags = self._queue(ctx, params, tx).record.get("tags") or {}
        return {"Tags": tags} if tags else {}

    def purge_queue(self, ctx, params):
        self.store.transact(lambda tx: control.purge(tx, self._queue(ctx, params, tx)))
        return {}

    def add_permission(self, ctx, params):
        self.store.transact(lambda tx: control.add_permission(tx, self._queue(ctx, params, tx), params["Label"],
                                                              params["AWSAccountIds"], params["Actions"]))
        return {}

    def remove_permission(self, ctx, params):
        self.store.transact(lambda tx: control.remove_permission(tx, self._queue(ctx, params, tx), params["Label"]))
        return {}

    def list_dead_letter_source_queues(self, ctx, params):
        limit = params.get("MaxResults")
        after = decode_token(params.get("NextToken"), lambda: InvalidParameterValueException(
            "Invalid or expired next token."), lambda p: isinstance(p, str))
        with self.store.transaction(write=False) as tx:
            queue = self._queue(ctx, params, tx)
            names = [n for n in control.dead_letter_sources(tx, queue.account, queue.region, queue.arn)
                     if after is None or n > after]
        page = names[:limit] if limit else names
        out: dict[str, Any] = {"queueUrls": [self._url(ctx, queue.account, n) for n in page]}
        if limit and len(names) > limit:
            out["NextToken"] = encode_token(page[-1])
        return out

    # ---- messages ----

    def send_message(self, ctx, params):
        queue = self._queue(ctx, params)
        now = _now_ms()
        record = engine.prepare(queue, params, ctx.account, ctx.trace_header, now)
        sent = self.store.transact(lambda tx: engine.send(tx, queue, [record], now))[0]
        return self.api.sent(sent)

    def send_message_batch(self, ctx, params):
        queue = self._queue(ctx, params)
        entries = params.get("Entries") or []
        check_batch_ids(entries, "SendMessageBatchRequestEntry")
        total = sum(len((e.get("MessageBody") or "").encode()) + _attr_size(e) for e in entries)
        if total > MAX_MESSAGE_BYTES:
            raise E.BatchRequestTooLong(f"Batch requests cannot be longer than {MAX_MESSAGE_BYTES} bytes. You have "
                                        f"sent {total} bytes.")
        now = _now_ms()
        ready, failed = [], []
        for item in entries:
            try:
                ready.append((item["Id"], engine.prepare(queue, item, ctx.account, ctx.trace_header, now)))
            except ServiceError as err:
                failed.append(_failure(item["Id"], err))
        sent = self.store.transact(lambda tx: engine.send(tx, queue, [r for _, r in ready], now)) if ready else []
        out: dict[str, Any] = {"Successful": [{"Id": i, **self.api.sent(s)} for (i, _), s in zip(ready, sent, strict=True)],
                               "Failed": failed}
        return out

    async def receive_message(self, ctx, params):
        query = _query(ctx)
        queue = await self.infra.run_store(self._queue, ctx, params)
        count = params.get("MaxNumberOfMessages")
        if count is None:
            count = 1
        elif not 1 <= count <= 10:
            raise invalid_value(count, "MaxNumberOfMessages", "Must be between 1 and 10, if provided.")
        wait = params.get("WaitTimeSeconds")
        if wait is None:
            wait = queue.wait
        elif not 0 <= wait <= 20:
            raise invalid_value(wait, "WaitTimeSeconds", "Must be >= 0 and <= 20, if provided.")
        visibility = params.get("VisibilityTimeout")
        if visibility is None:
            visibility = queue.visibility
        elif not 0 <= visibility <= 43_200:
            raise invalid_value(visibility, "VisibilityTimeout", "Must be >= 0 and <= 43200, if provided.")
        system = wanted_system([*(params.get("AttributeNames") or ()), *(params.get("MessageSystemAttributeNames")
                                                                           or ())])
        attrs = attribute_filter(params.get("MessageAttributeNames"))
        attempt = params.get("ReceiveRequestAttemptId")
        args = (queue.account, queue.region, queue.name, count, visibility, attempt, query)
        taken, next_at = await self.infra.run_store(self.api.receive_now, *args)
        if not taken and wait:
            deadline = time.monotonic() + wait
            with self.waiters.watch((queue.account, queue.region, queue.name)) as event:
                while not taken and (left := deadline - time.monotonic()) > 0:
                    pause = min(left, RECHECK_S)
                    if next_at is not None:
                        pause = min(pause, max(0.0, (next_at - _now_ms()) / 1000))
                    await sleep_on(event, pause)
                    event.clear()
                    taken, next_at = await self.infra.run_store(self.api.receive_now, *args)
        messages = [to_message(r, receipt_handle(queue.qid, r["id"], r["h"]), system, attrs) for r in taken]
        return {"Messages": messages} if messages else {}

    def delete_message(self, ctx, params):
        queue = self._queue(ctx, params)
        self.store.transact(lambda tx: engine.delete(tx, queue, params["ReceiptHandle"], _now_ms()))
        return {}

    def delete_message_batch(self, ctx, params):
        queue = self._queue(ctx, params)
        entries = params.get("Entries") or []
        check_batch_ids(entries, "DeleteMessageBatchRequestEntry")
        return self.store.transact(lambda tx: self._each(
            tx, entries, lambda item: engine.delete(tx, queue, item["ReceiptHandle"], _now_ms())))

    def change_message_visibility(self, ctx, params):
        queue = self._queue(ctx, params)
        self.store.transact(lambda tx: engine.change_visibility(tx, queue, params["ReceiptHandle"],
                                                                params["VisibilityTimeout"], _now_ms()))
        return {}

    def change_message_visibility_batch(self, ctx, params):
        queue = self._queue(ctx, params)
        entries = params.get("Entries") or []
        check_batch_ids(entries, "ChangeMessageVisibilityBatchRequestEntry")
        return self.store.transact(lambda tx: self._each(tx, entries, lambda item: engine.change_visibility(
            tx, queue, item["ReceiptHandle"], item.get("VisibilityTimeout") or 0, _now_ms())))

    @staticmethod
    def _each(tx, entries: list[dict], act) -> dict:
        successful, failed = [], []
        for item in entries:
            try:
                act(item)
                successful.append({"Id": item["Id"]})
            except ServiceError as err:
                failed.append(_failure(item["Id"], err))
        return {"Successful": successful, "Failed": failed}

    # ---- move tasks ----

    def start_message_move_task(self, ctx, params):
        rate = params.get("MaxNumberOfMessagesPerSecond")
        if rate is not None and not 1 <= rate <= 500:
            raise invalid_value(rate, "MaxNumberOfMessagesPerSecond", "Must be between 1 and 500, if provided.")

        def start(tx) -> str:
            source = self._by_arn(tx, params["SourceArn"], "SourceArn")
            if not control.dead_letter_sources(tx, source.account, source.region, source.arn):
                raise InvalidParameterValueException("Source queue must be configured as a Dead Letter Queue.")
            dest = params.get("DestinationArn")
            if dest:
                self._by_arn(tx, dest, "DestinationArn")
            for _, value in tx.range(tasks_prefix(source.account, source.region, source.name)):
                if tx.get_json(TASKS + (_json(value)["id"],)) is not None:
                    raise InvalidParameterValueException(
                        "There is already a task running. Only one active task is allowed for a source queue arn "
                        "at a given time.")
            import secrets
            task_id = secrets.token_hex(16)
            started = _now_ms()
            counted = control.get_attributes(tx, source, ["ApproximateNumberOfMessages"])
            task = {"id": task_id, "source": source.arn, "dest": dest, "rate": rate, "status": "RUNNING",
                    "started": started, "moved": 0, "toMove": int(counted.get("ApproximateNumberOfMessages", 0))}
            tx.put_json(task_key(source.account, source.region, source.name, started, task_id), task)
            tx.put_json(TASKS + (task_id,), {"account": source.account, "region": source.region,
                                             "source": source.name, "started": started})
            return encode_handle(task_id, source.arn)

        return {"TaskHandle": self.store.transact(start)}

    def list_message_move_tasks(self, ctx, params):
        limit = params.get("MaxResults")
        if limit is not None and not 1 <= limit <= 10:
            raise invalid_value(limit, "MaxResults", "Must be between 1 and 10, if provided.")
        with self.store.transaction(write=False) as tx:
            source = self._by_arn(tx, params["SourceArn"], "SourceArn")
            rows = tx.range(tasks_prefix(source.account, source.region, source.name), reverse=True, limit=limit or 1)
        return {"Results": [entry(_json(v)) for _, v in rows]}

    def cancel_message_move_task(self, ctx, params):
        found = decode_handle(params["TaskHandle"])
        if found is None:
            raise InvalidParameterValueException("Value for parameter TaskHandle is invalid.")
        task_id, source_arn = found

        def cancel(tx) -> int:
            source = self._by_arn(tx, source_arn, "SourceArn")
            index = tx.get_json(TASKS + (task_id,))
            if index is None:
                raise ResourceNotFoundException("Task does not exist.")
            key = task_key(source.account, source.region, source.name, index["started"], task_id)
            task = tx.get_json(key)
            if task is None or task["status"] != "RUNNING":
                raise ResourceNotFoundException("Task does not exist.")
            task["status"] = "CANCELLED"
            tx.put_json(key, task)
            tx.delete(TASKS + (task_id,))
            return int(task["moved"])

        return {"ApproximateNumberOfMessagesMoved": self.store.transact(cancel)}


def _json(raw: bytes) -> Any:
    import json

    return json.loads(raw)


def _attr_size(item: dict) -> int:
    from .messages import attributes_size

    return attributes_size(item.get("MessageAttributes"))


__all__ = ["CHANNEL", "SqsProvider", "arn", "queue_not_found"]
