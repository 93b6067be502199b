"""Subscription payloads, the recursion guard's request ids and destination access policies."""

from __future__ import annotations

import base64
import gzip
import json

from cloudlet.services.logs.subscriptions import (
    caused_request_id,
    control_message,
    data_message,
    decode,
    describe_filter,
    for_lambda,
    is_caused,
    not_caused,
    policy_allows,
)


def test_a_data_message_is_gzipped_json_as_aws_sends_it():
    data = data_message("000000000000", "/g", "s", ["f"], [("1", 10, "a"), ("2", 11, "b")])
    doc = json.loads(gzip.decompress(data))
    assert doc == {"messageType": "DATA_MESSAGE", "owner": "000000000000", "logGroup": "/g", "logStream": "s",
                   "subscriptionFilters": ["f"], "logEvents": [{"id": "1", "timestamp": 10, "message": "a"},
                                                               {"id": "2", "timestamp": 11, "message": "b"}]}
    event = json.loads(for_lambda(data))
    assert list(event) == ["awslogs"] and gzip.decompress(base64.b64decode(event["awslogs"]["data"])) == \
        gzip.decompress(data)
    assert decode(for_lambda(data)) == doc == decode(data)


def test_a_control_message():
    doc = json.loads(gzip.decompress(control_message("firehose", 5)))
    assert doc["messageType"] == "CONTROL_MESSAGE" and doc["owner"] == "CloudwatchLogs"
    assert doc["logEvents"] == [{"id": "", "timestamp": 5,
                                 "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]


def test_caused_request_ids_are_uuids_that_say_so():
    rid = caused_request_id()
    assert len(rid) == 36 and rid.count("-") == 4 and is_caused(rid)
    assert not is_caused("3f1c2a9e-1b2c-4d5e-8f90-123456789abc")


def test_the_output_of_caused_invocations_is_left_out():
    caused, other = caused_request_id(), "3f1c2a9e-1b2c-4d5e-8f90-123456789abc"
    events = [(1, "INIT_START Runtime Version: python:3.12.v1\n"), (2, f"START RequestId: {caused} Version: $LATEST\n"),
              (3, "GOT x\n"), (4, f"END RequestId: {caused}\n"), (5, f"REPORT RequestId: {caused}\tDuration: 1 ms\n"),
              (6, f"START RequestId: {other} Version: $LATEST\n"), (7, "plain\n"), (8, f"REPORT RequestId: {other}\n"),
              (9, "a line of no invocation\n")]
    assert not_caused(events, list(range(len(events)))) == [5, 6, 7, 8]


def test_destination_access_policies():
    arn = "arn:aws:logs:us-east-1:111111111111:destination:d"

    def policy(**statement):
        return json.dumps({"Statement": [{"Effect": "Allow", "Action": "logs:PutSubscriptionFilter",
                                          "Resource": arn, **statement}]})

    assert policy_allows(policy(Principal={"AWS": "222222222222"}), "222222222222", arn)
    assert policy_allows(policy(Principal={"AWS": ["arn:aws:iam::222222222222:root"]}), "222222222222", arn)
    assert policy_allows(policy(Principal="*", Resource="arn:aws:logs:*:*:destination:*"), "333333333333", arn)
    assert not policy_allows(policy(Principal={"AWS": "222222222222"}), "333333333333", arn)
    assert not policy_allows(policy(Principal="*", Action="logs:PutLogEvents"), "222222222222", arn)
    assert not policy_allows(None, "222222222222", arn) and not policy_allows("{bad", "222222222222", arn)


def test_a_filter_is_described_in_the_models_order_without_unset_members():
    record = {"creationTime": 1, "emitSystemFields": None, "distribution": "Random", "filterName": "f",
              "logGroupName": "g", "filterPattern": "", "destinationArn": "arn", "roleArn": None,
              "applyOnTransformedLogs": False}
    assert list(describe_filter(record)) == ["filterName", "logGroupName", "filterPattern", "destinationArn",
                                             "distribution", "applyOnTransformedLogs", "creationTime"]
