"""SQS messages with boto3 over both protocols (and the AWS CLI once): send, receive, delete,
batches, attributes and their MD5s, visibility, delays, long polling, and kill -9 durability."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid

import pytest

from cloudlet.services.sqs.messages import attributes_md5, md5_hex
from tests.conftest import Server
from tests.support.aws import aws_error


@pytest.fixture(params=["json", "query"])
def sqs(server, request):
    return server.client("sqs", protocol=request.param) if request.param == "query" else server.client("sqs")


def queue(sqs, **attrs) -> str:
    return sqs.create_queue(QueueName=f"m-{uuid.uuid4().hex[:10]}", Attributes=attrs)["QueueUrl"]


ATTRS = {"s": {"DataType": "String", "StringValue": "héllo"}, "n": {"DataType": "Number", "StringValue": "1.5"},
         "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
         "custom": {"DataType": "String.custom", "StringValue": "x"}}


def test_send_receive_delete_with_attributes_and_digests(sqs):
    url = queue(sqs)
    sent = sqs.send_message(QueueUrl=url, MessageBody="body ✓", MessageAttributes=ATTRS,
                            MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String",
                                                                        "StringValue": "Root=1-abc"}})
    assert sent["MD5OfMessageBody"] == md5_hex("body ✓".encode())
    assert sent["MD5OfMessageAttributes"] == attributes_md5(ATTRS)
    assert "MD5OfMessageSystemAttributes" in sent
    before = int(time.time() * 1000) - 2000
    got = sqs.receive_message(QueueUrl=url, AttributeNames=["All"], MessageAttributeNames=["All"])["Messages"]
    assert len(got) == 1
    msg = got[0]
    assert msg["MessageId"] == sent["MessageId"] and msg["Body"] == "body ✓"
    assert msg["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert msg["MessageAttributes"]["b"]["BinaryValue"] == b"\x00\x01\xff"
    assert msg["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    a = msg["Attributes"]
    assert a["ApproximateReceiveCount"] == "1" and a["SenderId"] == "000000000000"
    assert int(a["SentTimestamp"]) >= before and int(a["ApproximateFirstReceiveTimestamp"]) >= int(a["SentTimestamp"])
    assert a["AWSTraceHeader"] == "Root=1-abc"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])  # again: succeeds
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_message_attribute_name_filters(sqs):
    url = queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={
        "a.one": {"DataType": "String", "StringValue": "1"}, "a.two": {"DataType": "String", "StringValue": "2"},
        "b": {"DataType": "String", "StringValue": "3"}})
    msg = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["a.*"], VisibilityTimeout=0)["Messages"][0]
    assert set(msg["MessageAttributes"]) == {"a.one", "a.two"}
    assert msg["MD5OfMessageAttributes"] == attributes_md5(msg["MessageAttributes"])
    msg = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["b"], VisibilityTimeout=0)["Messages"][0]
    assert set(msg["MessageAttributes"]) == {"b"}
    msg = sqs.receive_message(QueueUrl=url, MessageAttributeNames=[".*"], VisibilityTimeout=0)["Messages"][0]
    assert len(msg["MessageAttributes"]) == 3
    msg = sqs.receive_message(QueueUrl=url, AttributeNames=["SentTimestamp"])["Messages"][0]
    assert list(msg["Attributes"]) == ["SentTimestamp"] and "MessageAttributes" not in msg


def test_send_errors(sqs):
    url = queue(sqs)
    err = aws_error(sqs.send_message, QueueUrl=url, MessageBody="x" * 262_145)
    assert (err["code"], err["status"]) == ("InvalidParameterValue", 400)
    assert err["message"] == "One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes."
    err = aws_error(sqs.send_message, QueueUrl=url, MessageBody="x" * 262_000, MessageAttributes={
        "big": {"DataType": "String", "StringValue": "y" * 200}})
    assert err["code"] == "InvalidParameterValue"
    assert aws_error(sqs.send_message, QueueUrl=url, MessageBody="bad \x01")["code"] == "InvalidMessageContents"
    err = aws_error(sqs.send_message, QueueUrl=url, MessageBody="x", DelaySeconds=901)
    assert err["code"] == "InvalidParameterValue" and "DelaySeconds" in err["message"]
    err = aws_error(sqs.send_message, QueueUrl=url, MessageBody="x", MessageAttributes={
        "AWS.x": {"DataType": "String", "StringValue": "1"}})
    assert err["code"] == "InvalidParameterValue"
    err = aws_error(sqs.send_message, QueueUrl=url, MessageBody="x", MessageAttributes={
        "n": {"DataType": "Number", "StringValue": "abc"}})
    assert err["code"] == "InvalidParameterValue"
    err = aws_error(sqs.send_message, QueueUrl=url, MessageBody="x", MessageAttributes={
        f"k{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)})
    assert err["message"] == "Number of message attributes [11] exceeds the allowed maximum [10]."
    err = aws_error(sqs.send_message, QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert err["code"] == "InvalidParameterValue" and "not valid for this queue type" in err["message"]


def test_batches(sqs):
    url = queue(sqs)
    out = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "1"}, {"Id": "b", "MessageBody": "2", "DelaySeconds": 0},
        {"Id": "c", "MessageBody": "bad \x01"}])
    assert sorted(e["Id"] for e in out["Successful"]) == ["a", "b"]
    assert out["Failed"] == [{"Id": "c", "SenderFault": True, "Code": "InvalidMessageContents",
                              "Message": out["Failed"][0]["Message"]}]
    err = aws_error(sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"}
                                                                   for i in range(11)])
    assert (err["code"], err["message"]) == ("AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                                             "Maximum number of entries per request are 10. You have sent 11.")
    err = aws_error(sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": "x", "MessageBody": "1"},
                                                                   {"Id": "x", "MessageBody": "2"}])
    assert (err["code"], err["message"]) == ("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id x repeated.")
    err = aws_error(sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": "bad id", "MessageBody": "1"}])
    assert err["code"] == "AWS.SimpleQueueService.InvalidBatchEntryId"
    err = aws_error(sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x" * 30_000}
                                                                   for i in range(10)])
    assert err["code"] == "AWS.SimpleQueueService.BatchRequestTooLong"
    assert err["message"] == "Batch requests cannot be longer than 262144 bytes. You have sent 300000 bytes."
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == ["1", "2"]
    out = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "m0", "ReceiptHandle": got[0]["ReceiptHandle"]}, {"Id": "bad", "ReceiptHandle": "garbage"}])
    assert out["Successful"] == [{"Id": "m0"}]
    assert out["Failed"][0]["Code"] == "ReceiptHandleIsInvalid" and out["Failed"][0]["SenderFault"] is True
    out = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "v", "ReceiptHandle": got[1]["ReceiptHandle"], "VisibilityTimeout": 0}])
    assert out["Successful"] == [{"Id": "v"}]
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == got[1]["Body"]


def test_receive_errors(sqs):
    url = queue(sqs)
    err = aws_error(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11)
    assert (err["code"], err["message"]) == (
        "InvalidParameterValue",
        "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.")
    err = aws_error(sqs.receive_message, QueueUrl=url, WaitTimeSeconds=21)
    assert err["message"] == "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, " \
                             "if provided."
    err = aws_error(sqs.delete_message, QueueUrl=url, ReceiptHandle="nonsense")
    assert (err["code"], err["status"]) == ("ReceiptHandleIsInvalid", 404)
    assert err["message"] == 'The input receipt handle "nonsense" is not a valid receipt handle.'


def test_visibility_timeout_expiry_and_stale_handles(sqs):
    url = queue(sqs, VisibilityTimeout="1")
    sqs.send_message(QueueUrl=url, MessageBody="v")
    first = sqs.receive_message(QueueUrl=url)["Messages"][0]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    time.sleep(1.1)
    again = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert again["MessageId"] == first["MessageId"] and again["Attributes"]["ApproximateReceiveCount"] == "2"
    assert again["ReceiptHandle"] != first["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])   # stale: succeeds, deletes nothing
    err = aws_error(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=first["ReceiptHandle"],
                    VisibilityTimeout=5)
    assert err["code"] == "InvalidParameterValue"
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=0)
    third = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"][0]
    assert third["MessageId"] == first["MessageId"]
    time.sleep(1.1)
    err = aws_error(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=third["ReceiptHandle"],
                    VisibilityTimeout=5)
    assert (err["code"], err["message"]) == ("AWS.SimpleQueueService.MessageNotInflight",
                                             "The message referred to isn't in flight.")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_delay_per_queue_and_per_message(sqs):
    url = queue(sqs, DelaySeconds="1")
    sqs.send_message(QueueUrl=url, MessageBody="queue delay")
    sqs.send_message(QueueUrl=url, MessageBody="no delay", DelaySeconds=0)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["no delay"]
    start = time.monotonic()
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert got[0]["Body"] == "queue delay" and time.monotonic() - start < 2.5


def test_long_poll_wakes_within_milliseconds_of_a_send(server, sqs):
    url = queue(sqs)
    other = server.client("sqs")
    result: dict = {}

    def wait() -> None:
        start = time.monotonic()
        result["got"] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
        result["at"] = time.monotonic()
        result["waited"] = result["at"] - start

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.5)
    sent_at = time.monotonic()
    other.send_message(QueueUrl=url, MessageBody="wake")
    thread.join(10)
    assert result["got"]["Messages"][0]["Body"] == "wake"
    assert result["at"] - sent_at < 0.15, result
    start = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert 0.9 < time.monotonic() - start < 1.6


def test_aws_cli_send_and_receive(server):
    url = server.client("sqs").create_queue(QueueName=f"cli-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sent = json.loads(server.cli("sqs", "send-message", "--endpoint-url", server.url, "--queue-url", url, "--message-body", "from the cli").stdout)
    got = json.loads(server.cli("sqs", "receive-message", "--endpoint-url", server.url, "--queue-url", url).stdout)
    assert got["Messages"][0]["MessageId"] == sent["MessageId"]
    assert got["Messages"][0]["Body"] == "from the cli"


def test_acknowledged_messages_survive_kill_9(tmp_path):
    srv = Server(data_dir=tmp_path).start()
    try:
        client = srv.client("sqs")
        url = client.create_queue(QueueName="durable")["QueueUrl"]
        for i in range(5):
            client.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": f"{i}-{j}"}
                                                             for j in range(10)])
        client.send_message(QueueUrl=url, MessageBody="last")
        held = client.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"]
    finally:
        srv.stop(signal.SIGKILL)
    again = Server(data_dir=tmp_path).start()
    try:
        client = again.client("sqs")
        url = client.get_queue_url(QueueName="durable")["QueueUrl"]
        time.sleep(1.0)
        bodies = []
        while True:
            got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                break
            bodies += [m["Body"] for m in got]
            client.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                               for i, m in enumerate(got)])
        assert len(bodies) == 51 and len(set(bodies)) == 51
        assert held[0]["Body"] in bodies
    finally:
        again.stop()
