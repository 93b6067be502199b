"""SQS FIFO queues over both protocols: names and attributes, deduplication (explicit and
content-based, by queue or by group), strict order per group with in-flight group locking,
sequence numbers and receive request attempts."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.support.aws import aws_error


@pytest.fixture(params=["json", "query"])
def sqs(server, request):
    return server.client("sqs", protocol=request.param) if request.param == "query" else server.client("sqs")


def fifo(sqs, **attrs) -> str:
    return sqs.create_queue(QueueName=f"f-{uuid.uuid4().hex[:10]}.fifo",
                            Attributes={"FifoQueue": "true", **attrs})["QueueUrl"]


def test_fifo_names_and_attributes(sqs):
    err = aws_error(sqs.create_queue, QueueName="nofifo-suffix", Attributes={"FifoQueue": "true"})
    assert err["code"] == "InvalidParameterValue" and ".fifo" in err["message"]
    url = fifo(sqs, DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and attrs["ContentBasedDeduplication"] == "false"
    assert attrs["DeduplicationScope"] == "messageGroup" and attrs["FifoThroughputLimit"] == "perMessageGroupId"
    err = aws_error(sqs.create_queue, QueueName=f"x-{uuid.uuid4().hex[:6]}.fifo",
                    Attributes={"FifoQueue": "true", "DeduplicationScope": "bogus"})
    assert err["code"] == "InvalidAttributeValue"


def test_send_errors(sqs):
    url = fifo(sqs)
    err = aws_error(sqs.send_message, QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert (err["code"], err["message"]) == ("MissingParameter",
                                             "The request must contain the parameter MessageGroupId.")
    err = aws_error(sqs.send_message, QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert err["message"] == "The queue should either have ContentBasedDeduplication enabled or " \
                             "MessageDeduplicationId provided explicitly"
    err = aws_error(sqs.send_message, QueueUrl=url, MessageBody="x", MessageGroupId="g",
                    MessageDeduplicationId="d", DelaySeconds=5)
    assert err["code"] == "InvalidParameterValue" and "DelaySeconds" in err["message"]


def test_deduplication_explicit_and_content_based(sqs):
    url = fifo(sqs)
    first = sqs.send_message(QueueUrl=url, MessageBody="a", MessageGroupId="g", MessageDeduplicationId="d1")
    again = sqs.send_message(QueueUrl=url, MessageBody="other body", MessageGroupId="g", MessageDeduplicationId="d1")
    assert again["MessageId"] == first["MessageId"] and again["SequenceNumber"] == first["SequenceNumber"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["a"]
    cbd = fifo(sqs, ContentBasedDeduplication="true")
    one = sqs.send_message(QueueUrl=cbd, MessageBody="same", MessageGroupId="g")
    two = sqs.send_message(QueueUrl=cbd, MessageBody="same", MessageGroupId="h")
    assert one["MessageId"] == two["MessageId"]
    batch = sqs.send_message_batch(QueueUrl=cbd, Entries=[{"Id": "1", "MessageBody": "b", "MessageGroupId": "g"},
                                                          {"Id": "2", "MessageBody": "b", "MessageGroupId": "g"}])
    ids = {e["Id"]: e["MessageId"] for e in batch["Successful"]}
    assert ids["1"] == ids["2"]
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=cbd, MaxNumberOfMessages=10)["Messages"]]
    assert sorted(bodies) == ["b", "same"]


def test_dedup_scope_per_group(sqs):
    url = fifo(sqs, DeduplicationScope="messageGroup")
    a = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g1", MessageDeduplicationId="d")
    b = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g2", MessageDeduplicationId="d")
    assert a["MessageId"] != b["MessageId"]


def test_order_per_group_and_in_flight_group_locking(sqs):
    url = fifo(sqs, ContentBasedDeduplication="true", VisibilityTimeout="1")
    seqs = []
    for i in range(4):
        seqs.append(int(sqs.send_message(QueueUrl=url, MessageBody=f"g1-{i}", MessageGroupId="g1")["SequenceNumber"]))
    sqs.send_message(QueueUrl=url, MessageBody="g2-0", MessageGroupId="g2")
    assert seqs == sorted(seqs) and len(str(seqs[0])) == 20
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in first] == ["g1-0", "g1-1"]
    assert first[0]["Attributes"]["MessageGroupId"] == "g1" and "SequenceNumber" in first[0]["Attributes"]
    second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in second] == ["g2-0"]          # g1 is locked while g1-0/g1-1 are in flight
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second[0]["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # g1-1 still in flight
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[1]["ReceiptHandle"])
    third = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in third] == ["g1-2", "g1-3"]
    time.sleep(1.1)                                          # timeouts pass: g1-2 comes back first
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    assert again[0]["Body"] == "g1-2"
    err = aws_error(sqs.delete_message, QueueUrl=url, ReceiptHandle=third[0]["ReceiptHandle"])
    assert err["code"] == "InvalidParameterValue" and "The receipt handle has expired." in err["message"]


def test_receive_request_attempt_id(sqs):
    url = fifo(sqs, ContentBasedDeduplication="true")
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g")
    one = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="attempt-1")["Messages"]
    two = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="attempt-1")["Messages"]
    assert [m["MessageId"] for m in one] == [m["MessageId"] for m in two]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=two[0]["ReceiptHandle"])
