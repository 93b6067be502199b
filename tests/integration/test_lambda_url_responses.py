"""Function URLs answer as AWS builds the response (payload format 2.0) and send the event AWS
sends: plain HTTP requests against a real server, exact statuses, headers and bodies.

AWS's behaviour, as recorded against AWS (LocalStack's parity snapshots of TestLambdaURL,
tests/aws/services/lambda_/test_lambda.snapshot.json, 2025-11) and documented in
https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html."""

from __future__ import annotations

import base64
import http.client
import json
import re
import time
import uuid

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.integration.test_lambda_invoke import create

HANDLER = r'''
import base64, json

RESULTS = {
    "/dict": {"hello": "world", "n": [1, 2]},
    "/list": ["hello", 3, True],
    "/string": "hello world",
    "/int": 3,
    "/float": 3.1,
    "/bool": True,
    "/proxy": {"statusCode": 201, "headers": {"X-Custom": "yes", "Content-Type": "text/plain"},
               "cookies": ["a=1; Path=/", "b=2; Max-Age=60"], "body": "created"},
    "/proxy-default": {"statusCode": 200, "body": "body123"},
    "/proxy-json-string": {"statusCode": 200, "body": json.dumps({"hello": "world"})},
    "/proxy-dict-body": {"statusCode": 202, "body": {"a": 1, "b": [1, 2]}},
    "/proxy-base64": {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                      "body": base64.b64encode(b"\x89PNG\x00\xff").decode(), "isBase64Encoded": True},
    "/proxy-string-status": {"statusCode": "418", "body": "i'm a teapot"},
    "/proxy-no-body": {"statusCode": 204, "headers": {"x-empty": "1"}},
    "/proxy-multi": {"statusCode": 200, "multiValueHeaders": {"x-multi": ["a", "b"]}, "body": "ok"},
}

def handler(event, context):
    path = event["rawPath"]
    if path == "/fail":
        raise RuntimeError("nope")
    if path in RESULTS:
        return RESULTS[path]
    return {"statusCode": 200, "body": json.dumps(event)}   # anything else: the event itself
'''

FORBIDDEN = (b'{"Message":"Forbidden. For troubleshooting Function URL authorization issues, see: '
             b'https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"}')


def allow_public(lam, name, qualifier=None):
    """The two statements AWS requires before a NONE-auth URL answers."""
    extra = {"Qualifier": qualifier} if qualifier else {}
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE", **extra)
    lam.add_permission(FunctionName=name, StatementId="invoke", Action="lambda:InvokeFunction", Principal="*",
                       InvokedViaFunctionUrl=True, **extra)


def host_of(url: str) -> str:
    return url.split("//")[1].split("/")[0]


def fetch(server, host, path="/", *, method="GET", body=None, headers=()):
    """One request over http.client with exactly the headers given (plus Host, Content-Length)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host)
        for name, value in headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def url_fn(server):
    lam = server.client("lambda")
    name = create(lam, files={"app.py": HANDLER})
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    allow_public(lam, name)
    return lam, name, host_of(url)


@pytest.mark.parametrize(("path", "body"), [
    ("/dict", b'{"hello":"world","n":[1,2]}'),
    ("/list", b'["hello",3,true]'),
    ("/string", b"hello world"),
    ("/int", b"3"),
    ("/float", b"3.1"),
    ("/bool", b"true"),
])
def test_a_result_without_status_code_is_a_200_json_body(server, url_fn, path, body):
    status, headers, got = fetch(server, url_fn[2], path)
    assert (status, got) == (200, body)
    assert headers.get_all("Content-Type") == ["application/json"]
    assert headers["Content-Length"] == str(len(body))


def test_a_proxy_result_sets_status_headers_cookies_and_body(server, url_fn):
    host = url_fn[2]
    status, headers, body = fetch(server, host, "/proxy")
    assert (status, body) == (201, b"created")
    assert headers["x-custom"] == "yes" and headers.get_all("Content-Type") == ["text/plain"]
    assert headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2; Max-Age=60"]

    status, headers, body = fetch(server, host, "/proxy-default")
    assert (status, body, headers.get_all("Content-Type")) == (200, b"body123", ["application/json"])
    status, _, body = fetch(server, host, "/proxy-json-string")
    assert (status, body) == (200, b'{"hello": "world"}')  # a string body is sent as it is
    status, headers, body = fetch(server, host, "/proxy-dict-body")
    assert (status, body, headers["Content-Type"]) == (202, b'{"a":1,"b":[1,2]}', "application/json")
    status, headers, body = fetch(server, host, "/proxy-base64")
    assert (status, body, headers["Content-Type"]) == (200, b"\x89PNG\x00\xff", "application/octet-stream")
    status, _, body = fetch(server, host, "/proxy-string-status")
    assert (status, body) == (418, b"i'm a teapot")
    status, headers, body = fetch(server, host, "/proxy-no-body")
    assert (status, body, headers["x-empty"]) == (204, b"", "1")
    status, headers, body = fetch(server, host, "/proxy-multi")  # format 2.0 has no multiValueHeaders
    assert (status, body, headers.get("x-multi")) == (200, b"ok", None)


def test_an_unhandled_error_is_a_502(server, url_fn):
    status, headers, body = fetch(server, url_fn[2], "/fail")
    assert (status, body) == (502, b"Internal Server Error")
    assert headers.get_all("Content-Type") == ["application/json"]
    assert headers["x-amzn-RequestId"]


def _assert_unknown(server, host):
    status, headers, body = fetch(server, host, "/dict")
    assert (status, body) == (403, b'{"Message":null}')
    assert headers.get_all("Content-Type") == ["application/json"]
    assert headers["x-amzn-ErrorType"] == "AccessDeniedException"


def test_an_unknown_or_removed_url_is_a_403_with_a_null_message(server):
    _assert_unknown(server, f"{uuid.uuid4().hex}.lambda-url.us-east-1.localhost")

    lam = server.client("lambda")
    name = create(lam, files={"app.py": HANDLER})
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    aliased = host_of(lam.create_function_url_config(FunctionName=name, Qualifier="live",
                                                     AuthType="NONE")["FunctionUrl"])
    allow_public(lam, name, "live")
    assert fetch(server, aliased, "/int")[::2] == (200, b"3")
    lam.delete_alias(FunctionName=name, Name="live")
    _assert_unknown(server, aliased)

    latest = host_of(lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"])
    allow_public(lam, name)
    assert fetch(server, latest, "/int")[::2] == (200, b"3")
    lam.delete_function_url_config(FunctionName=name)
    _assert_unknown(server, latest)


def test_a_caller_without_permission_is_a_403_forbidden(server):
    lam = server.client("lambda")
    name = create(lam, files={"app.py": HANDLER})
    host = host_of(lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"])
    status, headers, body = fetch(server, host, "/int")
    assert (status, body) == (403, FORBIDDEN)
    assert headers.get_all("Content-Type") == ["application/json"]
    assert headers["x-amzn-ErrorType"] == "AccessDeniedException"


def test_invoke_mode_is_echoed_only_when_it_was_set(server):
    lam = server.client("lambda")
    name = create(lam, files={"app.py": HANDLER})

    def listed():
        return lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]

    assert "InvokeMode" not in lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert "InvokeMode" not in lam.get_function_url_config(FunctionName=name)
    assert "InvokeMode" not in lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    assert ["InvokeMode" in c for c in listed()] == [False]

    updated = lam.update_function_url_config(FunctionName=name, InvokeMode="RESPONSE_STREAM")
    assert updated["InvokeMode"] == "RESPONSE_STREAM"
    assert lam.get_function_url_config(FunctionName=name)["InvokeMode"] == "RESPONSE_STREAM"
    assert lam.update_function_url_config(FunctionName=name)["InvokeMode"] == "RESPONSE_STREAM"  # kept
    assert [c["InvokeMode"] for c in listed()] == ["RESPONSE_STREAM"]

    lam.delete_function_url_config(FunctionName=name)
    created = lam.create_function_url_config(FunctionName=name, AuthType="NONE", InvokeMode="BUFFERED")
    assert created["InvokeMode"] == "BUFFERED"
    assert lam.get_function_url_config(FunctionName=name)["InvokeMode"] == "BUFFERED"


def test_the_event_has_the_payload_format_2_0_shape(server, url_fn):
    host = url_fn[2]
    url_id = host.split(".")[0]
    before = int(time.time() * 1000)
    status, headers, body = fetch(server, host, "/my/path?b=2&a=1&a=x%20y&empty=", method="POST", body=b'{"k": 1}',
                                  headers=[("Content-Type", "application/json"), ("User-Agent", "probe/1.0"),
                                           ("Cookie", "c1=v1; c2=v2"), ("X-Dup", "one"), ("X-Dup", "two"),
                                           ("X-Amzn-Trace-Id", "Root=1-00000000-000000000000000000000001"),
                                           ("Connection", "close")])
    assert status == 200
    event = json.loads(body)
    context = event.pop("requestContext")
    assert event == {
        "version": "2.0", "routeKey": "$default", "rawPath": "/my/path", "rawQueryString": "b=2&a=1&a=x%20y&empty=",
        "cookies": ["c1=v1", "c2=v2"],
        "headers": {"host": host, "content-type": "application/json", "user-agent": "probe/1.0",
                    "x-dup": "one,two", "content-length": "8",
                    "x-amzn-trace-id": "Root=1-00000000-000000000000000000000001",
                    "x-forwarded-for": "127.0.0.1", "x-forwarded-proto": "http", "x-forwarded-port": str(server.port)},
        "queryStringParameters": {"b": "2", "a": "1,x y", "empty": ""},
        "body": '{"k": 1}', "isBase64Encoded": False,
    }
    when, epoch = context.pop("time"), context.pop("timeEpoch")
    assert context == {
        "accountId": "anonymous", "apiId": url_id, "domainName": f"{url_id}.lambda-url.us-east-1.localhost",
        "domainPrefix": url_id,
        "http": {"method": "POST", "path": "/my/path", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                 "userAgent": "probe/1.0"},
        "requestId": headers["x-amzn-RequestId"], "routeKey": "$default", "stage": "$default",
    }
    assert before <= epoch <= int(time.time() * 1000)
    assert when == time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch / 1000))


def test_the_event_of_a_bare_or_binary_request(server, url_fn):
    host = url_fn[2]
    status, _, body = fetch(server, host, "/")
    event = json.loads(body)
    assert status == 200 and "body" not in event and event["isBase64Encoded"] is False
    assert "cookies" not in event and "queryStringParameters" not in event and event["rawQueryString"] == ""
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", event["headers"]["x-amzn-trace-id"])

    data = b"\x00\xff\x80\nbinary"
    status, _, body = fetch(server, host, "/bin", method="PUT", body=data,
                            headers=[("Content-Type", "application/octet-stream")])
    event = json.loads(body)
    assert (event["isBase64Encoded"], base64.b64decode(event["body"])) == (True, data)
    assert event["requestContext"]["http"]["method"] == "PUT"


def test_the_event_of_an_aws_iam_url_names_the_caller(server):
    lam = server.client("lambda")
    name = create(lam, files={"app.py": HANDLER})
    host = host_of(lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"])
    req = AWSRequest(method="GET", url=f"http://{host}/whoami", headers={"Host": host})
    SigV4Auth(Credentials("test", "test"), "lambda", "us-east-1").add_auth(req)
    status, _, body = fetch(server, host, "/whoami", headers=[(k, v) for k, v in req.headers.items() if k != "Host"])
    assert status == 200
    context = json.loads(body)["requestContext"]
    assert context["accountId"] == "000000000000"
    assert context["authorizer"] == {"iam": {
        "accessKey": "test", "accountId": "000000000000", "callerId": "000000000000", "cognitoIdentity": None,
        "principalOrgId": None, "userArn": "arn:aws:iam::000000000000:root", "userId": "000000000000"}}


CORS = {"AllowOrigins": ["https://app.example.com"], "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["content-type", "x-api-key"], "ExposeHeaders": ["x-custom"], "MaxAge": 600,
        "AllowCredentials": True}
PREFLIGHT = (("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "POST"),
             ("Access-Control-Request-Headers", "content-type"))


@pytest.fixture(scope="module")
def cors_fn(server):
    lam = server.client("lambda")
    name = create(lam, files={"app.py": HANDLER})
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE", Cors=CORS)["FunctionUrl"]
    allow_public(lam, name)
    return lam, name, host_of(url)


def test_a_preflight_is_answered_from_the_cors_configuration(server, cors_fn):
    status, headers, body = fetch(server, cors_fn[2], "/fail", method="OPTIONS", headers=PREFLIGHT)
    assert (status, body) == (200, b"")  # /fail would be a 502: the function did not run
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert headers["Access-Control-Allow-Headers"] == "content-type,x-api-key"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Access-Control-Max-Age"] == "600"

    other = (("Origin", "https://evil.example.com"), ("Access-Control-Request-Method", "POST"))
    status, headers, _ = fetch(server, cors_fn[2], "/", method="OPTIONS", headers=other)
    assert status == 200 and "Access-Control-Allow-Origin" not in headers


def test_an_actual_request_gets_cors_headers_beside_the_functions_own(server, cors_fn):
    origin = (("Origin", "https://app.example.com"),)
    status, headers, body = fetch(server, cors_fn[2], "/proxy", headers=origin)
    assert (status, body, headers["x-custom"]) == (201, b"created", "yes")
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Expose-Headers"] == "x-custom"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "Access-Control-Allow-Methods" not in headers  # only preflights carry those

    status, headers, _ = fetch(server, cors_fn[2], "/dict", headers=(("Origin", "https://evil.example.com"),))
    assert status == 200 and "Access-Control-Allow-Origin" not in headers
    status, headers, _ = fetch(server, cors_fn[2], "/dict")  # no Origin: not a CORS request
    assert status == 200 and "Access-Control-Allow-Origin" not in headers


def test_without_cors_an_options_request_runs_the_function(server, url_fn):
    status, headers, body = fetch(server, url_fn[2], "/", method="OPTIONS", headers=PREFLIGHT)
    assert status == 200 and json.loads(body)["requestContext"]["http"]["method"] == "OPTIONS"
    assert "Access-Control-Allow-Origin" not in headers


def test_a_wildcard_origin_and_a_function_that_sets_cors_headers_too(server):
    lam = server.client("lambda")
    handler = ('def handler(event, context):\n'
               '    return {"statusCode": 200, "headers": {"Access-Control-Allow-Origin": "https://fn.example.com"},'
               ' "body": "ok"}\n')
    name = create(lam, files={"app.py": handler})
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE",
                                         Cors={"AllowOrigins": ["*"]})["FunctionUrl"]
    assert lam.get_function_url_config(FunctionName=name)["Cors"] == {"AllowOrigins": ["*"]}
    allow_public(lam, name)
    status, headers, _ = fetch(server, host_of(url), "/", headers=(("Origin", "https://any.example.com"),))
    assert status == 200  # both lines are sent, the function's first
    assert headers.get_all("Access-Control-Allow-Origin") == ["https://fn.example.com", "*"]
    lam.delete_function(FunctionName=name)
