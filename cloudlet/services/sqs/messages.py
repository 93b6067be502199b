"""Messages: their records, the checks AWS makes on them, MD5 digests, ids and receipt handles.

A message record (JSON, the value of its row; standard.py and fifo.py say under which key):

    id      MessageId (a UUID whose first 48 bits are the send time in ms, so ids sort by age:
            the retention sweep is a range scan of the pointer rows below)
    b, mb   body and its MD5;  a, ma: message attributes and their MD5;  sa, ms: system
            attributes (AWSTraceHeader) and their MD5
    t       SentTimestamp (ms);  snd: SenderId
    v       when it is visible next (ms): its send time plus delay, or the end of its visibility
            timeout once received
    rc, fr  ApproximateReceiveCount, ApproximateFirstReceiveTimestamp (ms)
    g, d, s MessageGroupId, MessageDeduplicationId, SequenceNumber (FIFO; g also on standard)
    src     DeadLetterQueueSourceArn, once moved to a dead-letter queue

Every message also has a pointer row, which receipt handles resolve through:

    (account, region, "sqs", "m", qid, message id) -> {"k": [rest of its row's key], "h": nonce}

`h` changes on every receive, so a receipt handle (`qid`, message id and `h`, base64) names one
receive of one message: a handle of an earlier receive is stale.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
import struct
import threading
import time
from collections.abc import Iterable
from typing import Any

from cloudlet.store.keyspace import resource_key, resource_prefix

from .errors import (
    InvalidMessageContents,
    InvalidParameterValueException,
    MissingParameterException,
    ReceiptHandleIsInvalid,
    invalid_value,
    missing,
)

MAX_ATTRIBUTES = 10
SYSTEM_ATTRIBUTE_NAMES = ("SenderId", "SentTimestamp", "ApproximateReceiveCount",
                          "ApproximateFirstReceiveTimestamp", "SequenceNumber", "MessageDeduplicationId",
                          "MessageGroupId", "AWSTraceHeader", "DeadLetterQueueSourceArn")
# (ReceiveMessage's AttributeNames takes queue attribute names too, and ignores them)
QUEUE_ATTRIBUTE_NAMES = frozenset({"Policy", "VisibilityTimeout", "MaximumMessageSize", "MessageRetentionPeriod",
                                   "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                   "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn",
                                   "ApproximateNumberOfMessagesDelayed", "DelaySeconds",
                                   "ReceiveMessageWaitTimeSeconds", "RedrivePolicy", "FifoQueue",
                                   "ContentBasedDeduplication", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
                                   "DeduplicationScope", "FifoThroughputLimit", "RedriveAllowPolicy",
                                   "SqsManagedSseEnabled"})
_BAD_CHARS = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTR_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_DATA_TYPE = re.compile(r"(String|Number|Binary)(\..+)?")
_FIFO_ID = re.compile(r"[\x21-\x7e]{1,128}")
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
INVALID_CHARS = ("Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | "
                 "#xE000 to #xFFFD | #x10000 to #x10FFFF")


def pointer_key(account: str, region: str, qid: str, msg_id: str) -> tuple:
    return resource_key(account, region, "sqs", "m", qid, msg_id)


def pointers_prefix(account: str, region: str, qid: str) -> tuple:
    return resource_prefix(account, region, "sqs", "m", qid)


# ---- ids ----

_id_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_message_id(now_ms: int | None = None) -> str:
    """A version-7 UUID: 48 bits of milliseconds, then a counter, then randomness; ids of one
    process sort in the order they were made."""
    global _last_ms, _counter
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    with _id_lock:
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:
                ms = _last_ms = ms + 1
                _counter = 0
        else:
            _last_ms, _counter = ms, secrets.randbelow(0x800)
        counter = _counter
    rand = int.from_bytes(os.urandom(8), "big") & 0x3FFF_FFFF_FFFF_FFFF
    h = f"{ms:012x}{0x7000 | counter:04x}{0x8000_0000_0000_0000 | rand:016x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def id_bound(ms: int) -> str:
    """A string that sorts after every message id made before `ms` and before any made at or after."""
    h = f"{max(ms, 0):012x}"
    return f"{h[:8]}-{h[8:12]}"


# ---- receipt handles ----

def receipt_handle(qid: str, msg_id: str, nonce: str) -> str:
    raw = f"{qid}/{msg_id}/{nonce}/{qid[::-1]}{nonce}".encode()  # (as long as AWS's: clients store them)
    return "AQEB" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_handle(handle: str) -> tuple[str, str, str]:
    """(qid, message id, nonce) of a receipt handle; ReceiptHandleIsInvalid if it is not one."""
    try:
        if not handle.startswith("AQEB"):
            raise ValueError
        body = handle[4:]
        parts = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode().split("/")
        if len(parts) != 4 or not all(parts[:3]):
            raise ValueError
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not a valid receipt handle.') from None
    return parts[0], parts[1], parts[2]


# ---- MD5 digests, as the AWS SDKs compute them to check ours ----

def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def attributes_md5(attributes: dict[str, dict[str, Any]]) -> str:
    """MD5 of message (or system) attributes: for each name in order, length-prefixed name and
    data type, a transport byte (1 string, 2 binary), then the length-prefixed value."""
    out = bytearray()
    for name in sorted(attributes):
        attr = attributes[name]
        data_type = attr["DataType"]
        for part in (name.encode(), data_type.encode()):
            out += struct.pack(">I", len(part)) + part
        if "BinaryValue" in attr and attr["BinaryValue"] is not None:
            value = attr["BinaryValue"]
            raw = value if isinstance(value, bytes) else base64.b64decode(value)
            out += b"\x02" + struct.pack(">I", len(raw)) + raw
        else:
            raw = str(attr.get("StringValue", "")).encode()
            out += b"\x01" + struct.pack(">I", len(raw)) + raw
    return md5_hex(bytes(out))


# ---- checks ----

def check_body(body: str | None, max_size: int, attributes: dict | None) -> None:
    if not body:
        raise missing("MessageBody")
    if _BAD_CHARS.search(body):
        raise InvalidMessageContents(INVALID_CHARS)
    if len(body.encode()) + attributes_size(attributes) > max_size:
        raise InvalidParameterValueException(
            f"One or more parameters are invalid. Reason: Message must be shorter than {max_size} bytes.")


def attributes_size(attributes: dict | None) -> int:
    size = 0
    for name, attr in (attributes or {}).items():
        size += len(name.encode()) + len(str(attr.get("DataType", "")).encode())
        if attr.get("BinaryValue") is not None:
            size += len(attr["BinaryValue"])
        elif attr.get("StringValue") is not None:
            size += len(str(attr["StringValue"]).encode())
    return size


def check_attributes(attributes: dict | None, system: bool = False) -> dict[str, dict[str, Any]]:
    """Message attributes as stored (binary values base64), or AWS's error."""
    if not attributes:
        return {}
    if len(attributes) > MAX_ATTRIBUTES and not system:
        raise InvalidParameterValueException(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].")
    stored: dict[str, dict[str, Any]] = {}
    for name, attr in attributes.items():
        if system:
            if name != "AWSTraceHeader":
                raise invalid_value(name, "MessageSystemAttributes", "AWSTraceHeader is the only supported "
                                                                     "message system attribute.")
        else:
            check_attribute_name(name)
        data_type = attr.get("DataType")
        if not data_type:
            raise InvalidParameterValueException(f"The message attribute '{name}' must contain non-empty message "
                                                 "attribute type.")
        if not _DATA_TYPE.fullmatch(data_type) or len(data_type) > 256:
            raise InvalidParameterValueException(
                f"The type of message (user) attribute '{name}' is invalid. You must use only the following "
                "supported type prefixes: Binary, Number, String.")
        if system and data_type != "String":
            raise invalid_value(name, "MessageSystemAttributes", "AWSTraceHeader must be of type String.")
        base = data_type.split(".", 1)[0]
        if attr.get("StringListValues") or attr.get("BinaryListValues"):
            raise InvalidParameterValueException(f"Message attribute list values in '{name}' are not supported.")
        if base == "Binary":
            value = attr.get("BinaryValue")
            if value is None or len(value) == 0:
                raise InvalidParameterValueException(
                    f"The message attribute '{name}' with type 'Binary' must use field 'Binary'.")
            stored[name] = {"DataType": data_type, "BinaryValue": base64.b64encode(value).decode()}
            continue
        value = attr.get("StringValue")
        if value is None or value == "":
            raise InvalidParameterValueException(
                f"The message attribute '{name}' with type '{base}' must use field 'String'.")
        if _BAD_CHARS.search(value):
            raise InvalidParameterValueException(INVALID_CHARS)
        if base == "Number":
            try:
                float(value)
            except ValueError:
                raise InvalidParameterValueException(
                    f"Can't cast the value of message (user) attribute '{name}' to a number.") from None
        stored[name] = {"DataType": data_type, "StringValue": value}
    return stored


def check_attribute_name(name: str) -> None:
    if len(name) > 256:
        raise InvalidParameterValueException("Message (user) attribute names must be shorter than 256 Bytes")
    if not _ATTR_NAME.fullmatch(name):
        raise InvalidParameterValueException(
            f"Message (user) attribute name '{name}' can only contain upper and lower case characters, digits, "
            "periods, hyphens and underscores.")
    low = name.lower()
    if low.startswith(("aws.", "amazon.")) or name.startswith(".") or name.endswith(".") or ".." in name:
        raise InvalidParameterValueException(
            f"Message (user) attribute name '{name}' is invalid. You can't use message attribute names beginning "
            "with 'AWS.' or 'Amazon.'. These strings are reserved for internal use. Additionally, they cannot "
            "start or end with '.' and cannot contain consecutive dots.")


def check_fifo_id(value: str | None, parameter: str) -> None:
    if value is not None and not _FIFO_ID.fullmatch(value):
        raise invalid_value(value, parameter, f"{parameter} can only include alphanumeric and punctuation "
                                              "characters. 1 to 128 in length.")


def check_batch_ids(entries: list[dict], noun: str) -> None:
    from .errors import (
        BatchEntryIdsNotDistinct,
        EmptyBatchRequest,
        InvalidBatchEntryId,
        TooManyEntriesInBatchRequest,
    )

    if not entries:
        raise EmptyBatchRequest(f"There should be at least one {noun} in the request.")
    if len(entries) > 10:
        raise TooManyEntriesInBatchRequest(
            f"Maximum number of entries per request are 10. You have sent {len(entries)}.")
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry.get("Id", "")
        if not _BATCH_ID.fullmatch(entry_id):
            raise InvalidBatchEntryId("A batch entry id can only contain alphanumeric characters, hyphens and "
                                      "underscores. It can be at most 80 letters long.")
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)


def new_record(body: str, attributes: dict[str, dict], system: dict[str, dict], sender: str, now_ms: int,
               delay_s: int, msg_id: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"id": msg_id or new_message_id(now_ms), "b": body, "mb": md5_hex(body.encode()),
                              "t": now_ms, "snd": sender, "v": now_ms + delay_s * 1000, "rc": 0}
    if attributes:
        record["a"] = attributes
        record["ma"] = attributes_md5(attributes)
    if system:
        record["sa"] = system
        record["ms"] = attributes_md5(system)
    return record


# ---- what ReceiveMessage returns ----

def wanted_system(names: Iterable[str] | None) -> frozenset[str]:
    found = set(names or ())
    for name in found:
        if name not in SYSTEM_ATTRIBUTE_NAMES and name != "All" and name not in QUEUE_ATTRIBUTE_NAMES:
            from .errors import InvalidAttributeName
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
    if "All" in found:
        return frozenset(SYSTEM_ATTRIBUTE_NAMES)
    return frozenset(found)


def attribute_filter(names: Iterable[str] | None) -> tuple[bool, tuple[str, ...], frozenset[str]]:
    """(all?, prefixes, exact names) of MessageAttributeNames (`All`, `.*`, `prefix.*`, names)."""
    exact: set[str] = set()
    prefixes: list[str] = []
    for name in names or ():
        if name in ("All", ".*"):
            return True, (), frozenset()
        if name.endswith(".*"):
            prefixes.append(name[:-1])
        else:
            exact.add(name)
    return False, tuple(prefixes), frozenset(exact)


def to_message(record: dict, handle: str, system: frozenset[str],
               attrs: tuple[bool, tuple[str, ...], frozenset[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {"MessageId": record["id"], "ReceiptHandle": handle, "MD5OfBody": record["mb"],
                           "Body": record["b"]}
    if system:
        values = {"SenderId": record.get("snd", ""), "SentTimestamp": str(record["t"]),
                  "ApproximateReceiveCount": str(record["rc"]),
                  "ApproximateFirstReceiveTimestamp": str(record.get("fr") or record["t"])}
        if "s" in record:
            values["SequenceNumber"] = str(record["s"])
        if record.get("d"):
            values["MessageDeduplicationId"] = record["d"]
        if record.get("g"):
            values["MessageGroupId"] = record["g"]
        if "sa" in record:
            values["AWSTraceHeader"] = record["sa"]["AWSTraceHeader"]["StringValue"]
        if record.get("src"):
            values["DeadLetterQueueSourceArn"] = record["src"]
        out["Attributes"] = {k: v for k, v in values.items() if k in system}
    stored = record.get("a")
    if stored:
        every, prefixes, exact = attrs
        chosen = stored if every else {k: v for k, v in stored.items() if k in exact or k.startswith(prefixes)}
        if chosen:
            out["MessageAttributes"] = {k: _attribute_out(v) for k, v in chosen.items()}
            out["MD5OfMessageAttributes"] = record["ma"] if len(chosen) == len(stored) else attributes_md5(chosen)
    return out


def _attribute_out(attr: dict) -> dict:
    if "BinaryValue" in attr:
        return {"DataType": attr["DataType"], "BinaryValue": base64.b64decode(attr["BinaryValue"])}
    return dict(attr)


def nonce() -> str:
    return secrets.token_hex(6)


def missing_group() -> MissingParameterException:
    return missing("MessageGroupId")
