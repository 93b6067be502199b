"""SQS without a server: attribute MD5s, message ids, receipt handles, deduplication and FIFO
group locking on a real (SQLite) store."""

from __future__ import annotations

import base64
import hashlib
import struct
import time

import pytest

from cloudlet.protocol.errors import ServiceError
from cloudlet.services.sqs import engine
from cloudlet.services.sqs.messages import (
    attributes_md5,
    id_bound,
    new_message_id,
    parse_handle,
    receipt_handle,
)
from cloudlet.services.sqs.queues import Queue, QueueCache, new_record
from cloudlet.store.sqlite import SQLiteStore


def reference_md5(attributes: dict) -> str:
    """The digest as the AWS SDK for Java's MessageMD5ChecksumInterceptor computes it, written out
    from its description (botocore checks no SQS digest, so the SDKs that do are the oracle)."""
    digest = hashlib.md5()
    for name in sorted(attributes):
        value = attributes[name]
        for text in (name, value["DataType"]):
            raw = text.encode("utf-8")
            digest.update(len(raw).to_bytes(4, "big") + raw)
        if "StringValue" in value:
            raw = value["StringValue"].encode("utf-8")
            digest.update(b"\x01" + len(raw).to_bytes(4, "big") + raw)
        else:
            raw = value["BinaryValue"]
            digest.update(b"\x02" + len(raw).to_bytes(4, "big") + raw)
    return digest.hexdigest()


def test_attribute_md5_matches_the_sdks():
    attrs = {"b": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}, "a": {"DataType": "String", "StringValue": "é"},
             "n": {"DataType": "Number.float", "StringValue": "1.5"}}
    assert attributes_md5(attrs) == reference_md5(attrs)
    stored = {**attrs, "b": {"DataType": "Binary", "BinaryValue": base64.b64encode(b"\x00\xff").decode()}}
    assert attributes_md5(stored) == reference_md5(attrs)
    one = {"a": {"DataType": "String", "StringValue": "x"}}
    expected = hashlib.md5(struct.pack(">I", 1) + b"a" + struct.pack(">I", 6) + b"String" + b"\x01"
                           + struct.pack(">I", 1) + b"x").hexdigest()
    assert attributes_md5(one) == expected


def test_message_ids_sort_by_time_and_bound():
    ids = [new_message_id(1_000_000 + i // 3) for i in range(30)]
    assert ids == sorted(ids) and len(set(ids)) == 30
    assert ids[0] < id_bound(1_000_005) < ids[-1]
    assert all(len(i) == 36 for i in ids)


def test_receipt_handles_round_trip_and_reject_garbage():
    assert parse_handle(receipt_handle("q1", "m1", "n1")) == ("q1", "m1", "n1")
    for bad in ("", "garbage", "AQEB!!!", "AQEB" + base64.urlsafe_b64encode(b"a/b").decode()):
        with pytest.raises(ServiceError) as err:
            parse_handle(bad)
        assert err.value.code == "ReceiptHandleIsInvalid"


@pytest.fixture
def store(tmp_path):
    with SQLiteStore(tmp_path / "state.db") as s:
        yield s


def make_queue(store, fifo: bool, **attrs) -> Queue:
    record = new_record("q.fifo" if fifo else "q", fifo, attrs, {}, time.time())
    return Queue("000000000000", "us-east-1", "q.fifo" if fifo else "q", record, time.monotonic() + 60)


def send(store, queue: Queue, body: str, group: str = "g", dedup: str | None = None) -> dict:
    now = time.time_ns() // 1_000_000
    entry = {"MessageBody": body, "MessageGroupId": group if queue.fifo else None, "MessageDeduplicationId": dedup}
    rec = engine.prepare(queue, entry, "000000000000", "", now)
    return store.transact(lambda tx: engine.send(tx, queue, [rec], now))[0]


def receive(store, queue: Queue, count: int = 10, visibility: int = 30) -> list[dict]:
    now = time.time_ns() // 1_000_000
    return store.transact(lambda tx: engine.receive(tx, QueueCache(store), queue, count, visibility, now))


def test_dedup_window_and_content_based(store):
    queue = make_queue(store, True, ContentBasedDeduplication="true")
    a = send(store, queue, "same")
    b = send(store, queue, "same", group="other")
    c = send(store, queue, "same", dedup="explicit")
    assert a["id"] == b["id"] != c["id"]
    assert [r["id"] for r in receive(store, queue)] == [a["id"], c["id"]]


def test_group_locking_and_order(store):
    queue = make_queue(store, True, ContentBasedDeduplication="true")
    for i in range(3):
        send(store, queue, f"a{i}", group="a")
    send(store, queue, "b0", group="b")
    first = receive(store, queue, count=1)
    assert [r["b"] for r in first] == ["a0"]
    assert [r["b"] for r in receive(store, queue)] == ["b0"]      # group a is locked
    assert receive(store, queue) == []
    now = time.time_ns() // 1_000_000
    handle = receipt_handle(queue.qid, first[0]["id"], first[0]["h"])
    store.transact(lambda tx: engine.delete(tx, queue, handle, now))
    assert [r["b"] for r in receive(store, queue)] == ["a1", "a2"]


def test_standard_queue_visibility_is_in_the_key(store):
    queue = make_queue(store, False)
    send(store, queue, "x")
    assert [r["b"] for r in receive(store, queue, visibility=0)] == ["x"]
    got = receive(store, queue, visibility=1)
    assert got[0]["rc"] == 2
    assert receive(store, queue) == []
    time.sleep(1.05)
    assert receive(store, queue)[0]["rc"] == 3
