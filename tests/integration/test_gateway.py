"""The gateway pipeline end to end, with real clients: what providers and routes are handed.

These tests start the real server in this process (tests/support/inprocess.py) so they can
add what a subprocess cannot: a provider method that records its context and body, a route.
"""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request

import pytest

from cloudlet.gateway.routes import Route
from cloudlet.protocol import HttpResponse
from tests.support.inprocess import InProcessServer


@pytest.fixture(scope="module")
def srv():
    server = InProcessServer().start()
    yield server
    server.stop()


@pytest.fixture
def recorded(srv):
    """Give the S3 provider a PutObject (and HeadBucket) that record what they were handed."""
    seen: list[tuple] = []
    s3 = srv.platform.providers["s3"]

    def put_object(ctx, params):
        body = params.get("Body", b"")
        if isinstance(body, bytes):
            data, kind = body, "bytes"
        else:
            data, kind = body.read(), type(body).__name__
        seen.append((ctx, kind, hashlib.md5(data).hexdigest(), len(data), dict(ctx.request.headers)))
        return {"ETag": f'"{hashlib.md5(data).hexdigest()}"'}

    original = s3.__dict__.pop("_handlers", None)
    s3.put_object = put_object
    yield seen
    del s3.put_object
    s3.__dict__.pop("_handlers", None)
    if original is not None:
        s3.__dict__["_handlers"] = original


def test_large_streaming_payload_reaches_the_provider_as_a_file(srv, recorded):
    s3 = srv.client("s3")
    s3.create_bucket(Bucket="spooled")
    big = bytes(range(256)) * (12 * 1024)  # 3 MiB: over the 1 MiB spill threshold
    etag = s3.put_object(Bucket="spooled", Key="big.bin", Body=big)["ETag"]
    assert etag.strip('"') == hashlib.md5(big).hexdigest()
    ctx, kind, md5, size, _ = recorded[-1]
    assert kind == "TempBlob" and size == len(big) and md5 == hashlib.md5(big).hexdigest()
    assert ctx.authorization.action == "s3:PutObject"
    assert ctx.authorization.resources == ("arn:aws:s3:::spooled/big.bin",)
    s3.put_object(Bucket="spooled", Key="small.txt", Body=b"hello")
    assert recorded[-1][1:4] == ("bytes", hashlib.md5(b"hello").hexdigest(), 5)
    assert list((srv.platform.blobs.root / "tmp").iterdir()) == []  # spooled bodies are cleaned up


def _put(url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    import http.client
    from urllib.parse import urlsplit

    conn = http.client.HTTPConnection(urlsplit(url).netloc, timeout=60)
    try:
        conn.request("PUT", path, body=body, headers={**headers, "Content-Length": str(len(body))})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_aws_chunked_upload_is_decoded_while_it_streams(srv, recorded):
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER, framed by botocore's own encoder."""
    from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

    srv.client("s3").create_bucket(Bucket="chunked")
    big = b"0123456789abcdef" * (160 * 1024)  # 2.5 MiB
    framed = AwsChunkedWrapper(io.BytesIO(big), checksum_cls=Crc32Checksum, checksum_name="x-amz-checksum-crc32",
                               chunk_size=64 * 1024).read()
    headers = {"Authorization": ("AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, "
                                 "SignedHeaders=host, Signature=" + "0" * 64),
               "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "Content-Encoding": "aws-chunked",
               "X-Amz-Decoded-Content-Length": str(len(big)), "X-Amz-Trailer": "x-amz-checksum-crc32"}
    status, body = _put(srv.url, "/chunked/k", framed, headers)
    assert status == 200, body
    _, kind, md5, size, seen_headers = recorded[-1]
    assert (kind, size, md5) == ("TempBlob", len(big), hashlib.md5(big).hexdigest())
    assert seen_headers["x-amz-checksum-crc32"]  # the trailer, now a header
    assert "content-encoding" not in seen_headers
    # The declared decoded length is checked once the stream ends.
    status, body = _put(srv.url, "/chunked/k", framed, {**headers, "X-Amz-Decoded-Content-Length": str(len(big) + 1)})
    assert status == 400 and b"<Code>IncompleteBody</Code>" in body
    # So is the framing, however deep into the stream it breaks.
    at = framed.index(b"\r\n10000\r\n", 2 * 1024 * 1024) + 2  # a chunk header 2 MiB in
    broken = framed[:at] + b"zzzzz" + framed[at + 5:]
    status, body = _put(srv.url, "/chunked/k", broken, headers)
    assert status == 400 and b"<Code>IncompleteBody</Code>" in body
    assert list((srv.platform.blobs.root / "tmp").iterdir()) == []


def test_routes_get_identity_and_authentication_from_the_gateway(srv):
    seen = []

    async def whoami(ctx):
        seen.append(ctx)
        return HttpResponse(200, {"Content-Type": "application/json"},
                            json.dumps({"account": ctx.account, "authenticated": ctx.authenticated,
                                        "params": ctx.route_params}).encode())

    srv.gateway.routes.add(Route("test-whoami", host="{name}.whoami.*", identity=True, authenticate=True,
                                 handler=whoami))
    req = urllib.request.Request(srv.url + "/anything", headers={"Host": "Alice.whoami.localhost:4566"})
    with urllib.request.urlopen(req, timeout=10) as r:
        anonymous = json.loads(r.read())
    assert anonymous == {"account": "000000000000", "authenticated": False, "params": {"name": "alice"}}
    assert seen[-1].principal == ""
    signed = {"Host": "bob.whoami.localhost", "Authorization": (
        "AWS4-HMAC-SHA256 Credential=AKIAOTHER/20250101/eu-west-1/execute-api/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64)}
    with urllib.request.urlopen(urllib.request.Request(srv.url + "/", headers=signed), timeout=10) as r:
        caller = json.loads(r.read())
    assert caller["authenticated"] is True  # enforcement is off: a credential scope is taken at its word
    assert caller["account"] != "000000000000" and seen[-1].region == "eu-west-1"


def test_metrics_count_requests_by_operation(srv):
    sts = srv.client("sts")
    with urllib.request.urlopen(srv.url + "/_cloudlet/metrics", timeout=10) as r:
        before = json.loads(r.read())["requests"].get("sts", {}).get("GetCallerIdentity", {}).get("requests", 0)
    for _ in range(3):
        sts.get_caller_identity()
    with urllib.request.urlopen(srv.url + "/_cloudlet/metrics", timeout=10) as r:
        after = json.loads(r.read())["requests"]["sts"]["GetCallerIdentity"]
    assert after["requests"] == before + 3 and after["server_errors"] == 0 and after["seconds"] > 0


def test_oversized_bodies_get_each_operations_own_error(srv):
    lam = srv.client("lambda")
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName="nope", Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    resp = err.value.response
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert resp["Error"]["Code"] == "RequestTooLargeException"
    assert resp["Error"]["Message"] == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"


def _refused_from_headers(srv, head: str) -> bytes:
    """Send only the headers, with Expect: 100-continue; the answer must come without the body."""
    import socket

    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"Expect: 100-continue\r\nHost: 127.0.0.1\r\n\r\n")
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def test_uploads_over_the_operations_limit_are_refused_before_they_are_sent(srv):
    auth = ("Authorization: AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/{}/aws4_request, "
            "SignedHeaders=host, Signature=" + "0" * 64 + "\r\n")
    out = _refused_from_headers(srv, "PUT /any-bucket/huge.bin HTTP/1.1\r\n" + auth.format("s3") +
                                f"Content-Length: {5 * 1024 ** 3 + 1}\r\n")
    assert out.startswith(b"HTTP/1.1 400") and b"100 Continue" not in out
    assert b"<Code>EntityTooLarge</Code>" in out
    assert b"Your proposed upload exceeds the maximum allowed size" in out
    out = _refused_from_headers(srv, "POST /2015-03-31/functions HTTP/1.1\r\n" + auth.format("lambda") +
                                "Content-Type: application/json\r\nContent-Length: 70167212\r\n")
    assert out.startswith(b"HTTP/1.1 413")
    assert json.loads(out.split(b"\r\n\r\n", 1)[1]) == {
        "message": "Request must be smaller than 70167211 bytes for the CreateFunction operation"}


def test_large_bodies_are_parsed_off_the_event_loop(srv, monkeypatch):
    import threading

    from botocore.exceptions import ClientError

    from cloudlet.gateway import pipeline

    on_loop = []
    parse = pipeline.Parse.parse

    def recording(ex, op, state, served=True):
        on_loop.append(threading.current_thread() is srv._thread)
        return parse(ex, op, state, served)
    monkeypatch.setattr(pipeline.Parse, "parse", staticmethod(recording))
    ddb = srv.client("dynamodb", parameter_validation=False)
    ddb.list_tables()
    with pytest.raises(ClientError) as err:  # 2 MB of JSON: parsed on a worker thread, then refused
        ddb.list_tables(ExclusiveStartTableName="t" * (2 * 1024 * 1024))
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert on_loop == [True, False]
