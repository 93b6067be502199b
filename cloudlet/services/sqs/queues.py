"""Queues: their records, attributes (validated in AWS's words), URLs, ARNs and a cache.

State layout (account and region first, see store/keyspace.py; `qid` is a random id a queue gets
when it is created, so a queue re-created under the same name never sees the old one's rows):

    (account, region, "sqs", "queue", name)          -> queue record (JSON, below)
    (account, region, "sqs", "deleted", name)        -> {"at": ms} while QueueDeletedRecently holds
    ("global", "sqs", "queue", account, region, name) -> {"qid", "fifo", "retention"}: every queue,
                                                       for the retention sweep and move tasks
    messages.py and fifo.py document the message rows (all under `qid`).

A queue record: qid, fifo, attrs (the settable attributes, as strings, defaults filled in),
tags, created and modified (epoch seconds), purged (ms of the last PurgeQueue).

Records are read through `QueueCache`: on the hot paths (send, receive) a queue costs no store
read. A change to a record notifies the `sqs` channel (`q:<account>/<region>/<name>`), which drops
the entry in every process that hears it; entries also expire after a second, for replicas on
SQLite (which hear no other process's notifications).
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from cloudlet.store import Store, Transaction
from cloudlet.store.keyspace import global_key, resource_key, resource_prefix

from .errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidParameterValueException,
    invalid_value,
)

CHANNEL = "sqs"
DELETED_RECENTLY_S = 60
MAX_MESSAGE_BYTES = 262_144

DEFAULTS = {"DelaySeconds": "0", "MaximumMessageSize": str(MAX_MESSAGE_BYTES), "MessageRetentionPeriod": "345600",
            "ReceiveMessageWaitTimeSeconds": "0", "VisibilityTimeout": "30", "SqsManagedSseEnabled": "true"}
FIFO_DEFAULTS = {"FifoQueue": "true", "ContentBasedDeduplication": "false", "DeduplicationScope": "queue",
                 "FifoThroughputLimit": "perQueue"}
# Settable integer attributes and their ranges.
RANGES = {"DelaySeconds": (0, 900), "MaximumMessageSize": (1024, MAX_MESSAGE_BYTES),
          "MessageRetentionPeriod": (60, 1_209_600), "ReceiveMessageWaitTimeSeconds": (0, 20),
          "VisibilityTimeout": (0, 43_200), "KmsDataKeyReusePeriodSeconds": (60, 86_400)}
SETTABLE = {*RANGES, "Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId", "SqsManagedSseEnabled",
            "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
FIFO_ONLY = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
COUNTED = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
           "ApproximateNumberOfMessagesDelayed")
READ_ONLY = {*COUNTED, "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn"}
ALL_NAMES = ("All", *sorted(SETTABLE | READ_ONLY))

_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
NAME_RULE = "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
FIFO_NAME_RULE = ("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, "
                  "must end with .fifo suffix and be 1 to 80 in length.")
_ACCOUNT = re.compile(r"\d{12}")


# ---- keys ----

def queue_key(account: str, region: str, name: str) -> tuple:
    return resource_key(account, region, "sqs", "queue", name)


def queues_prefix(account: str, region: str) -> tuple:
    return resource_prefix(account, region, "sqs", "queue")


def deleted_key(account: str, region: str, name: str) -> tuple:
    return resource_key(account, region, "sqs", "deleted", name)


INDEX = global_key("sqs", "queue")


def index_key(account: str, region: str, name: str) -> tuple:
    return INDEX + (account, region, name)


def arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{account}:{name}"


def parse_arn(value: str) -> tuple[str, str, str] | None:
    """`arn:aws:sqs:<region>:<account>:<name>` -> (account, region, name), else None."""
    parts = value.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not parts[5] or not parts[3]:
        return None
    return parts[4], parts[3], parts[5]


# ---- names and URLs ----

def check_name(name: str, fifo: bool) -> None:
    if fifo:
        if not name.endswith(".fifo") or not _NAME.fullmatch(name[:-5] + "_fifo"):
            raise InvalidParameterValueException(FIFO_NAME_RULE)
    elif not _NAME.fullmatch(name):
        raise InvalidParameterValueException(NAME_RULE)


def base_url(host: str, port: int | None) -> str:
    """`http://<host>` of the request (its Host header, port included), else localhost."""
    if host:
        return f"http://{host}"
    return f"http://localhost:{port or 4566}"


def queue_url(base: str, account: str, name: str) -> str:
    return f"{base}/{account}/{name}"


@functools.lru_cache(maxsize=4096)
def parse_url(url: str, region: str) -> tuple[str, str, str] | None:
    """A QueueUrl -> (account, region, name): `<scheme>://<host>/<account>/<name>`, where the host
    may name the region (`sqs.<region>.amazonaws.com`, `sqs.<region>.localhost.localstack.cloud`)
    and the path may start with LocalStack's `/queue/<region>`. None if it is none of these."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2 or not _ACCOUNT.fullmatch(segments[-2]):
        return None
    host = (parts.hostname or "").split(".")
    if len(segments) == 4 and segments[0] == "queue":
        region = segments[1]
    elif len(host) > 2 and host[0] == "sqs" and re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", host[1]):
        region = host[1]
    elif len(host) > 2 and host[1] == "queue" and re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", host[0]):
        region = host[0]
    return segments[-2], region, segments[-1]


# ---- attributes ----

def _bool(value: str) -> str | None:
    low = value.lower()
    return low if low in ("true", "false") else None


def normalize(name: str, value: str, fifo: bool, *, creating: bool) -> str:
    """The stored form of attribute `name` = `value`, or AWS's error."""
    if name not in SETTABLE:
        raise InvalidAttributeName(f"Unknown Attribute {name}.")
    if name in RANGES:
        low, high = RANGES[name]
        try:
            number = int(value)
        except ValueError:
            raise InvalidAttributeValue(f"Invalid value for the parameter {name}.") from None
        if not low <= number <= high:
            raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
        return str(number)
    if name in ("SqsManagedSseEnabled", "ContentBasedDeduplication", "FifoQueue"):
        flag = _bool(value)
        if flag is None:
            raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
        if name == "FifoQueue":
            if not creating:
                raise InvalidAttributeName(f"Unknown Attribute {name}.")
            if flag == "false" and fifo:
                raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
        if name in FIFO_ONLY and not fifo:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        return flag
    if name in FIFO_ONLY and not fifo:
        raise InvalidAttributeName(f"You can specify the {name} only when FifoQueue is set to true.")
    if name == "DeduplicationScope" and value not in ("messageGroup", "queue"):
        raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
    if name == "FifoThroughputLimit" and value not in ("perQueue", "perMessageGroupId"):
        raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
    if name == "Policy" and value:
        try:
            doc = json.loads(value)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
    return value


def check_redrive(value: str) -> dict[str, Any]:
    """The parsed RedrivePolicy, or AWS's error (the target is checked by the caller)."""
    try:
        policy = json.loads(value)
    except ValueError:
        policy = None
    if not isinstance(policy, dict):
        raise invalid_value(value, "RedrivePolicy", "Redrive policy is not a valid JSON map.")
    target = policy.get("deadLetterTargetArn")
    count = policy.get("maxReceiveCount")
    if not target:
        raise invalid_value(value, "RedrivePolicy", "Redrive policy does not contain mandatory attribute: "
                                                    "deadLetterTargetArn.")
    if count is None:
        raise invalid_value(value, "RedrivePolicy", "Redrive policy does not contain mandatory attribute: "
                                                    "maxReceiveCount.")
    try:
        number = int(count)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= 1000:
        raise invalid_value(value, "RedrivePolicy", f"Invalid value for maxReceiveCount: {count}, valid values "
                                                    "are from 1 to 1000 both inclusive.")
    if parse_arn(str(target)) is None:
        raise invalid_value(value, "RedrivePolicy", "Invalid value for deadLetterTargetArn.")
    return {"deadLetterTargetArn": str(target), "maxReceiveCount": number}


def check_redrive_allow(value: str) -> dict[str, Any]:
    try:
        policy = json.loads(value)
    except ValueError:
        policy = None
    reason = None
    if not isinstance(policy, dict):
        reason = "Redrive allow policy is not a valid JSON map."
    else:
        permission = policy.get("redrivePermission")
        sources = policy.get("sourceQueueArns")
        if permission not in ("allowAll", "denyAll", "byQueue"):
            reason = "Invalid value for redrivePermission."
        elif permission == "byQueue" and (not isinstance(sources, list) or not 1 <= len(sources) <= 10):
            reason = "Amazon SQS can't create the redrive allow policy, as it's in an unsupported format."
        elif permission != "byQueue" and sources:
            reason = "Amazon SQS can't create the redrive allow policy, as it's in an unsupported format."
    if reason is not None:
        raise invalid_value(value, "RedriveAllowPolicy", reason)
    assert isinstance(policy, dict)
    return policy


def allows_source(dlq: dict, source_arn: str) -> bool:
    """Whether the DLQ's RedriveAllowPolicy lets `source_arn` use it."""
    raw = dlq["attrs"].get("RedriveAllowPolicy")
    if not raw:
        return True
    try:
        policy = json.loads(raw)
    except ValueError:
        return True
    permission = policy.get("redrivePermission")
    if permission == "denyAll":
        return False
    if permission == "byQueue":
        return source_arn in (policy.get("sourceQueueArns") or ())
    return True


def new_record(name: str, fifo: bool, attrs: dict[str, str], tags: dict[str, str], now: float) -> dict:
    full = {**DEFAULTS, **(FIFO_DEFAULTS if fifo else {}), **attrs}
    return {"qid": secrets.token_hex(8), "fifo": fifo, "attrs": full, "tags": dict(tags),
            "created": int(now), "modified": int(now), "purged": 0}


def index_value(record: dict) -> dict:
    return {"qid": record["qid"], "fifo": record["fifo"], "retention": int(record["attrs"]["MessageRetentionPeriod"])}


class Queue:
    """A queue as the hot paths need it, decoded once from its record."""

    __slots__ = ("account", "region", "name", "record", "qid", "fifo", "attrs", "arn", "visibility", "delay",
                 "max_size", "wait", "redrive", "content_dedup", "group_scope", "expires")

    def __init__(self, account: str, region: str, name: str, record: dict, expires: float) -> None:
        self.account, self.region, self.name, self.record = account, region, name, record
        self.qid: str = record["qid"]
        self.fifo: bool = record["fifo"]
        attrs = self.attrs = record["attrs"]
        self.arn = arn(account, region, name)
        self.visibility = int(attrs["VisibilityTimeout"])
        self.delay = int(attrs["DelaySeconds"])
        self.max_size = int(attrs["MaximumMessageSize"])
        self.wait = int(attrs["ReceiveMessageWaitTimeSeconds"])
        redrive = attrs.get("RedrivePolicy")
        self.redrive: dict | None = json.loads(redrive) if redrive else None
        self.content_dedup = attrs.get("ContentBasedDeduplication") == "true"
        self.group_scope = attrs.get("DeduplicationScope") == "messageGroup"
        self.expires = expires


class QueueCache:
    """Queue records by (account, region, name), dropped on change notifications (module doc)."""

    TTL = 1.0

    def __init__(self, store: Store) -> None:
        self.store = store
        self._entries: dict[tuple[str, str, str], Queue] = {}
        self._lock = threading.Lock()

    def on_note(self, payload: str) -> None:
        if payload.startswith("q:"):
            account, region, name = payload[2:].split("/", 2)
            with self._lock:
                self._entries.pop((account, region, name), None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get(self, account: str, region: str, name: str, tx: Transaction | None = None) -> Queue | None:
        key = (account, region, name)
        found = self._entries.get(key)
        now = time.monotonic()
        if found is not None and found.expires > now:
            return found
        record = tx.get_json(queue_key(*key)) if tx is not None else self.store.get_json(queue_key(*key))
        if record is None:
            return None
        queue = Queue(account, region, name, record, now + self.TTL)
        with self._lock:
            self._entries[key] = queue
        return queue

    def require(self, account: str, region: str, name: str, query: bool, tx: Transaction | None = None) -> Queue:
        from .errors import queue_not_found

        queue = self.get(account, region, name, tx)
        if queue is None:
            raise queue_not_found(query)
        return queue


def changed(tx: Transaction, account: str, region: str, name: str) -> None:
    """Tell every cache the record of this queue changed (once `tx` commits)."""
    tx.notify(CHANNEL, f"q:{account}/{region}/{name}")

