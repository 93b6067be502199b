"""CloudWatch Logs metric filters through boto3: Put/Describe/Delete/TestMetricFilter with AWS's
answers, and the data points ingestion produces (PutLogEvents and a function's output), read
back with CloudWatch's GetMetricStatistics and ListMetrics."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.test_lambda_invoke import call, create
from tests.support.aws import aws_error, created_functions

APACHE = [
    '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534',
    '127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 500 5324',
]


@pytest.fixture(scope="module")
def logs(server):
    return server.client("logs")


@pytest.fixture(scope="module")
def cw(server):
    return server.client("cloudwatch")


@pytest.fixture
def functions(server):
    yield from created_functions(server.client("lambda"))


def unique(prefix: str = "/test/mf") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


def group_with_stream(logs) -> str:
    group = unique()
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    return group


def transformation(**kw) -> list[dict]:
    return [{"metricName": "M", "metricNamespace": unique("NS"), "metricValue": "1", **kw}]


def put_events(logs, group: str, *messages: str) -> int:
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": now, "message": m} for m in messages])
    return now


def statistics(cw, namespace: str, metric: str, dimensions=(), **kw) -> list[dict]:
    """GetMetricStatistics over the last 10 minutes, in one period."""
    now = datetime.now(UTC)
    return cw.get_metric_statistics(
        Namespace=namespace, MetricName=metric, Dimensions=list(dimensions), StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=1), Period=660,
        Statistics=["SampleCount", "Sum", "Minimum", "Maximum", "Average"], **kw)["Datapoints"]


# ---- Put / Describe / Delete ----

def test_put_describe_replace_delete(logs):
    group = group_with_stream(logs)
    t = [{"metricName": "Errors", "metricNamespace": "App", "metricValue": "1", "defaultValue": 0.0, "unit": "Count"}]
    logs.put_metric_filter(logGroupName=group, filterName="errors", filterPattern="ERROR", metricTransformations=t)
    logs.put_metric_filter(logGroupName=group, filterName="latency", filterPattern="{ $.latency > 0 }",
                           metricTransformations=[{"metricName": "Latency", "metricNamespace": "App",
                                                   "metricValue": "$.latency"}])
    described = logs.describe_metric_filters(logGroupName=group)["metricFilters"]
    assert [f["filterName"] for f in described] == ["errors", "latency"]
    first = described[0]
    assert list(first) == ["filterName", "filterPattern", "metricTransformations", "creationTime", "logGroupName",
                           "applyOnTransformedLogs"]
    assert first["metricTransformations"] == t and first["logGroupName"] == group
    assert abs(first["creationTime"] - time.time() * 1000) < 60_000
    [g] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert g["metricFilterCount"] == 2

    logs.put_metric_filter(logGroupName=group, filterName="errors", filterPattern="?ERROR ?FATAL",
                           metricTransformations=t, applyOnTransformedLogs=True)
    [replaced] = logs.describe_metric_filters(logGroupName=group, filterNamePrefix="err")["metricFilters"]
    assert replaced["filterPattern"] == "?ERROR ?FATAL" and replaced["applyOnTransformedLogs"] is True
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["metricFilterCount"] == 2

    logs.delete_metric_filter(logGroupName=group, filterName="errors")
    assert [f["filterName"] for f in logs.describe_metric_filters(logGroupName=group)["metricFilters"]] == ["latency"]
    assert aws_error(logs.delete_metric_filter, logGroupName=group, filterName="errors") == {
        "code": "ResourceNotFoundException", "message": "The specified metric filter does not exist.",
        "status": 400, "type": None}


def test_describe_by_metric_and_paging(logs):
    namespace = unique("NS")
    groups = sorted(group_with_stream(logs) for _ in range(2))
    for group in groups:
        for i in range(3):
            logs.put_metric_filter(logGroupName=group, filterName=f"f{i}", filterPattern="",
                                   metricTransformations=[{"metricName": "Hits" if i < 2 else "Other",
                                                           "metricNamespace": namespace, "metricValue": "1"}])
    found = logs.describe_metric_filters(metricName="Hits", metricNamespace=namespace)["metricFilters"]
    assert [(f["logGroupName"], f["filterName"]) for f in found] == [(g, f"f{i}") for g in groups for i in (0, 1)]
    pages, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = logs.describe_metric_filters(logGroupName=groups[0], limit=2, **kw)
        pages.append([f["filterName"] for f in page["metricFilters"]])
        token = page.get("nextToken")
        if not token:
            break
    assert pages == [["f0", "f1"], ["f2"]]
    for given, missing in (("metricName", "metricNamespace"), ("metricNamespace", "metricName")):
        assert aws_error(logs.describe_metric_filters, **{given: "x"}) == {
            "code": "InvalidParameterException", "status": 400, "type": None,
            "message": f"If you include the {given} parameter in your request, you must also include the "
                       f"{missing} parameter."}
    assert aws_error(logs.describe_metric_filters, logGroupName=unique())["code"] == "ResourceNotFoundException"
    assert aws_error(logs.describe_metric_filters, nextToken="garbage")["message"] == \
        "The specified nextToken is invalid."


@pytest.mark.parametrize(("pattern", "kw", "message"), [
    ("ERROR", {"dimensions": {"Op": "$.op"}}, "The specified filter pattern does not support dimensions"),
    ("{ $.a = 1 }", {"dimensions": {"Op": "$.op"}, "defaultValue": 0.0},
     "Invalid metric transformation: dimensions and default value are mutually exclusive properties"),
    ("{ $.a = 1 }", {"dimensions": {"Op": "constant"}},
     "Invalid metric transformation: dimension value must be valid selector"),
    ("[a, b]", {"metricValue": "$.a"}, "Invalid metric transformation: metric value must be valid number or selector"),
    ("ERROR", {"metricValue": "lots"}, "Invalid metric transformation: metric value must be valid number or selector"),
    ("{ $.a = ", {}, None),
])
def test_put_refusals(logs, pattern, kw, message):
    group = group_with_stream(logs)
    err = aws_error(logs.put_metric_filter, logGroupName=group, filterName="f", filterPattern=pattern,
                    metricTransformations=transformation(**kw))
    assert (err["code"], err["status"]) == ("InvalidParameterException", 400)
    if message:
        assert err["message"] == message
    assert logs.describe_metric_filters(logGroupName=group)["metricFilters"] == []


def test_put_needs_the_group_and_one_transformation(logs):
    assert aws_error(logs.put_metric_filter, logGroupName=unique(), filterName="f", filterPattern="",
                     metricTransformations=transformation()) == {
        "code": "ResourceNotFoundException", "message": "The specified log group does not exist.",
        "status": 400, "type": None}
    group = group_with_stream(logs)
    err = aws_error(logs.put_metric_filter, logGroupName=group, filterName="f", filterPattern="",
                    metricTransformations=transformation() * 2)
    assert err["code"] == "InvalidParameterException"


def test_one_hundred_filters_per_group(logs):
    group = group_with_stream(logs)
    for i in range(100):
        logs.put_metric_filter(logGroupName=group, filterName=f"f{i:03}", filterPattern="", metricTransformations=[
            {"metricName": "M", "metricNamespace": "NS", "metricValue": "1"}])
    assert aws_error(logs.put_metric_filter, logGroupName=group, filterName="one-more", filterPattern="",
                     metricTransformations=transformation()) == {
        "code": "LimitExceededException", "message": "Resource limit exceeded.", "status": 400, "type": None}
    logs.put_metric_filter(logGroupName=group, filterName="f000", filterPattern="x",   # replacing is no new one
                           metricTransformations=transformation())
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["metricFilterCount"] == 100


def test_deleting_the_group_deletes_its_filters(logs):
    group = group_with_stream(logs)
    logs.put_metric_filter(logGroupName=group, filterName="f", filterPattern="", metricTransformations=transformation())
    logs.delete_log_group(logGroupName=group)
    logs.create_log_group(logGroupName=group)
    assert logs.describe_metric_filters(logGroupName=group)["metricFilters"] == []
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["metricFilterCount"] == 0
    logs.delete_log_group(logGroupName=group)


# ---- TestMetricFilter (AWS's own examples) ----

def test_test_metric_filter(logs):
    named = logs.test_metric_filter(filterPattern="[ip, identity, user_id, timestamp, request, status_code, size]",
                                    logEventMessages=APACHE)["matches"]
    assert named[0] == {"eventNumber": 0, "eventMessage": APACHE[0], "extractedValues": {
        "$ip": "127.0.0.1", "$identity": "-", "$user_id": "frank", "$timestamp": "10/Oct/2000:13:25:15 -0700",
        "$request": "GET /apache_pb.gif HTTP/1.0", "$status_code": "200", "$size": "1534"}}
    some = logs.test_metric_filter(filterPattern="[..., status_code=500, size]", logEventMessages=APACHE)["matches"]
    assert [(m["eventNumber"], m["extractedValues"]) for m in some] == [(1, {
        "$1": "127.0.0.1", "$2": "-", "$3": "frank", "$4": "10/Oct/2000:13:35:22 -0700",
        "$5": "GET /apache_pb.gif HTTP/1.0", "$status_code": "500", "$size": "5324"})]
    terms = logs.test_metric_filter(filterPattern='"[ERROR]" Exception', logEventMessages=[
        "[INFO] fine", "[ERROR] Unhandled exception: InvalidQueryException", "[ERROR] Terminating"])["matches"]
    assert terms == [{"eventNumber": 1, "eventMessage": "[ERROR] Unhandled exception: InvalidQueryException",
                      "extractedValues": {}}]
    js = logs.test_metric_filter(filterPattern='{ $.latency > 100 && $.op = "get" }', logEventMessages=[
        json.dumps({"latency": 150, "op": "get"}), json.dumps({"latency": 50, "op": "get"}), "not json"])["matches"]
    assert [(m["eventNumber"], m["extractedValues"]) for m in js] == [(0, {"$.latency": "150", "$.op": "get"})]
    assert aws_error(logs.test_metric_filter, filterPattern="{ $.a = ", logEventMessages=["x"])["code"] == \
        "InvalidParameterException"


# ---- data points ----

def test_put_log_events_produce_data_points(logs, cw):
    group = group_with_stream(logs)
    namespace = unique("NS")
    logs.put_metric_filter(logGroupName=group, filterName="lat", filterPattern="{ $.latency >= 0 }",
                           metricTransformations=[{"metricName": "Latency", "metricNamespace": namespace,
                                                   "metricValue": "$.latency", "unit": "Milliseconds",
                                                   "dimensions": {"Op": "$.op"}}])
    logs.put_metric_filter(logGroupName=group, filterName="errors", filterPattern="ERROR",
                           metricTransformations=[{"metricName": "Errors", "metricNamespace": namespace,
                                                   "metricValue": "1", "defaultValue": 0.0}])
    logs.put_metric_filter(logGroupName=group, filterName="bytes", filterPattern="[ip, user, ..., status=4*, size]",
                           metricTransformations=[{"metricName": "Bytes", "metricNamespace": namespace,
                                                   "metricValue": "$size", "dimensions": {"Status": "$status"}}])
    put_events(logs, group,
               json.dumps({"latency": 10, "op": "get"}), json.dumps({"latency": 30, "op": "get"}),
               json.dumps({"latency": 5, "op": "put"}), json.dumps({"latency": "slow", "op": "get"}),
               "ERROR one", "ERROR two", "10.0.0.1 bob GET /a 404 100", "10.0.0.1 bob GET /b 404 300",
               "10.0.0.2 amy GET /c 200 999")
    [get] = statistics(cw, namespace, "Latency", [{"Name": "Op", "Value": "get"}])
    assert {k: get[k] for k in ("SampleCount", "Sum", "Minimum", "Maximum", "Average", "Unit")} == {
        "SampleCount": 2.0, "Sum": 40.0, "Minimum": 10.0, "Maximum": 30.0, "Average": 20.0, "Unit": "Milliseconds"}
    [put] = statistics(cw, namespace, "Latency", [{"Name": "Op", "Value": "put"}])
    assert put["Sum"] == 5.0
    assert statistics(cw, namespace, "Latency") == []   # no point without the dimensions
    [errors] = statistics(cw, namespace, "Errors")
    assert (errors["SampleCount"], errors["Sum"], errors["Unit"]) == (9.0, 2.0, "None")   # 7 defaults of 0
    [b404] = statistics(cw, namespace, "Bytes", [{"Name": "Status", "Value": "404"}])
    assert (b404["SampleCount"], b404["Sum"]) == (2.0, 400.0)
    listed = cw.list_metrics(Namespace=namespace)["Metrics"]
    assert sorted((m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in listed) == [
        ("Bytes", (("Status", "404"),)), ("Errors", ()), ("Latency", (("Op", "get"),)),
        ("Latency", (("Op", "put"),))]

    logs.delete_metric_filter(logGroupName=group, filterName="errors")
    put_events(logs, group, "ERROR three")
    [after] = statistics(cw, namespace, "Errors")
    assert after["SampleCount"] == 9.0   # a deleted filter counts nothing more


def test_function_output_produces_data_points(server, logs, cw, functions):
    lam = server.client("lambda")
    namespace = unique("NS")
    code = 'import json\ndef handler(event, context):\n    print(json.dumps(event))\n    return "ok"\n'
    fn = create(lam, files={"app.py": code})
    functions.append(fn)
    group = f"/aws/lambda/{fn}"
    logs.create_log_group(logGroupName=group)
    logs.put_metric_filter(logGroupName=group, filterName="orders", filterPattern='{ $.event = "order" }',
                           metricTransformations=[{"metricName": "OrderTotal", "metricNamespace": namespace,
                                                   "metricValue": "$.total", "dimensions": {"Shop": "$.shop"}}])
    for total in (5, 7):
        call(lam, fn, {"event": "order", "total": total, "shop": "north"})
    call(lam, fn, {"event": "refund", "total": 99, "shop": "north"})
    north = [{"Name": "Shop", "Value": "north"}]
    deadline = time.monotonic() + 15
    while True:   # the function's output reaches its log group shortly after the invocation
        points = statistics(cw, namespace, "OrderTotal", north)
        if points and points[0]["SampleCount"] >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [(p["SampleCount"], p["Sum"]) for p in points] == [(2.0, 12.0)]
    logs.delete_log_group(logGroupName=group)
