"""SQS queues with boto3, over both wire protocols: create (idempotent, attribute checks), URLs,
listing, attributes, tags, permissions, purge, delete and AWS's errors."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.support.aws import aws_error

NOT_FOUND = "AWS.SimpleQueueService.NonExistentQueue"


@pytest.fixture(params=["json", "query"])
def sqs(server, request):
    return server.client("sqs", protocol=request.param) if request.param == "query" else server.client("sqs")


def name(prefix: str = "q") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_create_is_idempotent_and_urls_use_the_request_host(server, sqs):
    n = name()
    url = sqs.create_queue(QueueName=n, Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    assert url == f"{server.url}/000000000000/{n}"
    assert sqs.create_queue(QueueName=n, Attributes={"VisibilityTimeout": "5"})["QueueUrl"] == url
    assert sqs.create_queue(QueueName=n)["QueueUrl"] == url
    err = aws_error(sqs.create_queue, QueueName=n, Attributes={"VisibilityTimeout": "6"})
    assert err["code"] == "QueueAlreadyExists" and err["status"] == 400
    assert err["message"] == "A queue already exists with the same name and a different value for attribute " \
                             "VisibilityTimeout"
    assert sqs.get_queue_url(QueueName=n)["QueueUrl"] == url
    assert sqs.get_queue_url(QueueName=n, QueueOwnerAWSAccountId="000000000000")["QueueUrl"] == url


def test_localstack_style_url_is_accepted(server, sqs):
    n = name()
    sqs.create_queue(QueueName=n)
    port = server.url.rsplit(":", 1)[1]
    other = f"http://sqs.us-east-1.localhost.localstack.cloud:{port}/000000000000/{n}"
    attrs = sqs.get_queue_attributes(QueueUrl=other, AttributeNames=["QueueArn"])["Attributes"]
    assert attrs == {"QueueArn": f"arn:aws:sqs:us-east-1:000000000000:{n}"}


def test_queue_does_not_exist_in_each_protocol(server):
    json_client, query_client = server.client("sqs"), server.client("sqs", protocol="query")
    err = aws_error(json_client.get_queue_url, QueueName="nope-nope")
    assert (err["code"], err["status"], err["message"]) == (NOT_FOUND, 400, "The specified queue does not exist.")
    with pytest.raises(json_client.exceptions.QueueDoesNotExist):
        json_client.get_queue_url(QueueName="nope-nope")
    err = aws_error(query_client.get_queue_url, QueueName="nope-nope")
    assert (err["code"], err["status"]) == (NOT_FOUND, 400)
    assert err["message"] == "The specified queue does not exist for this wsdl version."
    err = aws_error(json_client.send_message, QueueUrl=f"{server.url}/000000000000/nope-nope", MessageBody="x")
    assert err["code"] == NOT_FOUND


def test_bad_names_and_attributes(sqs):
    err = aws_error(sqs.create_queue, QueueName="bad name!")
    assert err["code"] == "InvalidParameterValue"
    assert err["message"] == "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
    assert aws_error(sqs.create_queue, QueueName="x" * 81)["code"] == "InvalidParameterValue"
    assert aws_error(sqs.create_queue, QueueName="plain.fifo")["code"] == "InvalidParameterValue"
    err = aws_error(sqs.create_queue, QueueName=name(), Attributes={"DelaySeconds": "901"})
    assert (err["code"], err["message"]) == ("InvalidAttributeValue", "Invalid value for the parameter DelaySeconds.")
    err = aws_error(sqs.create_queue, QueueName=name(), Attributes={"VisibilityTimeout": "abc"})
    assert err["code"] == "InvalidAttributeValue"
    err = aws_error(sqs.create_queue, QueueName=name(), Attributes={"NoSuch": "1"})
    assert (err["code"], err["message"]) == ("InvalidAttributeName", "Unknown Attribute NoSuch.")
    err = aws_error(sqs.create_queue, QueueName=name(), Attributes={"ContentBasedDeduplication": "true"})
    assert err["code"] == "InvalidAttributeName"


def test_attributes_all_and_each(sqs):
    n = name()
    before = int(time.time()) - 1
    url = sqs.create_queue(QueueName=n, Attributes={"DelaySeconds": "0", "MessageRetentionPeriod": "600"})["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{n}"
    assert attrs["MessageRetentionPeriod"] == "600" and attrs["VisibilityTimeout"] == "30"
    assert attrs["MaximumMessageSize"] == "262144" and attrs["SqsManagedSseEnabled"] == "true"
    assert int(attrs["CreatedTimestamp"]) >= before and "LastModifiedTimestamp" in attrs
    assert attrs["ApproximateNumberOfMessages"] == "0" and "FifoQueue" not in attrs
    sqs.send_message(QueueUrl=url, MessageBody="a")
    sqs.send_message(QueueUrl=url, MessageBody="b", DelaySeconds=60)
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)
    sqs.send_message(QueueUrl=url, MessageBody="c")
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    assert counts == {"ApproximateNumberOfMessages": "1", "ApproximateNumberOfMessagesNotVisible": "1",
                      "ApproximateNumberOfMessagesDelayed": "1"}
    err = aws_error(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["Bogus"])
    assert (err["code"], err["message"]) == ("InvalidAttributeName", "Unknown Attribute Bogus.")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "7", "Policy": json.dumps(
        {"Version": "2012-10-17", "Statement": []})})
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "Policy"])["Attributes"]
    assert got["VisibilityTimeout"] == "7" and json.loads(got["Policy"])["Statement"] == []
    assert aws_error(sqs.set_queue_attributes, QueueUrl=url, Attributes={"FifoQueue": "true"})["code"] == \
        "InvalidAttributeName"


def test_list_queues_prefix_and_paging(server, sqs):
    prefix = name("list")
    urls = [sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(5)]
    assert sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"] == urls
    page = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2)
    assert page["QueueUrls"] == urls[:2] and page["NextToken"]
    rest = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=3, NextToken=page["NextToken"])
    assert rest["QueueUrls"] == urls[2:] and "NextToken" not in rest
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="zzz-nothing-")
    assert aws_error(sqs.list_queues, MaxResults=0)["code"] == "InvalidParameterValue"


def test_tags(sqs):
    url = sqs.create_queue(QueueName=name(), tags={"a": "1"})["QueueUrl"]
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"a": "1"}
    sqs.tag_queue(QueueUrl=url, Tags={"b": "2"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["a"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"b": "2"}


def test_permissions_are_stored_in_the_policy(sqs):
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    sqs.add_permission(QueueUrl=url, Label="l1", AWSAccountIds=["111111111111"], Actions=["SendMessage"])
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert policy["Statement"][0]["Sid"] == "l1"
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::111111111111:root"}
    assert policy["Statement"][0]["Action"] == "SQS:SendMessage"
    err = aws_error(sqs.add_permission, QueueUrl=url, Label="l1", AWSAccountIds=["1"], Actions=["SendMessage"])
    assert err["message"] == "Value l1 for parameter Label is invalid. Reason: Already exists."
    sqs.remove_permission(QueueUrl=url, Label="l1")
    assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
    assert aws_error(sqs.remove_permission, QueueUrl=url, Label="l1")["code"] == "InvalidParameterValue"


def test_purge_and_its_60_seconds(sqs):
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    sqs.purge_queue(QueueUrl=url)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    err = aws_error(sqs.purge_queue, QueueUrl=url)
    assert (err["code"], err["status"]) == ("AWS.SimpleQueueService.PurgeQueueInProgress", 403)
    assert "is allowed every 60 seconds" in err["message"]


def test_delete_and_deleted_recently(sqs):
    n = name()
    url = sqs.create_queue(QueueName=n)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    sqs.delete_queue(QueueUrl=url)
    assert aws_error(sqs.get_queue_url, QueueName=n)["code"] == NOT_FOUND
    err = aws_error(sqs.create_queue, QueueName=n)
    assert (err["code"], err["status"]) == ("AWS.SimpleQueueService.QueueDeletedRecently", 400)
    assert err["message"] == "You must wait 60 seconds after deleting a queue before you can create another " \
                             "with the same name."
    assert aws_error(sqs.delete_queue, QueueUrl=url)["code"] == NOT_FOUND
