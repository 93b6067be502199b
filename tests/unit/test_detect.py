"""Service detection rules (cloudlet/gateway/detect.py), one test per rule and ambiguity."""

from __future__ import annotations

import pytest

from cloudlet.gateway.detect import ServiceDetector, s3_bucket_from_host
from cloudlet.gateway.sigv4 import parse_scope
from cloudlet.protocol import HttpRequest

SERVED = ["dynamodb", "lambda", "s3", "sts", "apigateway", "apigatewayv2", "dynamodbstreams", "sqs"]


@pytest.fixture(scope="module")
def detector():
    return ServiceDetector(SERVED)


def req(method="POST", path="/", query="", headers=None, body=b"", host="localhost:4566"):
    return HttpRequest(method, path, query, {k.lower(): v for k, v in (headers or {}).items()}, body, host)


def signed(service):
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/{service}/aws4_request, "
                             "SignedHeaders=host, Signature=abc"}


def detect(detector, r):
    return detector.detect(r, parse_scope(r.headers, r.query))


def test_target_prefix_wins(detector):
    r = req(headers={**signed("dynamodb"), "X-Amz-Target": "DynamoDBStreams_20120810.ListStreams"})
    assert detect(detector, r) == "dynamodbstreams"
    assert detect(detector, req(headers={"X-Amz-Target": "DynamoDB_20120810.ListTables"})) == "dynamodb"


def test_rpc_v2_path_names_the_service():
    """Unsigned CBOR requests name the service in the path (its Smithy name, botocore's targetPrefix)."""
    detector = ServiceDetector([*SERVED, "cloudwatch"])
    cbor = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}
    assert detect(detector, req(path="/service/GraniteServiceVersion20100801/operation/ListMetrics",
                                headers=cbor)) == "cloudwatch"
    # Without the header the path is just an S3 key; an unknown name is no service.
    assert detect(detector, req(path="/service/GraniteServiceVersion20100801/operation/ListMetrics")) == "s3"
    assert detect(detector, req(path="/service/NoSuchService/operation/Op", headers=cbor)) == "s3"
    # Signed, the credential scope finds it even while it is not served.
    assert detect(ServiceDetector(SERVED), req(path="/service/GraniteServiceVersion20100801/operation/ListMetrics",
                                               headers={**cbor, **signed("monitoring")})) == "cloudwatch"


def test_credential_scope(detector):
    assert detect(detector, req(headers=signed("sts"))) == "sts"
    assert detect(detector, req("GET", "/2015-03-31/functions/", headers=signed("lambda"))) == "lambda"


def test_presigned_scope(detector):
    q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=test%2F20250101%2Fus-east-1%2Fs3%2Faws4_request"
    assert detect(detector, req("GET", "/bucket/key", query=q)) == "s3"


def test_shared_signing_name_split_by_path(detector):
    assert detect(detector, req("GET", "/v2/apis", headers=signed("apigateway"))) == "apigatewayv2"
    assert detect(detector, req("GET", "/restapis", headers=signed("apigateway"))) == "apigateway"


def test_shared_signing_name_told_apart_by_the_request():
    """Services sharing a signing name, none served: told apart by the operation the request
    names (target, action) or the route it matches; served services come first."""
    detector = ServiceDetector(["lambda", "s3"])
    assert detect(detector, req("POST", "/endpoints/ep/invocations", headers=signed("sagemaker"))) == "sagemaker-runtime"
    assert detect(detector, req(headers={**signed("sagemaker"), "X-Amz-Target": "SageMaker.ListModels"})) == "sagemaker"
    form = {**signed("elasticloadbalancing"), "Content-Type": "application/x-www-form-urlencoded"}
    assert detect(detector, req(headers=form, body=b"Action=DescribeTargetGroups&Version=2015-12-01")) == "elbv2"
    assert detect(detector, req(headers=form, body=b"Action=CreateAppCookieStickinessPolicy")) == "elb"
    # One JSON target prefix, two services: the operation decides.
    target = {**signed("timestream"), "X-Amz-Target": "Timestream_20181101.WriteRecords"}
    assert detect(detector, req(headers=target)) == "timestream-write"
    assert detect(detector, req(headers={**target, "X-Amz-Target": "Timestream_20181101.Query"})) == "timestream-query"
    # lambda's own routes stay lambda's; a route of a newer service signing as lambda is that service's.
    assert detect(detector, req("POST", "/2015-03-31/functions/f/invocations", headers=signed("lambda"))) == "lambda"
    assert detect(detector, req("PUT", "/2025-03-07/web-functions", headers=signed("lambda"))) == "lambda-web"
    # S3 Control signs as s3; its requests carry the account id (a bucket named v20180820 does not).
    control = {**signed("s3"), "x-amz-account-id": "000000000000"}
    assert detect(detector, req("GET", "/v20180820/jobs", headers=control)) == "s3control"
    assert detect(detector, req("GET", "/v20180820/key", headers=signed("s3"))) == "s3"


def test_query_compatible_service_takes_form_requests():
    """SQS moved to JSON but older SDKs send query requests: both are SQS, in their own shape."""
    from cloudlet.protocol import load_service, protocol_for

    spec = load_service("sqs")
    assert spec.protocols == ["json", "query"]
    form = req(headers={**signed("sqs"), "Content-Type": "application/x-www-form-urlencoded"},
               body=b"Action=ListQueues&Version=2012-11-05")
    assert detect(ServiceDetector(["s3"]), form) == "sqs"
    assert protocol_for(spec, form).name == "query"
    assert protocol_for(spec, req(headers={**signed("sqs"), "X-Amz-Target": "AmazonSQS.ListQueues"})).name == "json"


def test_known_unserved_and_unknown_signing_names(detector):
    assert detect(detector, req(headers=signed("ec2"))) == "ec2"
    assert detect(detector, req(headers=signed("monitoring"))) == "cloudwatch"
    assert detect(detector, req(headers=signed("mturk-requester"))) == "mturk"
    assert detect(detector, req(headers=signed("made-up"))) == "made-up"


def test_s3_virtual_host_and_localstack_domains(detector):
    for host in ("my-bucket.s3.localhost:4566", "my-bucket.s3.localhost.localstack.cloud:4566",
                 "my.dotted.bucket.s3.us-west-2.amazonaws.com", "s3.localhost.localstack.cloud"):
        assert detect(detector, req("GET", host=host)) == "s3", host
    assert s3_bucket_from_host("my-bucket.s3.localhost.localstack.cloud:4566") == "my-bucket"
    assert s3_bucket_from_host("my.dotted.bucket.s3.us-west-2.amazonaws.com") == "my.dotted.bucket"
    assert s3_bucket_from_host("s3.localhost") is None
    assert s3_bucket_from_host("localhost:4566") is None


def test_service_host(detector):
    assert detect(detector, req(host="sts.us-east-1.amazonaws.com")) == "sts"
    assert detect(detector, req(host="lambda.localhost.localstack.cloud:4566", method="GET",
                                path="/2015-03-31/functions/")) == "lambda"


def test_unsigned_query_action(detector):
    r = req(headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15")
    assert detect(detector, r) == "sts"


def test_unsigned_rest_path_prefix(detector):
    assert detect(detector, req("GET", "/2015-03-31/functions/")) == "lambda"


def test_everything_else_is_s3(detector):
    assert detect(detector, req("GET", "/some-bucket/some/key")) == "s3"
    assert detect(detector, req("PUT", "/some-bucket")) == "s3"
