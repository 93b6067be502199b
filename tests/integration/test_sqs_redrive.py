"""Dead-letter queues: RedrivePolicy moves a message received more than maxReceiveCount times,
RedriveAllowPolicy, ListDeadLetterSourceQueues and message move tasks that really move."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.support.aws import aws_error


@pytest.fixture(params=["json", "query"])
def sqs(server, request):
    return server.client("sqs", protocol=request.param) if request.param == "query" else server.client("sqs")


def make(sqs, prefix: str = "r", **attrs) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=f"{prefix}-{uuid.uuid4().hex[:10]}", Attributes=attrs)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def test_message_moves_to_dlq_after_max_receives(sqs):
    dlq, dlq_arn = make(sqs, "dlq")
    src, src_arn = make(sqs, "src", VisibilityTimeout="0", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    sent = sqs.send_message(QueueUrl=src, MessageBody="poison")
    assert len(sqs.receive_message(QueueUrl=src)["Messages"]) == 1
    assert len(sqs.receive_message(QueueUrl=src)["Messages"]) == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=src)      # third receive: moved instead
    moved = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"][0]
    assert moved["MessageId"] == sent["MessageId"] and moved["Body"] == "poison"
    assert moved["Attributes"]["DeadLetterQueueSourceArn"] == src_arn
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["RedrivePolicy"])
                        ["Attributes"]["RedrivePolicy"])
    assert policy == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}


def test_redrive_policy_errors(sqs):
    _, dlq_arn = make(sqs, "dlq")
    url, _ = make(sqs)
    err = aws_error(sqs.set_queue_attributes, QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 0})})
    assert err["code"] == "InvalidParameterValue" and "maxReceiveCount" in err["message"]
    err = aws_error(sqs.set_queue_attributes, QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:nope", "maxReceiveCount": 1})})
    assert err["code"] == "InvalidParameterValue"
    err = aws_error(sqs.set_queue_attributes, QueueUrl=url, Attributes={"RedrivePolicy": "{"})
    assert err["code"] == "InvalidParameterValue"


def test_redrive_allow_policy_is_enforced(sqs):
    src, src_arn = make(sqs)
    deny, deny_arn = make(sqs, "deny", RedriveAllowPolicy=json.dumps({"redrivePermission": "denyAll"}))
    err = aws_error(sqs.set_queue_attributes, QueueUrl=src, Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": deny_arn, "maxReceiveCount": 1})})
    assert err["code"] == "InvalidParameterValue"
    _, by_arn = make(sqs, "byq", RedriveAllowPolicy=json.dumps({"redrivePermission": "byQueue",
                                                                "sourceQueueArns": [src_arn]}))
    sqs.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": by_arn, "maxReceiveCount": 1})})
    err = aws_error(sqs.create_queue, QueueName=f"bad-{uuid.uuid4().hex[:6]}", Attributes={
        "RedriveAllowPolicy": json.dumps({"redrivePermission": "byQueue"})})
    assert err["code"] == "InvalidParameterValue"


def test_move_task_moves_messages_back(sqs):
    dlq, dlq_arn = make(sqs, "dlq")
    src, src_arn = make(sqs, "src", VisibilityTimeout="0", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
    for i in range(3):
        sqs.send_message(QueueUrl=src, MessageBody=f"m{i}")
    for _ in range(3):
        sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10)
    attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "3"
    err = aws_error(sqs.start_message_move_task, SourceArn=src_arn)
    assert (err["code"], err["message"]) == ("InvalidParameterValue",
                                             "Source queue must be configured as a Dead Letter Queue.")
    err = aws_error(sqs.start_message_move_task, SourceArn="arn:aws:sqs:us-east-1:000000000000:nope")
    assert (err["code"], err["status"]) == ("ResourceNotFoundException", 404)
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    deadline = time.monotonic() + 10
    while True:
        task = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]
        if task["Status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert task["Status"] == "COMPLETED" and task["ApproximateNumberOfMessagesMoved"] == 3
    assert task["ApproximateNumberOfMessagesToMove"] == 3 and task["SourceArn"] == dlq_arn
    bodies = sorted(m["Body"] for m in sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10)["Messages"])
    assert bodies == ["m0", "m1", "m2"]
    err = aws_error(sqs.cancel_message_move_task, TaskHandle=handle)
    assert err["code"] == "ResourceNotFoundException"
    assert aws_error(sqs.cancel_message_move_task, TaskHandle="junk")["code"] == "InvalidParameterValue"


def test_move_task_to_a_destination_and_cancel(sqs):
    dlq, dlq_arn = make(sqs, "dlq")
    make(sqs, "src", RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
    dest, dest_arn = make(sqs, "dest")
    sqs.send_message_batch(QueueUrl=dlq, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(10)])
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=dest_arn,
                                         MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    err = aws_error(sqs.start_message_move_task, SourceArn=dlq_arn)
    assert "Only one active task" in err["message"]
    moved = sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"]
    assert moved < 10
    task = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10)["Results"][0]
    assert task["Status"] == "CANCELLED" and task["DestinationArn"] == dest_arn
