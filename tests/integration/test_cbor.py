"""smithy-rpc-v2-cbor end to end, with real botocore clients of cloudwatch.

cloudwatch's model lists smithy-rpc-v2-cbor, json and query; a client may speak any of them
(botocore 1.44.8 itself prefers json: PRIORITY_ORDERED_SUPPORTED_PROTOCOLS puts it before
CBOR; older releases spoke query). Its metric operations are served (test_cloudwatch.py runs
them in each protocol); alarms are not, so those must answer the modeled way for an
unimplemented operation (HTTP 501, `NotImplemented`, naming the operation) in whichever protocol
the client spoke.
"""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime

import cbor2
import pytest
from botocore.exceptions import ClientError

CBOR_PATH = "/service/GraniteServiceVersion20100801/operation/"
AUTH = ("AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/monitoring/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)


def _not_implemented(call, operation: str) -> dict:
    with pytest.raises(ClientError) as err:
        call()
    resp = err.value.response
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert resp["Error"]["Code"] == "NotImplemented"
    assert operation in resp["Error"]["Message"]
    return resp["ResponseMetadata"]["HTTPHeaders"]


def _client_speaking(server, protocol: str):
    return server.client("cloudwatch", protocol=protocol, parameter_validation=False)


def test_default_client_gets_not_implemented(server):
    _not_implemented(server.client("cloudwatch").describe_alarms, "DescribeAlarms")


@pytest.mark.parametrize("protocol,content_type", [
    ("smithy-rpc-v2-cbor", "application/cbor"), ("json", "application/x-amz-json-1.0"), ("query", "text/xml")])
def test_each_protocol_gets_not_implemented_in_its_format(server, protocol, content_type):
    client = _client_speaking(server, protocol)
    sent = []
    client.meta.events.register("before-send", lambda request, **_: sent.append(request.headers))
    headers = _not_implemented(client.describe_alarms, "DescribeAlarms")
    assert headers["content-type"] == content_type
    assert ("smithy-protocol" in sent[0]) == ("smithy-protocol" in headers) == (protocol == "smithy-rpc-v2-cbor")
    # Inputs with timestamps, doubles and nested lists are parsed first.
    _not_implemented(lambda: client.describe_alarm_history(
        StartDate=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), EndDate=datetime(2026, 1, 3, tzinfo=UTC)),
        "DescribeAlarmHistory")
    _not_implemented(lambda: client.put_metric_alarm(
        AlarmName="slow", EvaluationPeriods=1, ComparisonOperator="GreaterThanThreshold", Threshold=2.25,
        Metrics=[{"Id": "m1", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": "cloudlet/test", "MetricName": "latency",
                       "Dimensions": [{"Name": "fn", "Value": "hello"}]},
            "Period": 60, "Stat": "Average", "Unit": "Milliseconds"}}]), "PutMetricAlarm")


@pytest.mark.parametrize("protocol", ["smithy-rpc-v2-cbor", "json", "query"])
def test_unserved_operation_with_bad_input_is_501_in_each_protocol(server, protocol):
    """An operation no provider serves answers 501 before its input's constraints are judged."""
    _not_implemented(lambda: _client_speaking(server, protocol).describe_alarms(AlarmNamePrefix=""),
                     "DescribeAlarms")


@pytest.mark.parametrize("protocol", ["smithy-rpc-v2-cbor", "json", "query"])
def test_validation_error_in_each_protocol(protocol):
    """Constraint violations, in the shape each protocol's client parses: the request a real
    client builds goes through the gateway's parse step, and the error it raises is written and
    parsed back by the same client."""
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config

    from cloudlet.protocol import HttpRequest
    from tests.conftest import _session_speaking, parse_as_served

    client = _session_speaking("cloudwatch", protocol).client(
        "cloudwatch", endpoint_url="http://localhost:4566", region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test", config=Config(parameter_validation=False))
    answered = {}

    def answer(request, **_):
        path, _, query = request.url.partition("//")[2].partition("/")[2].partition("?")
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        req = HttpRequest(request.method, "/" + path, query, {k.lower(): (v.decode() if isinstance(v, bytes) else v)
                                                              for k, v in request.headers.items()}, body, "localhost")
        err, resp = parse_as_served("cloudwatch", req)
        assert err.code == "ValidationException"
        answered["content-type"] = resp.headers.get("Content-Type")
        return AWSResponse(request.url, resp.status, resp.headers, _Raw(resp.body))

    client.meta.events.register("before-send", answer)
    with pytest.raises(ClientError) as err:
        client.list_metrics(Namespace="")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Member must have length greater than or equal to 1" in err.value.response["Error"]["Message"]
    assert answered["content-type"] in ("application/cbor", "application/x-amz-json-1.0", "text/xml")


class _Raw:
    """The raw body botocore's AWSResponse reads."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, *_, **__):
        yield self.data


def _post(server, operation: str, body: bytes, headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(server.url + CBOR_PATH + operation, method="POST", data=body, headers={
        "Authorization": AUTH, "smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor",
        **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


@pytest.mark.parametrize("body", [
    b"\xbf\x69Namespace",                                  # truncated
    b"\xa0\x00",                                           # data after the item
    b"\xa1\x01\x02",                                       # integer map key
    b"\x81" * 1000 + b"\xa0",                              # nested too deep
    b"\xa1\x69Namespace\x42ab",                            # bytes where a string belongs
    b"\xa1\x69Namespace\x63\xff\xfe\xfd",                  # invalid UTF-8
    b"\x82\x01\x02",                                       # not a structure
])
def test_hostile_cbor_gets_a_serialization_error(server, body):
    status, headers, resp = _post(server, "ListMetrics", body)
    assert status == 400, resp
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    assert cbor2.loads(resp)["__type"] == "SerializationException"


def test_unknown_cbor_operation_is_404(server):
    status, _, resp = _post(server, "NoSuchOperation", cbor2.dumps({}))
    assert status == 404
    assert cbor2.loads(resp)["__type"] == "UnknownOperationException"
