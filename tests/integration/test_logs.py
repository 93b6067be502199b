"""CloudWatch Logs through boto3 and the AWS CLI against a real server."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.conftest import aws_cli_v2

DAY = 86_400_000


@pytest.fixture(scope="module")
def logs(server):
    return server.client("logs")


def name(prefix: str = "/test/logs") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


def now() -> int:
    return int(time.time() * 1000)


def error(exc: pytest.ExceptionInfo) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def make_group(logs, streams: dict[str, list[tuple[int, str]]] | None = None, **kw) -> str:
    group = name()
    logs.create_log_group(logGroupName=group, **kw)
    for stream, events in (streams or {}).items():
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        if events:
            logs.put_log_events(logGroupName=group, logStreamName=stream,
                                logEvents=[{"timestamp": t, "message": m} for t, m in events])
    return group


# ---- log groups ----

def test_log_group_lifecycle(logs):
    group = name()
    logs.create_log_group(logGroupName=group)
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName=group)
    assert error(exc) == ("ResourceAlreadyExistsException", "The specified log group already exists")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    [described] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["logGroupName"] == group
    assert described["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"
    assert described["logGroupArn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"
    assert described["storedBytes"] == 0 and described["metricFilterCount"] == 0
    assert described["logGroupClass"] == "STANDARD" and "retentionInDays" not in described
    assert abs(described["creationTime"] - now()) < 60_000
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    with pytest.raises(ClientError) as exc:
        logs.delete_log_group(logGroupName=group)
    assert error(exc) == ("ResourceNotFoundException", "The specified log group does not exist.")


def test_delete_log_group_removes_streams_and_events(logs):
    group = make_group(logs, {"s": [(now(), "hello")]})
    logs.delete_log_group(logGroupName=group)
    logs.create_log_group(logGroupName=group)
    assert logs.describe_log_streams(logGroupName=group)["logStreams"] == []
    assert logs.filter_log_events(logGroupName=group)["events"] == []


@pytest.mark.parametrize("bad,message", [
    ("has:colon", "Member must satisfy regular expression pattern"),
    ("space here", "Member must satisfy regular expression pattern"),
    ("aws/reserved", "Log groups starting with AWS/ are reserved for AWS."),
    ("AWS/Reserved", "Log groups starting with AWS/ are reserved for AWS."),
])
def test_create_log_group_invalid_names(logs, bad, message):
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName=bad)
    code, msg = error(exc)
    assert code == "InvalidParameterException" and message in msg


def test_create_log_group_options(logs):
    group = name()
    logs.create_log_group(logGroupName=group, tags={"team": "a"}, logGroupClass="INFREQUENT_ACCESS",
                          kmsKeyId="arn:aws:kms:us-east-1:000000000000:key/k1")
    [described] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["logGroupClass"] == "INFREQUENT_ACCESS"
    assert described["kmsKeyId"] == "arn:aws:kms:us-east-1:000000000000:key/k1"
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"team": "a"}
    classes = logs.describe_log_groups(logGroupNamePrefix=group, logGroupClass="STANDARD")["logGroups"]
    assert classes == []


def test_list_log_groups(logs):
    """ListLogGroups: names, ARNs and classes; the pattern takes up to five alternatives, `^` for
    a prefix, else a substring (case-sensitive); class and tag filters must all hold."""
    base = name("/test/list")
    token = base.rsplit("/", 1)[1]
    logs.create_log_group(logGroupName=f"{base}/api", tags={"team": "a"})
    logs.create_log_group(logGroupName=f"{base}/worker", tags={"team": "b"})
    logs.create_log_group(logGroupName=f"{base}/cold", logGroupClass="INFREQUENT_ACCESS")

    def listed(**kw):
        return [g["logGroupName"] for g in logs.list_log_groups(**kw)["logGroups"]]

    [one] = logs.list_log_groups(logGroupNamePattern=f"{token}/api")["logGroups"]
    assert one == {"logGroupName": f"{base}/api", "logGroupClass": "STANDARD",
                   "logGroupArn": f"arn:aws:logs:us-east-1:000000000000:log-group:{base}/api"}
    assert listed(logGroupNamePattern=f"{token}/api|{token}/cold") == [f"{base}/api", f"{base}/cold"]
    assert listed(logGroupNamePattern=f"^{base[:20]}|nothing-here") == sorted(
        g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=base[:20])["logGroups"])
    assert listed(logGroupNamePattern=f"^{token}") == []  # a prefix of the name, not of a part
    assert listed(logGroupNamePattern=f"{token.upper()}/API") == []
    assert listed(logGroupNamePattern=token, logGroupClass="INFREQUENT_ACCESS") == [f"{base}/cold"]
    assert listed(logGroupNamePattern=token, logGroupTags=[{"key": "team", "values": ["b"]}]) == [f"{base}/worker"]
    assert listed(logGroupNamePattern=token, logGroupTags=[{"key": "team"}]) == [f"{base}/api", f"{base}/worker"]
    page = logs.list_log_groups(logGroupNamePattern=token, limit=2)
    assert len(page["logGroups"]) == 2 and page["nextToken"]
    rest = logs.list_log_groups(logGroupNamePattern=token, limit=2, nextToken=page["nextToken"])
    assert [g["logGroupName"] for g in rest["logGroups"]] == [f"{base}/worker"] and "nextToken" not in rest


def test_log_group_identifiers_as_aws_checks_them(logs):
    """An ARN identifier is the log group's ARN without the `:*` DescribeLogGroups shows; a name
    and an identifier together are a ValidationException."""
    group = name("/test/ident")
    logs.create_log_group(logGroupName=group)
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"
    assert logs.describe_log_streams(logGroupIdentifier=arn)["logStreams"] == []
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupIdentifier=arn + ":*")
    assert error(exc) == ("InvalidParameterException", f"1 validation error detected: Value '{arn}:*' at "
                          "'logGroupIdentifier' failed to satisfy constraint: Member must satisfy regular "
                          "expression pattern: [\\w#+=/:,.@-]*")
    with pytest.raises(ClientError) as exc:
        logs.describe_log_groups(logGroupIdentifiers=[arn + ":*"])
    assert error(exc)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName=group, logGroupIdentifier=arn, logStreamName="s")
    assert error(exc) == ("ValidationException", "LogGroup name and LogGroup ARN are mutually exclusive parameters.")


def test_describe_log_groups_prefix_pattern_and_pagination(logs):
    base = name("/test/describe")
    names = [f"{base}/{i:02d}" for i in range(7)] + [f"{base}-other/x"]
    for n in reversed(names):
        logs.create_log_group(logGroupName=n)
    got = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=base + "/")["logGroups"]]
    assert got == names[:7]
    first = logs.describe_log_groups(logGroupNamePrefix=base, limit=3)
    assert [g["logGroupName"] for g in first["logGroups"]] == sorted(names)[:3] and first["nextToken"]
    paged = []
    for p in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=base,
                                                               PaginationConfig={"PageSize": 3}):
        paged += [g["logGroupName"] for g in p["logGroups"]]
    assert paged == sorted(names)
    last = logs.describe_log_groups(logGroupNamePrefix=base, limit=8)
    assert "nextToken" not in last and len(last["logGroups"]) == 8
    # a case-sensitive substring search, answered with every field as the other forms are
    token = base.rsplit("/", 1)[1]
    found = logs.describe_log_groups(logGroupNamePattern=token + "-other")["logGroups"]
    assert [g["logGroupName"] for g in found] == [f"{base}-other/x"]
    assert {"logGroupName", "arn", "creationTime", "logGroupArn", "logGroupClass", "metricFilterCount",
            "storedBytes"} <= set(found[0])
    assert logs.describe_log_groups(logGroupNamePattern=token.upper() + "-OTHER")["logGroups"] == []
    with pytest.raises(ClientError) as exc:
        logs.describe_log_groups(logGroupNamePrefix=base, logGroupNamePattern="x")
    assert error(exc)[0] == "InvalidParameterException"
    by_id = logs.describe_log_groups(logGroupIdentifiers=[
        names[2], f"arn:aws:logs:us-east-1:000000000000:log-group:{names[1]}", base + "/missing"])
    assert [g["logGroupName"] for g in by_id["logGroups"]] == [names[1], names[2]]
    with pytest.raises(ClientError) as exc:
        logs.describe_log_groups(nextToken="garbage!")
    assert error(exc)[0] == "InvalidParameterException"


def test_log_groups_are_scoped_by_region(server, logs):
    group = make_group(logs)
    other = server.client("logs", region="eu-west-1")
    assert other.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    other.create_log_group(logGroupName=group)
    [g] = other.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert g["arn"].startswith("arn:aws:logs:eu-west-1:")


# ---- retention ----

def test_retention_policy(logs):
    group = make_group(logs)
    logs.put_retention_policy(logGroupName=group, retentionInDays=7)
    [g] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert g["retentionInDays"] == 7
    logs.put_retention_policy(logGroupName=group, retentionInDays=3653)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["retentionInDays"] == 3653
    logs.delete_retention_policy(logGroupName=group)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    with pytest.raises(ClientError) as exc:
        logs.put_retention_policy(logGroupName=group, retentionInDays=2)
    code, msg = error(exc)
    assert code == "InvalidParameterException"
    assert "Value '2' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set" in msg
    for call in (lambda: logs.put_retention_policy(logGroupName=group + "x", retentionInDays=1),
                 lambda: logs.delete_retention_policy(logGroupName=group + "x")):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == ("ResourceNotFoundException", "The specified log group does not exist.")


# ---- tags ----

def test_tag_log_group_operations(logs):
    group = make_group(logs)
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {}
    logs.tag_log_group(logGroupName=group, tags={"a": "1", "b": "2"})
    logs.tag_log_group(logGroupName=group, tags={"b": "3"})
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"a": "1", "b": "3"}
    logs.untag_log_group(logGroupName=group, tags=["a", "nope"])
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"b": "3"}
    for call in (lambda: logs.tag_log_group(logGroupName=group + "x", tags={"a": "1"}),
                 lambda: logs.untag_log_group(logGroupName=group + "x", tags=["a"]),
                 lambda: logs.list_tags_log_group(logGroupName=group + "x")):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc)[0] == "ResourceNotFoundException"


def test_tag_resource_operations(logs):
    group = make_group(logs)
    arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["logGroupArn"]
    logs.tag_resource(resourceArn=arn, tags={"env": "dev", "x": "y"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "dev", "x": "y"}
    assert logs.list_tags_for_resource(resourceArn=arn + ":*")["tags"] == {"env": "dev", "x": "y"}
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"env": "dev", "x": "y"}
    logs.untag_resource(resourceArn=arn, tagKeys=["x"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "dev"}
    with pytest.raises(ClientError) as exc:
        logs.tag_resource(resourceArn=arn, tags={f"k{i}": "v" for i in range(50)})
    assert error(exc)[0] == "TooManyTagsException"
    with pytest.raises(ClientError) as exc:
        logs.list_tags_for_resource(resourceArn=arn + "-missing")
    assert error(exc) == ("ResourceNotFoundException", "The specified log group does not exist.")
    with pytest.raises(ClientError) as exc:
        logs.list_tags_for_resource(resourceArn=arn.replace("000000000000", "111111111111"))
    assert error(exc)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        logs.tag_resource(resourceArn="arn:aws:sqs:us-east-1:000000000000:q", tags={"a": "b"})
    assert error(exc)[0] == "InvalidParameterException"


# ---- deletion protection ----

def test_deletion_protection(logs):
    group = make_group(logs, {"s": []}, deletionProtectionEnabled=True)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["deletionProtectionEnabled"] is True
    for call in (lambda: logs.delete_log_group(logGroupName=group),
                 lambda: logs.delete_log_stream(logGroupName=group, logStreamName="s")):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc)[0] == "ValidationException"
    logs.put_log_group_deletion_protection(logGroupIdentifier=group, deletionProtectionEnabled=False)
    logs.delete_log_group(logGroupName=group)


# ---- log streams ----

def test_log_stream_lifecycle(logs):
    group = make_group(logs)
    logs.create_log_stream(logGroupName=group, logStreamName="2024/01/01/[$LATEST]abc")
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName=group, logStreamName="2024/01/01/[$LATEST]abc")
    assert error(exc) == ("ResourceAlreadyExistsException", "The specified log stream already exists")
    [s] = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert s["logStreamName"] == "2024/01/01/[$LATEST]abc"
    assert s["arn"] == (f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:log-stream:"
                        "2024/01/01/[$LATEST]abc")
    assert s["storedBytes"] == 0 and "lastEventTimestamp" not in s and "firstEventTimestamp" not in s
    logs.delete_log_stream(logGroupName=group, logStreamName="2024/01/01/[$LATEST]abc")
    assert logs.describe_log_streams(logGroupName=group)["logStreams"] == []
    with pytest.raises(ClientError) as exc:
        logs.delete_log_stream(logGroupName=group, logStreamName="2024/01/01/[$LATEST]abc")
    assert error(exc) == ("ResourceNotFoundException", "The specified log stream does not exist.")
    for call in (lambda: logs.create_log_stream(logGroupName=group + "x", logStreamName="s"),
                 lambda: logs.delete_log_stream(logGroupName=group + "x", logStreamName="s"),
                 lambda: logs.describe_log_streams(logGroupName=group + "x")):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == ("ResourceNotFoundException", "The specified log group does not exist.")
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName=group, logStreamName="bad:name")
    assert error(exc)[0] == "InvalidParameterException"


def test_describe_log_streams_order_prefix_and_pagination(logs):
    t = now()
    group = make_group(logs, {"b": [(t - 100, "x")], "a": [(t - 50, "x")], "c": [(t - 300, "x")],
                              "ab": [(t - 200, "x")], "d": []})
    names = lambda resp: [s["logStreamName"] for s in resp["logStreams"]]  # noqa: E731
    assert names(logs.describe_log_streams(logGroupName=group)) == ["a", "ab", "b", "c", "d"]
    assert names(logs.describe_log_streams(logGroupName=group, descending=True)) == ["d", "c", "b", "ab", "a"]
    assert names(logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="a")) == ["a", "ab"]
    assert names(logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="a",
                                           descending=True)) == ["ab", "a"]
    assert names(logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime")) == [
        "d", "c", "ab", "b", "a"]
    assert names(logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)) == [
        "a", "b", "ab", "c", "d"]
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="a")
    assert error(exc) == ("InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.")
    for kwargs in ({}, {"descending": True}, {"orderBy": "LastEventTime", "descending": True},
                   {"orderBy": "LastEventTime"}, {"logStreamNamePrefix": "a"}):
        paged = []
        for p in logs.get_paginator("describe_log_streams").paginate(
                logGroupName=group, PaginationConfig={"PageSize": 2}, **kwargs):
            assert len(p["logStreams"]) <= 2
            paged += names(p)
        assert paged == names(logs.describe_log_streams(logGroupName=group, **kwargs)), kwargs
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"
    assert names(logs.describe_log_streams(logGroupIdentifier=arn, limit=1)) == ["a"]
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName=group, logGroupIdentifier=arn)
    assert error(exc)[0] == "ValidationException"


# ---- PutLogEvents ----

def test_put_log_events_updates_stream_metadata(logs):
    group = make_group(logs, {"s": []})
    t = now()
    resp = logs.put_log_events(logGroupName=group, logStreamName="s", sequenceToken="bogus-and-ignored",
                               logEvents=[{"timestamp": t - 10, "message": "one"},
                                          {"timestamp": t - 10, "message": "two"},
                                          {"timestamp": t, "message": "thréé"}])
    assert resp["nextSequenceToken"].isdigit() and "rejectedLogEventsInfo" not in resp
    [s] = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert s["firstEventTimestamp"] == t - 10 and s["lastEventTimestamp"] == t
    assert abs(s["lastIngestionTime"] - now()) < 60_000
    assert s["storedBytes"] == len("one") + len("two") + len("thréé".encode())
    [g] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert g["storedBytes"] == s["storedBytes"]
    again = logs.put_log_events(logGroupName=group, logStreamName="s", sequenceToken=resp["nextSequenceToken"],
                                logEvents=[{"timestamp": t + 1, "message": "four"}])
    assert again["nextSequenceToken"] != resp["nextSequenceToken"]


def test_put_log_events_errors(logs):
    group = make_group(logs, {"s": []})
    t = now()
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=group + "x", logStreamName="s", logEvents=[{"timestamp": t, "message": "m"}])
    assert error(exc) == ("ResourceNotFoundException", "The specified log group does not exist.")
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=group, logStreamName="nope", logEvents=[{"timestamp": t, "message": "m"}])
    assert error(exc) == ("ResourceNotFoundException", "The specified log stream does not exist.")
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
            {"timestamp": t, "message": "later"}, {"timestamp": t - 1, "message": "earlier"}])
    assert error(exc) == ("InvalidParameterException",
                          "Log events in a single PutLogEvents request must be in chronological order.")
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
            {"timestamp": t - 2 * DAY, "message": "a"}, {"timestamp": t, "message": "b"}])
    assert error(exc) == ("InvalidParameterException",
                          "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
            {"timestamp": t, "message": "x" * 600_000}, {"timestamp": t, "message": "y" * 600_000}])
    code, msg = error(exc)
    assert code == "InvalidParameterException" and "exceeds limit of 1048576" in msg
    assert logs.get_log_events(logGroupName=group, logStreamName="s")["events"] == []


def test_put_log_events_rejects_too_old_too_new_and_expired(logs):
    group = make_group(logs, {"s": []})
    t = now()
    resp = logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": t - 20 * DAY, "message": "too old"},
        {"timestamp": t - 15 * DAY, "message": "too old too"},
        {"timestamp": t - 60_000, "message": "fine"},
        {"timestamp": t, "message": "fine too"},
        {"timestamp": t + 3 * 3600_000, "message": "too new"},
    ])
    assert resp["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 4}
    got = logs.get_log_events(logGroupName=group, logStreamName="s")["events"]
    assert [e["message"] for e in got] == ["fine", "fine too"]
    # older than the group's retention: expired
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    resp = logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": t - 3 * DAY, "message": "expired"}, {"timestamp": t, "message": "kept"}])
    assert resp["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    # everything rejected still answers normally
    resp = logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": t + DAY, "message": "future"}])
    assert resp["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 0}
    assert [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName="s")["events"]] == [
        "fine", "fine too", "kept"]


# ---- GetLogEvents ----

def test_get_log_events_tokens_and_paging(logs):
    t = now() - 100_000
    group = make_group(logs, {"s": [(t + i, f"event {i}") for i in range(25)]})
    head = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True, limit=10)
    assert [e["message"] for e in head["events"]] == [f"event {i}" for i in range(10)]
    assert head["nextForwardToken"].startswith("f/") and head["nextForwardToken"].endswith("/s")
    assert head["nextBackwardToken"].startswith("b/")
    assert all(set(e) == {"timestamp", "message", "ingestionTime"} for e in head["events"])
    seen, token = [], None
    while True:
        kwargs = {"nextToken": token} if token else {}
        page = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True, limit=10, **kwargs)
        if page["nextForwardToken"] == token:
            assert page["events"] == []          # AWS: the same token back means the end
            break
        seen += [e["message"] for e in page["events"]]
        token = page["nextForwardToken"]
    assert seen == [f"event {i}" for i in range(25)]
    tail = logs.get_log_events(logGroupName=group, logStreamName="s", limit=10)
    assert [e["message"] for e in tail["events"]] == [f"event {i}" for i in range(15, 25)]
    back = logs.get_log_events(logGroupName=group, logStreamName="s", limit=10, nextToken=tail["nextBackwardToken"])
    assert [e["message"] for e in back["events"]] == [f"event {i}" for i in range(5, 15)]
    window = logs.get_log_events(logGroupName=group, logStreamName="s", startTime=t + 3, endTime=t + 6,
                                 startFromHead=True)
    assert [e["message"] for e in window["events"]] == ["event 3", "event 4", "event 5"]
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"
    by_arn = logs.get_log_events(logGroupIdentifier=arn, logStreamName="s", limit=1)
    assert [e["message"] for e in by_arn["events"]] == ["event 24"]
    # polling a forward token picks up new events
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[{"timestamp": now(), "message": "new"}])
    polled = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=tail["nextForwardToken"],
                                 startFromHead=True)
    assert [e["message"] for e in polled["events"]] == ["new"]


def test_get_log_events_errors(logs):
    group = make_group(logs, {"s": []})
    empty = logs.get_log_events(logGroupName=group, logStreamName="s")
    assert empty["events"] == [] and empty["nextForwardToken"] and empty["nextBackwardToken"]
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName=group, logStreamName="nope")
    assert error(exc) == ("ResourceNotFoundException", "The specified log stream does not exist.")
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName=group + "x", logStreamName="s")
    assert error(exc) == ("ResourceNotFoundException", "The specified log group does not exist.")
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName=group, logStreamName="s", nextToken="f/garbage/s")
    assert error(exc)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logStreamName="s")
    assert error(exc)[0] == "InvalidParameterException"


# ---- FilterLogEvents ----

def test_filter_log_events_interleaves_streams(logs):
    t = now() - 10_000
    group = make_group(logs, {"web-1": [(t + 1, "GET / 200"), (t + 4, "GET /x 404")],
                              "web-2": [(t + 2, "POST / 500"), (t + 3, "GET /y 200")],
                              "worker": [(t + 5, "job done")]})
    got = logs.filter_log_events(logGroupName=group)
    assert [e["message"] for e in got["events"]] == ["GET / 200", "POST / 500", "GET /y 200", "GET /x 404",
                                                     "job done"]
    assert [e["logStreamName"] for e in got["events"]] == ["web-1", "web-2", "web-2", "web-1", "worker"]
    assert all(len(e["eventId"]) == 56 for e in got["events"]) and "nextToken" not in got
    msgs = lambda resp: [e["message"] for e in resp["events"]]  # noqa: E731
    assert msgs(logs.filter_log_events(logGroupName=group, logStreamNames=["worker", "web-1", "absent"])) == [
        "GET / 200", "GET /x 404", "job done"]
    assert msgs(logs.filter_log_events(logGroupName=group, logStreamNamePrefix="web-")) == [
        "GET / 200", "POST / 500", "GET /y 200", "GET /x 404"]
    assert msgs(logs.filter_log_events(logGroupName=group, startTime=t + 2, endTime=t + 4)) == [
        "POST / 500", "GET /y 200", "GET /x 404"]
    assert msgs(logs.filter_log_events(logGroupName=group, interleaved=False, limit=2)) == ["GET / 200", "POST / 500"]
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName=group, logStreamNames=["web-1"], logStreamNamePrefix="web")
    assert error(exc)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName=group + "x")
    assert error(exc) == ("ResourceNotFoundException", "The specified log group does not exist.")


def test_filter_log_events_pagination(logs):
    t = now() - 100_000
    group = make_group(logs, {f"s{n}": [(t + i, f"s{n} e{i}") for i in range(0, 40, n + 1)] for n in range(3)})
    expected = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
    assert len(expected) == 40 + 20 + 14
    first = logs.filter_log_events(logGroupName=group, limit=10)
    assert len(first["events"]) == 10 and first["nextToken"]
    paged = []
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group,
                                                                PaginationConfig={"PageSize": 10}):
        assert len(page["events"]) <= 10
        paged += [e["message"] for e in page["events"]]
    assert paged == expected
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName=group, nextToken="nope")
    assert error(exc)[0] == "InvalidParameterException"


@pytest.mark.parametrize("pattern,expected", [
    ("ERROR", ["[ERROR] disk full", "ERROR Exception: boom", "ERRORCODE 7"]),
    ("ERROR Exception", ["ERROR Exception: boom"]),
    ("?WARN ?Exception", ["ERROR Exception: boom", "WARN slow", "Exception only"]),
    ('"disk full"', ["[ERROR] disk full"]),
    ("ERROR -Exception -disk", ["ERRORCODE 7"]),
    ("%^ERROR%", ["ERROR Exception: boom", "ERRORCODE 7"]),
    ('{ $.level = "error" }', ['{"level": "error", "ms": 12}']),
    ('{ $.ms > 100 || $.level = "warn" }', ['{"level": "info", "ms": 250}', '{"level": "warn", "ms": 3}']),
    ('{ $.level = "info" && $.ms < 100 }', []),
    ("[ip, method = GET, path, status = 5*, bytes]", ["10.0.0.1 GET /a 503 20"]),
    ("[..., status = 404, bytes]", ["10.0.0.2 GET /b 404 0"]),
    ("[ip = 10.*, ...]", ["10.0.0.1 GET /a 503 20", "10.0.0.2 GET /b 404 0"]),
    ("[level, word]", ["WARN slow", "ERRORCODE 7", "Exception only"]),
])
def test_filter_log_events_patterns(logs, pattern, expected):
    messages = ["[ERROR] disk full", "ERROR Exception: boom", "WARN slow", "ERRORCODE 7", "Exception only",
                '{"level": "error", "ms": 12}', '{"level": "info", "ms": 250}', '{"level": "warn", "ms": 3}',
                "10.0.0.1 GET /a 503 20", "10.0.0.2 GET /b 404 0"]
    t = now() - 100_000
    group = make_group(logs, {"s": [(t + i, m) for i, m in enumerate(messages)]})
    got = logs.filter_log_events(logGroupName=group, filterPattern=pattern)
    assert [e["message"] for e in got["events"]] == expected


def test_filter_log_events_invalid_pattern(logs):
    group = make_group(logs, {"s": [(now(), "x")]})
    for pattern in ('{ $.a = "b"', "[a, b", '"open'):
        with pytest.raises(ClientError) as exc:
            logs.filter_log_events(logGroupName=group, filterPattern=pattern)
        assert error(exc)[0] == "InvalidParameterException"


# ---- the AWS CLI ----

def test_cli_put_get_and_filter(server):
    group = name("/aws/lambda")
    server.cli("logs", "create-log-group", "--log-group-name", group)
    server.cli("logs", "create-log-stream", "--log-group-name", group, "--log-stream-name", "s")
    t = now()
    events = json.dumps([{"timestamp": t - 2, "message": "START RequestId: 1"},
                         {"timestamp": t - 1, "message": "ERROR something broke"},
                         {"timestamp": t, "message": "END RequestId: 1"}])
    put = server.cli("logs", "put-log-events", "--log-group-name", group, "--log-stream-name", "s",
                     "--log-events", events)
    assert "nextSequenceToken" in json.loads(put.stdout)
    got = json.loads(server.cli("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "s",
                                "--start-from-head").stdout)
    assert [e["message"] for e in got["events"]] == ["START RequestId: 1", "ERROR something broke",
                                                     "END RequestId: 1"]
    assert got["nextForwardToken"].startswith("f/")
    found = json.loads(server.cli("logs", "filter-log-events", "--log-group-name", group,
                                  "--filter-pattern", "ERROR").stdout)
    assert [e["message"] for e in found["events"]] == ["ERROR something broke"]
    text = server.cli("logs", "filter-log-events", "--log-group-name", group, "--output", "text",
                      "--query", "events[].message").stdout
    assert text.split("\t")[0].strip() == "START RequestId: 1"
    described = json.loads(server.cli("logs", "describe-log-groups", "--log-group-name-prefix", group).stdout)
    assert [g["logGroupName"] for g in described["logGroups"]] == [group]
    failed = server.cli("logs", "create-log-group", "--log-group-name", group, check=False)
    assert failed.returncode != 0 and "ResourceAlreadyExistsException" in failed.stderr
    server.cli("logs", "delete-log-group", "--log-group-name", group)


def test_cli_logs_tail_follow(server, logs):
    aws = aws_cli_v2()
    if aws is None:
        pytest.skip("no AWS CLI v2 here (`aws logs tail` is a v2 command; .ci/run installs Debian's awscli)")
    group = name("/aws/lambda")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[{"timestamp": now(), "message": "hello"}])
    aws = [aws, "--endpoint-url", server.url]  # Debian's 2.9 predates AWS_ENDPOINT_URL
    done = subprocess.run([*aws, "logs", "tail", group, "--since", "1h", "--format", "short"], capture_output=True,
                          text=True, env=server.cli_env(), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("hello")
    proc = subprocess.Popen([*aws, "logs", "tail", group, "--follow"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=server.cli_env())
    try:
        first = proc.stdout.readline()
        assert "hello" in first and first.split()[1] == "s", first  # "<time> <stream> <message>"
        logs.put_log_events(logGroupName=group, logStreamName="s",
                            logEvents=[{"timestamp": now(), "message": "world"}])
        assert "world" in proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
