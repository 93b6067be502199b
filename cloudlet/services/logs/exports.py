"""Export tasks: a log group's events in a time range, written to S3 objects as AWS writes them.

State layout (account and region scoped, as on AWS):

    (account, region, "logs", "export", taskId)     -> task record (JSON): taskName, logGroupName,
                                                       logStreamNamePrefix, from, to, destination,
                                                       destinationPrefix, status {code, message},
                                                       creationTime, completionTime
    (account, region, "logs", "export-active")      -> taskId of the one PENDING or RUNNING task

CreateExportTask checks the group, the one-active-task limit and the bucket (by writing the
`aws-logs-write-test` object AWS writes), then stores the task PENDING, its active marker and an
outbox record ("logs.export") in one transaction. The outbox runs the record (leased: a replica
that dies while exporting leaves it to another one or to its successor, which starts over and
overwrites the same objects): the task turns RUNNING; each stream whose name starts with
logStreamNamePrefix and has events in [from, to] (both inclusive) becomes the objects

    <destinationPrefix>/<taskId>/<logStreamName>/000000.gz, 000001.gz, ...

gzip text, one line per event, `<timestamp as 2024-01-02T03:04:05.678Z> <message>`, in timestamp
order, a stream's next object starting once one holds PART_BYTES of text. Events are read a
GetLogEvents page at a time (events.read_stream) and streamed through S3Api.put_object, so an
export never holds more than a page in memory. Then COMPLETED; FAILED (with S3's complaint) when
the bucket refuses the objects; CancelExportTask turns a PENDING or RUNNING task CANCELLED, and
the export stops at its next page (objects already written stay, as on AWS).
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from cloudlet.call import CallContext
from cloudlet.outbox import Done, Failed, Outbox, Record, enqueue
from cloudlet.retry import RetryPolicy
from cloudlet.services.paging import decode_token, encode_token
from cloudlet.services.s3.api import S3Api, S3ReadError
from cloudlet.store import ConflictError, Store, Transaction
from cloudlet.store.keyspace import resource_key, resource_prefix

from . import events as ev
from .groups import (
    GROUP_NOT_FOUND,
    E,
    InvalidParameterException,
    ResourceNotFoundException,
    check_group_name,
    check_stream_name,
    group_arn,
    group_key,
    invalid_token,
    streams_prefix,
)

KIND = "logs.export"
DEFAULT_PREFIX = "exportedlogs"
WRITE_TEST_KEY = "aws-logs-write-test"
WRITE_TEST_BODY = b"Permission Check Successful"
# Text per object before a stream's next object starts (cloudlet's choice: AWS does not document
# where it splits a stream).
PART_BYTES = 64 * 1024 * 1024
STREAM_CHUNK = 200
DEFAULT_LIMIT = 50
ACTIVE = ("PENDING", "RUNNING")
MESSAGES = {"PENDING": "Pending", "RUNNING": "Started successfully", "COMPLETED": "Completed successfully",
            "CANCELLED": "Cancelled by user"}
# An export fails on a bug or a broken store, not on input (S3's refusals fail the task at once).
POLICY = RetryPolicy(max_retries=2, max_age_s=3600, delays_s=(5.0, 30.0))

LimitExceededException = E.LimitExceededException
InvalidOperationException = E.InvalidOperationException
ServiceUnavailableException = E.ServiceUnavailableException

TASK_NOT_FOUND = "The specified export task does not exist."
TASK_FINISHED = "The specified export task has already finished"
LIMIT_EXCEEDED = "Resource limit exceeded."
BUCKET_MISSING = "The given bucket does not exist. Please make sure the bucket is valid."
BUCKET_DENIED = ("GetBucketAcl call on the given bucket failed. Please check if CloudWatch Logs has been granted "
                 "permission to perform this operation.")
BUCKET_ELSEWHERE = "The given bucket is not in the same region as the log group."


def task_key(account: str, region: str, task_id: str) -> tuple:
    return resource_key(account, region, "logs", "export", task_id)


def tasks_prefix(account: str, region: str) -> tuple:
    return resource_prefix(account, region, "logs", "export")


def active_key(account: str, region: str) -> tuple:
    return resource_key(account, region, "logs", "export-active")


def iso_ms(ts: int) -> str:
    """`2024-01-02T03:04:05.678Z`: an event's timestamp as an exported line starts."""
    return datetime.fromtimestamp(ts // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ts % 1000:03d}Z"


def describe(task_id: str, record: dict) -> dict:
    """An ExportTask, its members in the model's order."""
    out: dict[str, Any] = {"taskId": task_id}
    for name in ("taskName", "logGroupName", "from", "to", "destination", "destinationPrefix"):
        if record.get(name) is not None:
            out[name] = record[name]
    out["status"] = dict(record["status"])
    info = {"creationTime": record["creationTime"]}
    if record.get("completionTime") is not None:
        info["completionTime"] = record["completionTime"]
    out["executionInfo"] = info
    return out


def _is_position(position: Any) -> bool:
    """A DescribeExportTasks token: `[creationTime, taskId]` of the last task listed."""
    return (isinstance(position, list) and len(position) == 2 and isinstance(position[0], int)
            and isinstance(position[1], str))


class Cancelled(Exception):
    """The task was cancelled (or is gone) while it ran."""


class GzipParts:
    """Lines split into gzip objects of at most `part_bytes` of text each (at least one line
    each): iterate for the parts, and exhaust each part (an iterator of compressed chunks)
    before asking for the next."""

    def __init__(self, lines: Iterator[bytes], part_bytes: int = PART_BYTES) -> None:
        self.lines = lines
        self.part_bytes = part_bytes
        self.next_line = next(lines, None)

    def __iter__(self) -> Iterator[Iterator[bytes]]:
        while self.next_line is not None:
            yield self._part()

    def _part(self) -> Iterator[bytes]:
        packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip member
        size = 0
        line = self.next_line
        while line is not None and (size == 0 or size + len(line) <= self.part_bytes):
            size += len(line)
            if chunk := packer.compress(line):
                yield chunk
            line = next(self.lines, None)
        self.next_line = line
        yield packer.flush()


class ExportTasks:
    def __init__(self, store: Store, outbox: Outbox, s3: S3Api | None,
                 off_loop: Callable[..., Awaitable[Any]]) -> None:
        self.store = store
        self.s3 = s3
        self.off_loop = off_loop
        outbox.register(KIND, run=self._run, policy=POLICY, on_failure=self._on_failure, max_in_flight=4)

    # ---- CreateExportTask, DescribeExportTasks, CancelExportTask ----

    def create(self, ctx: Any, params: dict) -> dict:
        group = params["logGroupName"]
        check_group_name(group)
        stream_prefix = params.get("logStreamNamePrefix")
        if stream_prefix:
            check_stream_name(stream_prefix, "logStreamNamePrefix")
        start, end = params["from"], params["to"]
        if start > end:
            raise InvalidParameterException(
                f"Specified time range of '{start}' and '{end}' is not valid. Please make sure the values are "
                "within the retention period of the log group and from value is less than the to value")
        given_prefix = params.get("destinationPrefix")
        prefix = DEFAULT_PREFIX if given_prefix is None else given_prefix
        account, region = ctx.account, ctx.region
        with self.store.transaction(write=False) as tx:
            if tx.get(group_key(account, region, group)) is None:
                raise ResourceNotFoundException(GROUP_NOT_FOUND)
            self._check_limit(tx, account, region)
        call = CallContext.of(ctx).as_service("logs.amazonaws.com", group_arn(account, region, group))
        self._write_test(call, params["destination"], f"{given_prefix}/{WRITE_TEST_KEY}" if given_prefix
                         else WRITE_TEST_KEY)
        task_id = str(uuid.uuid4())
        record = {"taskName": params.get("taskName"), "logGroupName": group, "logStreamNamePrefix": stream_prefix,
                  "from": start, "to": end, "destination": params["destination"], "destinationPrefix": prefix,
                  "status": {"code": "PENDING", "message": MESSAGES["PENDING"]}, "creationTime": ev.now_ms()}
        try:
            with self.store.transaction() as tx:
                self._claim_slot(tx, account, region, task_id)
                tx.put_json(task_key(account, region, task_id), record)
                enqueue(tx, KIND, {"task": task_id}, call=call)
        except ConflictError:   # another CreateExportTask took the one active slot meanwhile
            raise LimitExceededException(LIMIT_EXCEEDED) from None
        return {"taskId": task_id}

    @staticmethod
    def _active_task(tx: Transaction, account: str, region: str) -> tuple[bool, int | None]:
        """(is a task active?, the version of the marker, None if there is none)."""
        found = tx.get_json_versioned(active_key(account, region))
        if found is None:
            return False, None
        active, version = found
        record = tx.get_json(task_key(account, region, active))
        return record is not None and record["status"]["code"] in ACTIVE, version

    def _check_limit(self, tx: Transaction, account: str, region: str) -> None:
        if self._active_task(tx, account, region)[0]:
            raise LimitExceededException(LIMIT_EXCEEDED)

    def _claim_slot(self, tx: Transaction, account: str, region: str, task_id: str) -> None:
        """Make `task_id` the account's active task; a racing claim is ConflictError."""
        busy, version = self._active_task(tx, account, region)
        if busy:
            raise LimitExceededException(LIMIT_EXCEEDED)
        if version is None:
            tx.put_json(active_key(account, region), task_id, if_absent=True)
        else:   # a stale marker (its task settled without clearing it)
            tx.put_json(active_key(account, region), task_id, if_version=version)

    def _write_test(self, call: CallContext, bucket: str, key: str) -> None:
        if self.s3 is None:
            raise ServiceUnavailableException("S3 is not served here, so no export can reach a bucket.")
        try:
            self.s3.put_object(call, bucket, key, WRITE_TEST_BODY, bucket_region=call.region)
        except S3ReadError as err:
            raise InvalidParameterException(_bucket_problem(err)) from None

    def describe(self, ctx: Any, params: dict) -> dict:
        task_id, code = params.get("taskId"), params.get("statusCode")
        limit = params.get("limit") or DEFAULT_LIMIT
        after = decode_token(params.get("nextToken"), invalid_token, _is_position)
        with self.store.transaction(write=False) as tx:
            if task_id is not None:
                found = tx.get_json(task_key(ctx.account, ctx.region, task_id))
                rows = [] if found is None else [(task_id, found)]
            else:
                rows = [(key[-1], json.loads(raw)) for key, raw in tx.range(tasks_prefix(ctx.account, ctx.region))]
        rows = [(tid, r) for tid, r in rows if code is None or r["status"]["code"] == code]
        # Newest first; the token is the position of the last task listed.
        rows.sort(key=lambda row: (-row[1]["creationTime"], row[0]))
        if after is not None:
            mark = (-after[0], after[1])
            rows = [row for row in rows if (-row[1]["creationTime"], row[0]) > mark]
        page = rows[:limit]
        out: dict[str, Any] = {"exportTasks": [describe(tid, r) for tid, r in page]}
        if len(rows) > limit:
            out["nextToken"] = encode_token([page[-1][1]["creationTime"], page[-1][0]])
        return out

    def cancel(self, ctx: Any, task_id: str) -> dict:
        def change(tx: Transaction) -> None:
            key = task_key(ctx.account, ctx.region, task_id)
            found = tx.get_json_versioned(key)
            if found is None:
                raise ResourceNotFoundException(TASK_NOT_FOUND)
            record, version = found
            if record["status"]["code"] not in ACTIVE:
                raise InvalidOperationException(TASK_FINISHED)
            self._settle(tx, ctx.account, ctx.region, task_id, record, "CANCELLED", MESSAGES["CANCELLED"])
            tx.put_json(key, record, if_version=version)

        self.store.transact(change)
        return {}

    # ---- running (the outbox) ----

    async def _run(self, outbox_record: Record) -> Done | None:
        call = outbox_record.call
        assert call is not None
        await self.off_loop(self.export, call, outbox_record.body["task"])
        return None

    def _on_failure(self, tx: Transaction, outbox_record: Record, failure: Failed) -> None:
        call = outbox_record.call
        assert call is not None
        self._finish_in(tx, call.account, call.region, outbox_record.body["task"], "FAILED", failure.message)

    def export(self, call: CallContext, task_id: str) -> None:
        """Run the task (blocking: a worker thread); settles it COMPLETED or FAILED."""
        record = self._start(call.account, call.region, task_id)
        if record is None:
            return
        try:
            self._export(call, task_id, record)
        except Cancelled:
            return
        except S3ReadError as err:
            self._finish(call.account, call.region, task_id, "FAILED", _bucket_problem(err))
            return
        self._finish(call.account, call.region, task_id, "COMPLETED", MESSAGES["COMPLETED"])

    def _start(self, account: str, region: str, task_id: str) -> dict | None:
        """The task turned RUNNING (again, after a restart), or None if it is no longer active."""
        def change(tx: Transaction) -> dict | None:
            key = task_key(account, region, task_id)
            found = tx.get_json_versioned(key)
            if found is None or found[0]["status"]["code"] not in ACTIVE:
                return None
            record, version = found
            record["status"] = {"code": "RUNNING", "message": MESSAGES["RUNNING"]}
            tx.put_json(key, record, if_version=version)
            return record

        started: dict | None = self.store.transact(change)
        return started

    def _finish(self, account: str, region: str, task_id: str, code: str, message: str) -> None:
        self.store.transact(lambda tx: self._finish_in(tx, account, region, task_id, code, message))

    def _finish_in(self, tx: Transaction, account: str, region: str, task_id: str, code: str, message: str) -> None:
        """Settle a task that is still active (a cancelled one stays cancelled)."""
        key = task_key(account, region, task_id)
        found = tx.get_json_versioned(key)
        if found is None or found[0]["status"]["code"] not in ACTIVE:
            return
        record, version = found
        self._settle(tx, account, region, task_id, record, code, message)
        tx.put_json(key, record, if_version=version)

    @staticmethod
    def _settle(tx: Transaction, account: str, region: str, task_id: str, record: dict, code: str,
                message: str) -> None:
        record["status"] = {"code": code, "message": message}
        record["completionTime"] = ev.now_ms()
        if tx.get_json(active_key(account, region)) == task_id:
            tx.delete(active_key(account, region))

    def _export(self, call: CallContext, task_id: str, record: dict) -> None:
        assert self.s3 is not None
        group = record["logGroupName"]
        base = f"{record['destinationPrefix']}/{task_id}" if record["destinationPrefix"] else task_id
        for stream in self._streams(call.account, call.region, group, record):
            lines = self._lines(call.account, call.region, task_id, group, stream, record["from"], record["to"])
            for number, body in enumerate(GzipParts(lines)):
                self.s3.put_object(call, record["destination"], f"{base}/{stream}/{number:06d}.gz", body,
                                   bucket_region=call.region)

    def _streams(self, account: str, region: str, group: str, record: dict) -> Iterator[str]:
        """Names of the group's streams (those starting with the task's prefix) that have events
        in its range, read in chunks."""
        prefix = streams_prefix(account, region, group)
        name_prefix = record.get("logStreamNamePrefix") or ""
        after: tuple | None = None
        while True:
            with self.store.transaction(write=False) as tx:
                rows = tx.range(prefix, start=prefix + (name_prefix,) if name_prefix else None, after=after,
                                limit=STREAM_CHUNK)
            for key, raw in rows:
                name = key[-1]
                if not name.startswith(name_prefix):
                    return
                meta = json.loads(raw)
                first, last = meta.get("firstEventTimestamp"), meta.get("lastEventTimestamp")
                if first is not None and last is not None and first <= record["to"] and last >= record["from"]:
                    yield name
            if len(rows) < STREAM_CHUNK:
                return
            after = rows[-1][0]

    def _lines(self, account: str, region: str, task_id: str, group: str, stream: str, start: int,
               end: int) -> Iterator[bytes]:
        """The stream's events in [start, end] as exported lines, a GetLogEvents page at a time;
        Cancelled once the task is no longer active."""
        token = None
        while True:
            with self.store.transaction(write=False) as tx:
                current = tx.get_json(task_key(account, region, task_id))
                if current is None or current["status"]["code"] not in ACTIVE:
                    raise Cancelled(task_id)
                page = ev.read_stream(tx, account, region, group, stream, start_time=start, end_time=end + 1,
                                      token=token, start_from_head=True)
            if not page["events"]:
                return
            for event in page["events"]:
                yield f"{iso_ms(event['timestamp'])} {event['message']}\n".encode("utf-8", "surrogatepass")
            token = page["nextForwardToken"]


def _bucket_problem(err: S3ReadError) -> str:
    if err.code == "NoSuchBucket":
        return BUCKET_MISSING
    if err.code == "AccessDenied":
        return BUCKET_DENIED
    if err.code == "PermanentRedirect":
        return BUCKET_ELSEWHERE
    return f"{err.code}: {err.message}"
