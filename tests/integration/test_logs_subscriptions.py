"""CloudWatch Logs subscription filters, destinations and resource policies through boto3 (and
the AWS CLI once) against a real server: a subscribed Lambda function really receives the
events, gzip-compressed and base64-encoded, as AWS sends them."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.integration.test_lambda_invoke import create
from tests.support.aws import aws_error, created_functions

ACCOUNT = "000000000000"
PERMISSION = ("Could not execute the lambda function. Make sure you have given CloudWatch Logs permission to "
              "execute your function.")

# Decodes what it is sent and prints it on one line: the test reads it back from its log group.
RECEIVER = '''
import base64, gzip, json
def handler(event, context):
    if "awslogs" in event:
        doc = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
        print("GOT " + json.dumps(doc))
    else:
        print("plain invocation")
    return "ok"
'''

WRITER = '''
def handler(event, context):
    for line in event["lines"]:
        print(line)
    return "done"
'''


@pytest.fixture(scope="module")
def logs(server):
    return server.client("logs")


@pytest.fixture(scope="module")
def lam(server):
    return server.client("lambda")


@pytest.fixture
def functions(lam):
    yield from created_functions(lam)


def unique(prefix: str = "/test/subs") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:10]}"


def now() -> int:
    return int(time.time() * 1000)


def receiver(lam, functions, *groups: str) -> str:
    """A function that prints what it receives, allowed to be invoked by CloudWatch Logs for `groups`."""
    name = create(lam, files={"app.py": RECEIVER})
    functions.append(name)
    for i, group in enumerate(groups):
        lam.add_permission(FunctionName=name, StatementId=f"logs-{i}", Action="lambda:InvokeFunction",
                           Principal="logs.amazonaws.com",
                           SourceArn=f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}:*", SourceAccount=ACCOUNT)
    return name


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


def received(logs, name: str, *, at_least: int = 1, timeout: float = 20.0, settle: float = 0.0) -> list[dict]:
    """The data messages the receiver printed, once at least `at_least` arrived (then `settle` more seconds)."""
    group = f"/aws/lambda/{name}"
    deadline = time.monotonic() + timeout
    docs: list[dict] = []
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=group, filterPattern='"GOT "')["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        docs = [json.loads(e["message"].split("GOT ", 1)[1]) for e in events]
        if len(docs) >= at_least:
            if settle:
                time.sleep(settle)
                settle = 0.0
                continue
            return docs
        time.sleep(0.2)
    return docs


def wait_for_group(logs, group: str) -> None:
    """Function output is appended a moment after the invocation answers: wait for its group."""
    deadline = time.monotonic() + 10
    while not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] and time.monotonic() < deadline:
        time.sleep(0.1)


def group_with_stream(logs) -> tuple[str, str]:
    group = unique()
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    return group, "s1"


# ---- delivery ----

def test_put_log_events_reach_the_function_once_per_append(logs, lam, functions):
    group, stream = group_with_stream(logs)
    name = receiver(lam, functions, group)
    logs.put_subscription_filter(logGroupName=group, filterName="all", filterPattern="", destinationArn=function_arn(name))
    t = now()
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
        {"timestamp": t, "message": "first"}, {"timestamp": t + 1, "message": "second"},
        {"timestamp": t + 2, "message": "third"}])
    [doc] = received(logs, name, settle=1.0)
    assert doc["messageType"] == "DATA_MESSAGE"
    assert doc["owner"] == ACCOUNT and doc["logGroup"] == group and doc["logStream"] == stream
    assert doc["subscriptionFilters"] == ["all"]
    assert [e["message"] for e in doc["logEvents"]] == ["first", "second", "third"]
    assert [e["timestamp"] for e in doc["logEvents"]] == [t, t + 1, t + 2]
    assert list(doc["logEvents"][0]) == ["id", "timestamp", "message"]
    stored = logs.filter_log_events(logGroupName=group)["events"]
    assert [e["id"] for e in doc["logEvents"]] == [e["eventId"] for e in stored]


def test_a_filter_pattern_picks_the_events_delivered(logs, lam, functions):
    group, stream = group_with_stream(logs)
    name = receiver(lam, functions, group)
    logs.put_subscription_filter(logGroupName=group, filterName="errors", filterPattern="ERROR",
                                 destinationArn=function_arn(name), distribution="Random")
    t = now()
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
        {"timestamp": t, "message": "INFO fine"}, {"timestamp": t + 1, "message": "ERROR broken"}])
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
        {"timestamp": t + 2, "message": "INFO nothing to see"}])
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
        {"timestamp": t + 3, "message": "ERROR again"}])
    docs = received(logs, name, at_least=2, settle=1.0)
    assert sorted(e["message"] for d in docs for e in d["logEvents"]) == ["ERROR again", "ERROR broken"]
    assert len(docs) == 2


def test_another_functions_output_is_delivered(logs, lam, functions):
    writer = create(lam, files={"app.py": WRITER})
    functions.append(writer)
    group = f"/aws/lambda/{writer}"
    lam.invoke(FunctionName=writer, Payload=json.dumps({"lines": ["warm up"]}).encode())  # creates its group
    wait_for_group(logs, group)
    name = receiver(lam, functions, group)
    logs.put_subscription_filter(logGroupName=group, filterName="out", filterPattern="?hello ?REPORT",
                                 destinationArn=function_arn(name))
    lam.invoke(FunctionName=writer, Payload=json.dumps({"lines": ["hello from the writer"]}).encode())
    docs = received(logs, name, settle=1.0)
    messages = [e["message"] for d in docs for e in d["logEvents"]]
    assert any(m.startswith("hello from the writer") for m in messages)
    assert any(m.startswith("REPORT RequestId: ") for m in messages)
    assert not any("warm up" in m for m in messages)  # written before the filter existed
    assert all(d["logGroup"] == group and d["logStream"].startswith(time.strftime("%Y/")) for d in docs)


def test_a_function_subscribed_to_its_own_log_group_does_not_loop(logs, lam, functions):
    name = receiver(lam, functions)
    group = f"/aws/lambda/{name}"
    lam.invoke(FunctionName=name, Payload=b"{}")
    wait_for_group(logs, group)
    lam.add_permission(FunctionName=name, StatementId="self", Action="lambda:InvokeFunction",
                       Principal="logs.us-east-1.amazonaws.com",
                       SourceArn=f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}:*")
    logs.put_subscription_filter(logGroupName=group, filterName="self", filterPattern="plain",
                                 destinationArn=function_arn(name))
    lam.invoke(FunctionName=name, Payload=b"{}")
    docs = received(logs, name, settle=3.0)
    assert len(docs) == 1  # the output of the invocation the delivery caused is not delivered again
    assert [e["message"] for e in docs[0]["logEvents"]] == ["plain invocation\n"]


# ---- checks, limits, describe, delete ----

def test_the_function_must_let_cloudwatch_logs_invoke_it(logs, lam, functions):
    group, _ = group_with_stream(logs)
    name = create(lam, files={"app.py": RECEIVER})
    functions.append(name)
    put = dict(logGroupName=group, filterName="f", filterPattern="", destinationArn=function_arn(name))
    assert aws_error(logs.put_subscription_filter, **put) == {
        "code": "InvalidParameterException", "message": PERMISSION, "status": 400, "type": None}
    # a permission for another log group does not do
    lam.add_permission(FunctionName=name, StatementId="other", Action="lambda:InvokeFunction",
                       Principal="logs.amazonaws.com",
                       SourceArn=f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/some/other:*")
    assert aws_error(logs.put_subscription_filter, **put)["message"] == PERMISSION
    missing = dict(put, destinationArn=function_arn("no-such-function-here"))
    assert aws_error(logs.put_subscription_filter, **missing)["message"] == PERMISSION
    lam.add_permission(FunctionName=name, StatementId="mine", Action="lambda:InvokeFunction",
                       Principal="logs.amazonaws.com",
                       SourceArn=f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}:*")
    logs.put_subscription_filter(**put)
    assert aws_error(logs.put_subscription_filter, **dict(put, destinationArn=function_arn(name) + ":nope"))[
        "message"] == PERMISSION


def test_destination_kinds_are_checked_as_aws_does(logs):
    group, _ = group_with_stream(logs)

    def err(arn: str, **kw) -> tuple[str, str]:
        e = aws_error(logs.put_subscription_filter, **{"logGroupName": group, "filterName": "f", "filterPattern": "",
                                                       "destinationArn": arn, **kw})
        return e["code"], e["message"]

    assert err("arn:aws:lambda:us-east-1:123456789012:function:theirs") == (
        "AccessDeniedException", "Cross-account lambda invocation passing is not allowed. You must use "
        "DestinationPolicies to create cross account lambda triggers.")
    assert err(f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f", roleArn="arn:aws:iam::000000000000:role/r") == (
        "InvalidParameterException", "destinationArn for vendor lambda cannot be used with roleArn")
    stream = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s"
    assert err(stream) == ("InvalidParameterException", "destinationArn for vendor kinesis cannot be used without roleArn")
    assert err(stream, roleArn="arn:aws:iam::000000000000:role/r") == (
        "InvalidParameterException", "Could not deliver test message to specified Kinesis stream. Check if the given "
        "kinesis stream is in ACTIVE state.")
    assert err(f"arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/d", roleArn="arn:aws:iam::0:role/r")[1].startswith(
        "Could not deliver test message to specified Firehose stream.")
    assert err(f"arn:aws:sqs:us-east-1:{ACCOUNT}:q") == (
        "InvalidParameterException", "PutSubscriptionFilter operation cannot work with destinationArn for vendor sqs")
    assert err(f"arn:aws:logs:us-east-1:{ACCOUNT}:destination:none")[0] == "ResourceNotFoundException"
    code, message = err(function_arn("x"), filterPattern="{ $.a = ")
    assert code == "InvalidParameterException" and "filter pattern" in message
    e = aws_error(logs.put_subscription_filter, logGroupName=unique(), filterName="f", filterPattern="",
                  destinationArn=function_arn("x"))
    assert (e["code"], e["message"]) == ("ResourceNotFoundException", "The specified log group does not exist.")


def test_two_filters_at_most_describe_and_delete(logs, lam, functions):
    group, _ = group_with_stream(logs)
    name = receiver(lam, functions, group)
    arn = function_arn(name)
    logs.put_subscription_filter(logGroupName=group, filterName="b", filterPattern="", destinationArn=arn)
    logs.put_subscription_filter(logGroupName=group, filterName="a", filterPattern="ERROR", destinationArn=arn)
    logs.put_subscription_filter(logGroupName=group, filterName="a", filterPattern="[]", destinationArn=arn)  # replace
    e = aws_error(logs.put_subscription_filter, logGroupName=group, filterName="c", filterPattern="",
                  destinationArn=arn)
    assert (e["code"], e["message"], e["status"]) == ("LimitExceededException", "Resource limit exceeded.", 400)
    described = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert [f["filterName"] for f in described] == ["a", "b"]
    first = described[0]
    assert list(first) == ["filterName", "logGroupName", "filterPattern", "destinationArn", "distribution",
                           "applyOnTransformedLogs", "creationTime"]
    assert first["filterPattern"] == "[]" and first["distribution"] == "ByLogStream"
    assert first["applyOnTransformedLogs"] is False and abs(first["creationTime"] - now()) < 60_000
    page = logs.describe_subscription_filters(logGroupName=group, limit=1)
    assert [f["filterName"] for f in page["subscriptionFilters"]] == ["a"]
    rest = logs.describe_subscription_filters(logGroupName=group, limit=1, nextToken=page["nextToken"])
    assert [f["filterName"] for f in rest["subscriptionFilters"]] == ["b"] and "nextToken" not in rest
    assert [f["filterName"] for f in logs.describe_subscription_filters(
        logGroupName=group, filterNamePrefix="b")["subscriptionFilters"]] == ["b"]
    logs.delete_subscription_filter(logGroupName=group, filterName="a")
    e = aws_error(logs.delete_subscription_filter, logGroupName=group, filterName="a")
    assert (e["code"], e["message"]) == ("ResourceNotFoundException", "The specified subscription filter does not exist.")
    e = aws_error(logs.describe_subscription_filters, logGroupName=unique())
    assert (e["code"], e["message"]) == ("ResourceNotFoundException", "The specified log group does not exist.")
    logs.delete_log_group(logGroupName=group)
    logs.create_log_group(logGroupName=group)
    assert logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"] == []


def test_a_deleted_filter_delivers_no_more(logs, lam, functions):
    group, stream = group_with_stream(logs)
    name = receiver(lam, functions, group)
    logs.put_subscription_filter(logGroupName=group, filterName="f", filterPattern="", destinationArn=function_arn(name))
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": now(), "message": "one"}])
    assert len(received(logs, name)) == 1
    logs.delete_subscription_filter(logGroupName=group, filterName="f")
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": now(), "message": "two"}])
    assert len(received(logs, name, settle=1.5)) == 1


def test_the_aws_cli_puts_a_subscription_filter(server, logs, lam, functions):
    group, _ = group_with_stream(logs)
    name = receiver(lam, functions, group)
    server.cli("logs", "put-subscription-filter", "--log-group-name", group, "--filter-name", "cli",
               "--filter-pattern", "", "--destination-arn", function_arn(name))
    out = json.loads(server.cli("logs", "describe-subscription-filters", "--log-group-name", group).stdout)
    assert [f["filterName"] for f in out["subscriptionFilters"]] == ["cli"]


# ---- destinations ----

def test_destinations_round_trip_and_cross_account_subscriptions(server, logs):
    name = f"dest-{uuid.uuid4().hex[:8]}"
    target = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s"
    role = f"arn:aws:iam::{ACCOUNT}:role/cwl"
    out = logs.put_destination(destinationName=name, targetArn=target, roleArn=role, tags={"k": "v"})["destination"]
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:destination:{name}"
    assert list(out) == ["destinationName", "targetArn", "roleArn", "arn", "creationTime"]
    assert (out["destinationName"], out["targetArn"], out["roleArn"], out["arn"]) == (name, target, role, arn)
    [listed] = logs.describe_destinations(DestinationNamePrefix=name)["destinations"]
    assert listed == out

    other = server.client("logs", key=f"other-{uuid.uuid4().hex[:6]}")
    group = unique()
    other.create_log_group(logGroupName=group)
    put = dict(logGroupName=group, filterName="x", filterPattern="", destinationArn=arn)
    e = aws_error(other.put_subscription_filter, **put)
    assert e["code"] == "AccessDeniedException"
    assert e["message"].endswith(f"is not authorized to perform: logs:PutSubscriptionFilter on resource: {arn}")
    e = aws_error(logs.put_destination_policy, destinationName=name, accessPolicy="{not json")
    assert e["code"] == "InvalidParameterException"
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "logs:PutSubscriptionFilter", "Resource": arn}]})
    logs.put_destination_policy(destinationName=name, accessPolicy=policy, forceUpdate=True)
    assert logs.describe_destinations(DestinationNamePrefix=name)["destinations"][0]["accessPolicy"] == policy
    other.put_subscription_filter(**put)
    other.create_log_stream(logGroupName=group, logStreamName="s")
    other.put_log_events(logGroupName=group, logStreamName="s", logEvents=[{"timestamp": now(), "message": "m"}])

    updated = logs.put_destination(destinationName=name, targetArn=target + "2", roleArn=role)["destination"]
    assert updated["creationTime"] == out["creationTime"] and updated["accessPolicy"] == policy
    e = aws_error(logs.put_destination, destinationName=name, targetArn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f",
                  roleArn=role)
    assert e["code"] == "InvalidParameterException"
    logs.delete_destination(destinationName=name)
    assert logs.describe_destinations(DestinationNamePrefix=name)["destinations"] == []
    e = aws_error(logs.delete_destination, destinationName=name)
    assert e["code"] == "ResourceNotFoundException"
    assert aws_error(logs.put_destination_policy, destinationName=name, accessPolicy=policy)["code"] == \
        "ResourceNotFoundException"


def test_describe_destinations_pages(logs):
    prefix = f"pg-{uuid.uuid4().hex[:6]}"
    for i in range(3):
        logs.put_destination(destinationName=f"{prefix}-{i}", targetArn=f"arn:aws:firehose:us-east-1:{ACCOUNT}:"
                             "deliverystream/d", roleArn=f"arn:aws:iam::{ACCOUNT}:role/r")
    names, token = [], None
    while True:
        page = logs.describe_destinations(DestinationNamePrefix=prefix, limit=2, **({"nextToken": token} if token else {}))
        names += [d["destinationName"] for d in page["destinations"]]
        token = page.get("nextToken")
        if not token:
            break
    assert names == [f"{prefix}-{i}" for i in range(3)]
    for name in names:
        logs.delete_destination(destinationName=name)


# ---- resource policies ----

def test_resource_policies_round_trip_and_limits(server):
    logs = server.client("logs", key=f"rp-{uuid.uuid4().hex[:8]}")
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "route53.amazonaws.com"}, "Action": "logs:PutLogEvents", "Resource": "*"}]})
    out = logs.put_resource_policy(policyName="p0", policyDocument=doc)["resourcePolicy"]
    assert out["policyName"] == "p0" and out["policyDocument"] == doc and out["policyScope"] == "ACCOUNT"
    assert abs(out["lastUpdatedTime"] - now()) < 60_000
    changed = doc.replace("route53", "es")
    logs.put_resource_policy(policyName="p0", policyDocument=changed)
    [listed] = logs.describe_resource_policies()["resourcePolicies"]
    assert listed["policyDocument"] == changed
    for i in range(1, 10):
        logs.put_resource_policy(policyName=f"p{i}", policyDocument=doc)
    e = aws_error(logs.put_resource_policy, policyName="p10", policyDocument=doc)
    assert (e["code"], e["message"]) == ("LimitExceededException", "Resource limit exceeded.")
    assert len(logs.describe_resource_policies()["resourcePolicies"]) == 10
    assert aws_error(logs.put_resource_policy, policyName="bad", policyDocument="{nope")["code"] == \
        "InvalidParameterException"
    assert aws_error(logs.put_resource_policy, policyName="p1", policyDocument="x" * 5121)["code"] == \
        "InvalidParameterException"
    logs.delete_resource_policy(policyName="p0")
    e = aws_error(logs.delete_resource_policy, policyName="p0")
    assert (e["code"], e["message"]) == ("ResourceNotFoundException", "Policy with name [p0] does not exist.")


def test_a_log_groups_own_resource_policy_has_a_revision(server):
    logs = server.client("logs")
    group = unique()
    logs.create_log_group(logGroupName=group)
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}"
    doc = json.dumps({"Version": "2012-10-17", "Statement": []})
    out = logs.put_resource_policy(resourceArn=arn, policyDocument=doc)
    assert out["resourcePolicy"]["policyScope"] == "RESOURCE" and out["resourcePolicy"]["resourceArn"] == arn
    revision = out["revisionId"]
    assert aws_error(logs.put_resource_policy, resourceArn=arn, policyDocument=doc)["code"] == \
        "OperationAbortedException"
    again = logs.put_resource_policy(resourceArn=arn, policyDocument=doc, expectedRevisionId=revision)
    assert again["revisionId"] != revision
    [listed] = logs.describe_resource_policies(resourceArn=arn)["resourcePolicies"]
    assert listed["revisionId"] == again["revisionId"]
    logs.delete_resource_policy(resourceArn=arn, expectedRevisionId=again["revisionId"])
    assert logs.describe_resource_policies(resourceArn=arn)["resourcePolicies"] == []
