"""CloudWatch metrics through boto3 (CBOR, JSON and query protocols) and the AWS CLI:
PutMetricData, then ListMetrics, GetMetricStatistics and GetMetricData read it back."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.aws import aws_error


@pytest.fixture(scope="module")
def cw(server):
    return server.client("cloudwatch")


def namespace() -> str:
    return f"Test/{uuid.uuid4().hex[:12]}"


def window(minutes: int = 5) -> dict:
    now = datetime.now(UTC)
    return {"StartTime": now - timedelta(minutes=minutes), "EndTime": now + timedelta(minutes=1)}


@pytest.mark.parametrize("protocol", [None, "json", "query"])
def test_round_trip(server, protocol):
    cw = server.client("cloudwatch", protocol=protocol)
    ns = namespace()
    now = datetime.now(UTC)
    dims = [{"Name": "Host", "Value": "a"}, {"Name": "App", "Value": "web"}]
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Latency", "Dimensions": dims, "Value": 10, "Unit": "Milliseconds", "Timestamp": now},
        {"MetricName": "Latency", "Dimensions": dims[::-1], "Values": [20, 40], "Counts": [1, 2],
         "Unit": "Milliseconds", "Timestamp": now},
        {"MetricName": "Latency", "Dimensions": dims, "StatisticValues": {
            "SampleCount": 2, "Sum": 3, "Minimum": 1, "Maximum": 2}, "Unit": "Milliseconds", "Timestamp": now},
        {"MetricName": "Requests", "Value": 1},
    ])
    listed = cw.list_metrics(Namespace=ns)["Metrics"]
    assert sorted((m["MetricName"], len(m["Dimensions"])) for m in listed) == [("Latency", 2), ("Requests", 0)]
    assert cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Host", "Value": "a"}])["Metrics"][0]["MetricName"] \
        == "Latency"
    assert cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Host", "Value": "b"}])["Metrics"] == []
    assert len(cw.list_metrics(Namespace=ns, MetricName="Requests", RecentlyActive="PT3H")["Metrics"]) == 1

    [point] = cw.get_metric_statistics(Namespace=ns, MetricName="Latency", Dimensions=dims, Period=360,
                                       Statistics=["SampleCount", "Sum", "Minimum", "Maximum", "Average"],
                                       **window())["Datapoints"]
    assert {k: point[k] for k in ("SampleCount", "Sum", "Minimum", "Maximum", "Average", "Unit")} == {
        "SampleCount": 6.0, "Sum": 113.0, "Minimum": 1.0, "Maximum": 40.0, "Average": 113 / 6,
        "Unit": "Milliseconds"}
    assert cw.get_metric_statistics(Namespace=ns, MetricName="Latency", Dimensions=dims[:1], Period=360,
                                    Statistics=["Sum"], **window())["Datapoints"] == []   # another metric
    assert cw.get_metric_statistics(Namespace=ns, MetricName="Latency", Dimensions=dims, Period=360,
                                    Statistics=["Sum"], Unit="Seconds", **window())["Datapoints"] == []

    data = cw.get_metric_data(MetricDataQueries=[
        {"Id": "lat", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "Latency", "Dimensions": dims},
                                     "Period": 60, "Stat": "Maximum"}},
        {"Id": "req", "Label": "requests", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "Requests"},
                                                          "Period": 60, "Stat": "SampleCount"}},
        {"Id": "hidden", "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": ns, "MetricName": "Requests"}, "Period": 60, "Stat": "Sum"}},
    ], **window())["MetricDataResults"]
    assert [(r["Id"], r["Label"], r["Values"], r["StatusCode"]) for r in data] == [
        ("lat", "Latency", [40.0], "Complete"), ("req", "requests", [1.0], "Complete")]
    assert data[0]["Timestamps"][0].timestamp() % 60 == 0


def test_periods_split_points(cw):
    ns = namespace()
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "M", "Value": v, "Timestamp": now - timedelta(minutes=m)} for m, v in ((0, 1), (1, 2), (3, 4))])
    points = cw.get_metric_statistics(Namespace=ns, MetricName="M", Period=60, Statistics=["Sum"],
                                      StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=1),
                                      )["Datapoints"]
    assert sorted((p["Timestamp"].timestamp(), p["Sum"]) for p in points) == [
        ((now - timedelta(minutes=m)).replace(second=0).timestamp(), v) for m, v in ((3, 4.0), (1, 2.0), (0, 1.0))]
    desc = cw.get_metric_data(MetricDataQueries=[{"Id": "m", "MetricStat": {
        "Metric": {"Namespace": ns, "MetricName": "M"}, "Period": 120, "Stat": "Sum"}}],
        StartTime=now - timedelta(minutes=4), EndTime=now + timedelta(minutes=1))["MetricDataResults"][0]
    assert sum(desc["Values"]) == 7.0 and desc["Timestamps"] == sorted(desc["Timestamps"], reverse=True)


def test_put_metric_data_validation(cw):
    ns = namespace()

    def refused(**datum) -> dict:
        return aws_error(cw.put_metric_data, Namespace=ns, MetricData=[{"MetricName": "m", **datum}])

    m = "MetricData.member.1"
    assert refused(Value=1.5, Values=[1.0]) == {
        "code": "InvalidParameterCombination", "status": 400, "type": None,
        "message": f"The parameters {m}.Value and {m}.Values are mutually exclusive and you have specified both."}
    assert refused(Value=1.5, StatisticValues={"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1})["message"] \
        == f"The parameters {m}.Value and {m}.StatisticValues are mutually exclusive and you have specified both."
    assert refused(Values=[1.0, 2.0], Counts=[1.0]) == {
        "code": "InvalidParameterValue", "status": 400, "type": None,
        "message": f"The parameters {m}.Values and {m}.Counts must be of the same size."}
    assert refused()["code"] == "MissingParameter"
    old = refused(Value=1, Timestamp=datetime.now(UTC) - timedelta(days=15))
    assert old["message"] == f"The parameter {m}.Timestamp must specify a time within the past two weeks."
    assert aws_error(cw.put_metric_data, Namespace="AWS/EC2", MetricData=[{"MetricName": "m", "Value": 1}]) == {
        "code": "InvalidParameterValue", "status": 400, "type": None,
        "message": "The value AWS/EC2 for parameter Namespace is invalid."}
    assert cw.list_metrics(Namespace=ns)["Metrics"] == []


def test_read_validation(cw):
    ns = namespace()
    base = {"Namespace": ns, "MetricName": "m"}
    assert aws_error(cw.get_metric_statistics, Period=60, **base, **window()) == {
        "code": "InvalidParameterCombination", "status": 400, "type": None,
        "message": "Must specify either Statistics or ExtendedStatistics"}
    assert aws_error(cw.get_metric_statistics, Period=60, ExtendedStatistics=["p99"], **base, **window())["code"] \
        == "InvalidParameterValue"
    now = datetime.now(UTC)
    assert aws_error(cw.get_metric_statistics, Period=60, Statistics=["Sum"], StartTime=now, EndTime=now,
                     **base)["message"] == "The parameter StartTime must be less than the parameter EndTime."
    many = aws_error(cw.get_metric_statistics, Period=60, Statistics=["Sum"], StartTime=now - timedelta(days=2),
                     EndTime=now, **base)
    assert many["code"] == "InvalidParameterCombination" and "exceeds the limit of 1440" in many["message"]
    assert aws_error(cw.get_metric_statistics, Period=90, Statistics=["Sum"], **base, **window())["code"] == \
        "InvalidParameterValue"
    stat = {"Metric": {"Namespace": ns, "MetricName": "m"}, "Period": 60, "Stat": "Sum"}
    assert aws_error(cw.get_metric_data, MetricDataQueries=[{"Id": "Bad", "MetricStat": stat}], **window()) == {
        "code": "ValidationError", "status": 400, "type": None,
        "message": "The value for parameter MetricDataQueries.member.1.Id is not matching the expected pattern "
                   "^[a-z][a-zA-Z0-9_]*$."}
    assert aws_error(cw.get_metric_data, MetricDataQueries=[{"Id": "a", "MetricStat": stat},
                                                            {"Id": "a", "MetricStat": stat}], **window())["message"] \
        == "The values for parameter id in MetricDataQueries are not unique."
    math = aws_error(cw.get_metric_data, MetricDataQueries=[{"Id": "e", "Expression": "SUM(METRICS())"}], **window())
    assert math["code"] == "ValidationError" and "not supported" in math["message"]
    assert aws_error(cw.list_metrics, NextToken="nope")["code"] == "InvalidNextToken"
    assert aws_error(cw.describe_alarms)["status"] == 501


def test_list_metrics_pages(cw):
    ns = namespace()
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": f"m{i:03}", "Value": 1} for i in range(501)])
    first = cw.list_metrics(Namespace=ns)
    assert len(first["Metrics"]) == 500
    second = cw.list_metrics(Namespace=ns, NextToken=first["NextToken"])
    assert [m["MetricName"] for m in second["Metrics"]] == ["m500"] and "NextToken" not in second


def test_aws_cli(server):
    ns = namespace()
    server.cli("cloudwatch", "put-metric-data", "--namespace", ns, "--metric-name", "Hits", "--value", "3",
               "--dimensions", "Page=home")
    out = json.loads(server.cli("cloudwatch", "list-metrics", "--namespace", ns).stdout)
    assert out["Metrics"] == [{"Namespace": ns, "MetricName": "Hits", "Dimensions": [{"Name": "Page", "Value": "home"}]}]
