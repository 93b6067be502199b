"""Response streaming through real clients: boto3's invoke_with_response_stream reading the event
stream, and plain HTTP against RESPONSE_STREAM function URLs, with chunks arriving as the
function writes them."""

from __future__ import annotations

import base64
import http.client
import json
import time

import pytest
from botocore.exceptions import ClientError

from cloudlet.compute import catalog
from tests.integration.test_lambda_invoke import _allow_public_url, create

needs_node = pytest.mark.skipif(catalog.find_node() is None, reason="node is not installed here")

PYTHON = '''
def handler(event, context):
    if event.get("fail"):
        raise ValueError("boom: " + str(event["fail"]))
    if event.get("size"):
        return "x" * event["size"]
    if event.get("http"):
        return {"statusCode": 203, "headers": {"x-from": "python"}, "body": "buffered"}
    print("python ran")
    return {"echo": event}
'''

NODE = '''
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
exports.slow = awslambda.streamifyResponse(async (event, stream) => {
  stream.setContentType("text/plain");
  stream.write("first");
  await sleep(1000);
  stream.write("second");
  stream.end();
});
exports.http = awslambda.streamifyResponse(async (event, stream) => {
  stream = awslambda.HttpResponseStream.from(stream, {
    statusCode: 201, headers: { "content-type": "text/event-stream", "x-path": event.rawPath },
    cookies: ["a=1", "b=2"] });
  stream.write("data: one\\n\\n");
  await sleep(1000);
  stream.write("data: two\\n\\n");
  stream.end();
});
exports.fails = awslambda.streamifyResponse(async (event, stream) => {
  stream.write("partial");
  await sleep(20);
  throw new RangeError("went wrong");
});
exports.failsFirst = awslambda.streamifyResponse(async () => { throw new Error("nothing written"); });
exports.outlives = awslambda.streamifyResponse(async (event, stream) => {
  stream.write("first");
  await sleep(800);
  for (let i = 0; i < 200; i++) {  // nobody reads these any more: they must not hold the function back
    if (!stream.write("x".repeat(65536))) await new Promise((r) => stream.once("drain", r));
  }
  console.log("finished after the client left");
  stream.end();
});
exports.hangs = awslambda.streamifyResponse(async (event, stream) => {
  stream.write("before the timeout");
  await sleep(60000);
});
'''


def read_stream(resp) -> tuple[list[tuple[float, dict]], float]:
    """The events of an InvokeWithResponseStream answer with their arrival times."""
    events = []
    for event in resp["EventStream"]:
        events.append((time.monotonic(), event))
    return events, time.monotonic()


def payload_of(events) -> bytes:
    return b"".join(e["PayloadChunk"]["Payload"] for _, e in events if "PayloadChunk" in e)


def test_a_function_that_does_not_stream_answers_in_payload_chunks(server):
    lam = server.client("lambda")
    name = create(lam, files={"app.py": PYTHON})
    resp = lam.invoke_with_response_stream(FunctionName=name, Payload=b'{"k": 1}', LogType="Tail")
    assert resp["StatusCode"] == 200 and resp["ExecutedVersion"] == "$LATEST"
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    assert headers["content-type"] == "application/vnd.amazon.eventstream"
    assert headers["x-amz-executed-version"] == "$LATEST"
    events, _ = read_stream(resp)
    assert json.loads(payload_of(events)) == {"echo": {"k": 1}}
    kinds = [next(iter(e)) for _, e in events]
    assert kinds[-1] == "InvokeComplete" and set(kinds[:-1]) == {"PayloadChunk"}
    complete = events[-1][1]["InvokeComplete"]
    assert "ErrorCode" not in complete
    assert "python ran" in base64.b64decode(complete["LogResult"]).decode()

    big = lam.invoke_with_response_stream(FunctionName=name, Payload=b'{"size": 700000}')
    events, _ = read_stream(big)
    assert json.loads(payload_of(events)) == "x" * 700000
    assert sum("PayloadChunk" in e for _, e in events) > 1  # larger answers come in several chunks


def test_function_errors_end_the_stream_in_invoke_complete(server):
    lam = server.client("lambda")
    name = create(lam, files={"app.py": PYTHON})
    events, _ = read_stream(lam.invoke_with_response_stream(FunctionName=name, Payload=b'{"fail": 7}'))
    assert [next(iter(e)) for _, e in events] == ["InvokeComplete"]
    complete = events[0][1]["InvokeComplete"]
    assert complete["ErrorCode"] == "ValueError"
    assert json.loads(complete["ErrorDetails"])["errorMessage"] == "boom: 7"
    assert "LogResult" not in complete


def test_bad_requests_get_the_errors_invoke_gets(server):
    lam = server.client("lambda")
    name = create(lam, files={"app.py": PYTHON})
    cases = [
        (dict(FunctionName="no-such-function-xyz", Payload=b"{}"), "ResourceNotFoundException", 404),
        (dict(FunctionName=name, Payload=b"{not json"), "InvalidRequestContentException", 400),
        (dict(FunctionName=name, Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"'), "RequestTooLargeException", 413),
        (dict(FunctionName=name, Qualifier="nope", Payload=b"{}"), "ResourceNotFoundException", 404),
        (dict(FunctionName=name, ClientContext="!!", Payload=b"{}"), "InvalidParameterValueException", 400),
    ]
    for kwargs, code, status in cases:
        with pytest.raises(ClientError) as info:
            lam.invoke_with_response_stream(**kwargs)
        err = info.value.response
        assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == (code, status), kwargs
        with pytest.raises(ClientError) as same:
            lam.invoke(**kwargs)
        assert same.value.response["Error"] == err["Error"], kwargs
    dry = lam.invoke_with_response_stream(FunctionName=name, InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204 and list(dry["EventStream"]) == []


@needs_node
def test_node_streams_chunks_as_it_writes_them(server):
    lam = server.client("lambda")
    name = create(lam, runtime="nodejs20.x", handler="index.slow", files={"index.js": NODE}, Timeout=10)
    resp = lam.invoke_with_response_stream(FunctionName=name, Payload=b"{}")
    events, ended = read_stream(resp)
    chunks = [(at, e["PayloadChunk"]["Payload"]) for at, e in events if "PayloadChunk" in e]
    assert b"".join(c for _, c in chunks) == b"firstsecond"
    first_at = next(at for at, c in chunks if c.startswith(b"first"))
    second_at = next(at for at, c in chunks if c.endswith(b"second"))
    assert second_at - first_at > 0.5, "the first chunk must arrive while the function still runs"
    assert events[-1][1] == {"InvokeComplete": {}}
    # Invoke gets the same function's whole answer at once
    out = lam.invoke(FunctionName=name, Payload=b"{}")
    assert out["Payload"].read() == b"firstsecond" and "FunctionError" not in out


@needs_node
def test_node_errors_and_timeouts_while_streaming(server):
    lam = server.client("lambda")
    name = create(lam, runtime="nodejs20.x", handler="index.fails", files={"index.js": NODE}, Timeout=2)
    events, _ = read_stream(lam.invoke_with_response_stream(FunctionName=name, Payload=b"{}", LogType="Tail"))
    assert payload_of(events) == b"partial"
    complete = events[-1][1]["InvokeComplete"]
    assert complete["ErrorCode"] == "RangeError"
    assert json.loads(complete["ErrorDetails"])["errorMessage"] == "went wrong"
    assert "Invoke Error" in base64.b64decode(complete["LogResult"]).decode()

    lam.update_function_configuration(FunctionName=name, Handler="index.hangs")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    events, _ = read_stream(lam.invoke_with_response_stream(FunctionName=name, Payload=b"{}"))
    assert payload_of(events) == b"before the timeout"
    complete = events[-1][1]["InvokeComplete"]
    assert complete["ErrorCode"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in complete["ErrorDetails"]


@needs_node
def test_a_client_that_leaves_does_not_stop_the_function(server):
    """As on AWS, a broken client connection neither stops the function nor keeps its output."""
    lam = server.client("lambda")
    name = create(lam, runtime="nodejs20.x", handler="index.outlives", files={"index.js": NODE}, Timeout=10)
    resp = lam.invoke_with_response_stream(FunctionName=name, Payload=b"{}")
    first = next(iter(resp["EventStream"]))
    assert first == {"PayloadChunk": {"Payload": b"first"}}
    resp["EventStream"].close()  # hang up mid-stream
    logs = server.client("logs")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        except ClientError:
            events = []
        if any("finished after the client left" in e["message"] for e in events) and any(
                e["message"].startswith("REPORT") for e in events):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the function did not run to its end after the client left")
    again = lam.invoke_with_response_stream(FunctionName=name, Payload=b"{}")
    assert len(payload_of(read_stream(again)[0])) == 5 + 200 * 65536


# ---- function URLs ------------------------------------------------------------------------------

def url_host(lam, name, mode="RESPONSE_STREAM") -> str:
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE", InvokeMode=mode)["FunctionUrl"]
    _allow_public_url(lam, name)
    return url.split("//")[1].split("/")[0]


def fetch_incrementally(server, host, path="/"):
    """GET over http.client, reading the body piece by piece as it arrives."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        pieces = []
        while data := resp.read1(65536):
            pieces.append((time.monotonic(), data))
        return resp, pieces
    finally:
        conn.close()


@needs_node
def test_response_stream_url_streams_with_the_prelude(server):
    lam = server.client("lambda")
    name = create(lam, runtime="nodejs20.x", handler="index.http", files={"index.js": NODE}, Timeout=10)
    resp, pieces = fetch_incrementally(server, url_host(lam, name), "/events")
    assert resp.status == 201
    assert resp.getheader("content-type") == "text/event-stream" and resp.getheader("x-path") == "/events"
    assert resp.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert resp.getheader("transfer-encoding") == "chunked"
    body = b"".join(p for _, p in pieces)
    assert body == b"data: one\n\ndata: two\n\n"
    one_at = next(at for at, p in pieces if b"one" in p)
    two_at = next(at for at, p in pieces if b"two" in p)
    assert two_at - one_at > 0.5, "the first event must reach the client while the function still runs"


@needs_node
def test_response_stream_url_without_prelude_and_failures(server):
    lam = server.client("lambda")
    name = create(lam, runtime="nodejs20.x", handler="index.slow", files={"index.js": NODE}, Timeout=10)
    host = url_host(lam, name)
    resp, pieces = fetch_incrementally(server, host)
    assert resp.status == 200 and resp.getheader("content-type") == "text/plain"
    assert b"".join(p for _, p in pieces) == b"firstsecond" and len(pieces) >= 2

    lam.update_function_configuration(FunctionName=name, Handler="index.failsFirst")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    resp, pieces = fetch_incrementally(server, host)
    assert resp.status == 502 and b"".join(p for _, p in pieces) == b"Internal Server Error"


def test_response_stream_url_of_a_function_that_does_not_stream(server):
    lam = server.client("lambda")
    name = create(lam, files={"app.py": PYTHON})
    host = url_host(lam, name)
    resp, pieces = fetch_incrementally(server, host, "/some/path")
    assert resp.status == 200 and resp.getheader("content-type") == "application/json"
    assert json.loads(b"".join(p for _, p in pieces))["echo"]["rawPath"] == "/some/path"
    buffered = create(lam, files={"app.py": PYTHON.replace('if event.get("http")', 'if True')})
    resp, pieces = fetch_incrementally(server, url_host(lam, buffered))
    assert resp.status == 203 and resp.getheader("x-from") == "python"
    assert b"".join(p for _, p in pieces) == b"buffered"
