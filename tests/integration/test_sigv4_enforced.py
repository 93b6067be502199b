"""CLOUDLET_ENFORCE_SIGV4=1: signatures are checked against configured credentials."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server

KEY, SECRET = "AKIACLOUDLETTEST0001", "s3cr3t/Key+Value"


@pytest.fixture(scope="module")
def enforced():
    srv = Server(env={"CLOUDLET_ENFORCE_SIGV4": "1",
                      "CLOUDLET_CREDENTIALS": f"{KEY}:{SECRET}:123456789012,test:test"}).start()
    yield srv
    srv.stop()


def _clock(when):
    """Make botocore sign as if the time were `when`."""
    from unittest import mock

    return mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None))


def _code(err: pytest.ExceptionInfo) -> tuple[str, int]:
    r = err.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def test_good_signatures_pass_for_every_protocol(enforced):
    assert enforced.client("sts", key=KEY, secret=SECRET).get_caller_identity()["Account"] == "123456789012"
    assert enforced.client("sts").get_caller_identity()["Account"] == "000000000000"
    assert enforced.client("dynamodb", key=KEY, secret=SECRET).list_tables()["TableNames"] == []
    assert enforced.client("lambda", key=KEY, secret=SECRET).list_functions()["Functions"] == []
    s3 = enforced.client("s3", key=KEY, secret=SECRET)
    s3.create_bucket(Bucket="signed-bucket")
    assert "signed-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.delete_bucket(Bucket="signed-bucket")


def test_cli_with_good_credentials(enforced):
    out = enforced.cli("sts", "get-caller-identity", key=KEY, secret=SECRET)
    assert "123456789012" in out.stdout


@pytest.mark.parametrize("service,call,code,status", [
    ("sts", lambda c: c.get_caller_identity(), "SignatureDoesNotMatch", 403),
    ("dynamodb", lambda c: c.list_tables(), "InvalidSignatureException", 400),
    ("lambda", lambda c: c.list_functions(), "InvalidSignatureException", 403),
    ("s3", lambda c: c.list_buckets(), "SignatureDoesNotMatch", 403),
])
def test_wrong_secret(enforced, service, call, code, status):
    with pytest.raises(ClientError) as err:
        call(enforced.client(service, key=KEY, secret="wrong"))
    assert _code(err) == (code, status)


@pytest.mark.parametrize("protocol,code,status", [
    ("query", "SignatureDoesNotMatch", 403),
    ("json", "InvalidSignatureException", 400),
    ("smithy-rpc-v2-cbor", "InvalidSignatureException", 400),
])
def test_wrong_secret_answered_in_the_protocol_spoken(enforced, protocol, code, status):
    """cloudwatch speaks three protocols; a query client gets query's error, not the model's first."""
    with pytest.raises(ClientError) as err:
        enforced.client("cloudwatch", key=KEY, secret="wrong", protocol=protocol).list_metrics()
    assert _code(err) == (code, status)


@pytest.mark.parametrize("service,call,code", [
    ("sts", lambda c: c.get_caller_identity(), "InvalidClientTokenId"),
    ("dynamodb", lambda c: c.list_tables(), "UnrecognizedClientException"),
    ("s3", lambda c: c.list_buckets(), "InvalidAccessKeyId"),
])
def test_unknown_access_key(enforced, service, call, code):
    with pytest.raises(ClientError) as err:
        call(enforced.client(service, key="AKIANOBODYKNOWSME000", secret="x"))
    assert _code(err)[0] == code


def test_presigned_url(enforced):
    s3 = enforced.client("s3", key=KEY, secret=SECRET, signature_version="s3v4")
    url = s3.generate_presigned_url("list_buckets", ExpiresIn=300)
    with urllib.request.urlopen(url) as r:
        assert r.status == 200 and b"ListAllMyBucketsResult" in r.read()
    tampered = url.replace("X-Amz-Expires=300", "X-Amz-Expires=301")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(tampered)
    assert err.value.code == 403 and b"SignatureDoesNotMatch" in err.value.read()


def test_expired_presigned_url(enforced):
    import datetime

    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest("GET", enforced.url + "/")
    signer = S3SigV4QueryAuth(Credentials(KEY, SECRET), "s3", "us-east-1", expires=1)
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    with _clock(old):
        signer.add_auth(req)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req.prepare().url)
    body = err.value.read()
    assert err.value.code == 403 and b"<Code>AccessDenied</Code>" in body and b"Request has expired" in body


def test_unsigned_request_is_refused(enforced):
    req = urllib.request.Request(enforced.url + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code in (400, 403)
    assert b"MissingAuthenticationToken" in err.value.read()


def test_skewed_clock(enforced):
    import datetime

    client = enforced.client("sts", key=KEY, secret=SECRET)
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=20)
    with _clock(old), pytest.raises(ClientError) as err:
        client.get_caller_identity()
    code, status = _code(err)
    assert code == "SignatureDoesNotMatch" and status == 403
    assert "Signature expired" in err.value.response["Error"]["Message"]



def test_function_url_with_aws_iam_auth_checks_the_signature(enforced):
    import io
    import zipfile

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return {'ok': True}\n")
    lam = enforced.client("lambda", key=KEY, secret=SECRET)
    lam.create_function(FunctionName="iam-url", Runtime="python3.11", Handler="app.handler",
                        Role="arn:aws:iam::123456789012:role/r", Code={"ZipFile": buf.getvalue()})
    lam.get_waiter("function_active_v2").wait(FunctionName="iam-url", WaiterConfig={"Delay": 1})
    host = lam.create_function_url_config(FunctionName="iam-url", AuthType="AWS_IAM")["FunctionUrl"].split("//")[1]
    host = host.rstrip("/")

    def status(secret):
        req = AWSRequest(method="GET", url=f"http://{host}/", headers={"Host": host})
        SigV4Auth(Credentials(KEY, secret), "lambda", "us-east-1").add_auth(req)
        http = urllib.request.Request(enforced.url + "/", headers=dict(req.headers.items()))
        try:
            with urllib.request.urlopen(http, timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert status("not-the-secret") == 403
    assert status(SECRET) == 200


def test_virtual_hosted_s3_request_is_verified_against_the_path_as_sent(enforced):
    """`bucket.s3.localhost` signs "/" as its path; the bucket moves into the path for routing only
    after the signature was checked."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    enforced.client("s3", key=KEY, secret=SECRET).create_bucket(Bucket="virtual-hosted")
    try:
        def status(secret):
            host = f"virtual-hosted.s3.localhost:{enforced.port}"
            req = AWSRequest(method="HEAD", url=f"http://{host}/", headers={"Host": host})
            S3SigV4Auth(Credentials(KEY, secret), "s3", "us-east-1").add_auth(req)
            http = urllib.request.Request(enforced.url + "/", method="HEAD", headers=dict(req.headers.items()))
            try:
                with urllib.request.urlopen(http, timeout=30) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code

        assert status(SECRET) == 200
        assert status("wrong") == 403
    finally:
        enforced.client("s3", key=KEY, secret=SECRET).delete_bucket(Bucket="virtual-hosted")


@pytest.mark.parametrize("size", [100_000, 3 * 1024 * 1024])  # in memory, and spooled while it streams
def test_signed_aws_chunked_upload_checks_every_chunk(enforced, size):
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD: the header is signed by botocore, each chunk's signature
    chains from it (the documented algorithm). A body that passes every check is stored (its ETag the
    MD5 of the decoded payload); a tampered chunk gets S3's 403 SignatureDoesNotMatch."""
    import hashlib
    import hmac
    import http.client

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    class StreamingAuth(S3SigV4Auth):
        def payload(self, request):
            return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

    payload = bytes(range(256)) * (size // 256)
    chunk_size = 64 * 1024
    chunks = [payload[i:i + chunk_size] for i in range(0, len(payload), chunk_size)] + [b""]
    framing = sum(len(f"{len(c):x};chunk-signature=") + 64 + 2 + (len(c) + 2 if c else 0) for c in chunks) + 2
    host = f"127.0.0.1:{enforced.port}"
    req = AWSRequest(method="PUT", url=f"http://{host}/signed-chunks/key", headers={
        "Host": host, "Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(payload)),
        "Content-Length": str(framing)})
    StreamingAuth(Credentials(KEY, SECRET), "s3", "us-east-1").add_auth(req)
    headers = dict(req.headers.items())
    amz_date = headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    key = b"AWS4" + SECRET.encode()
    for part in (amz_date[:8], "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    empty = hashlib.sha256(b"").hexdigest()

    def body(tamper_at: int | None = None) -> bytes:
        prev = headers["Authorization"].rsplit("Signature=", 1)[1]
        out = bytearray()
        for i, chunk in enumerate(chunks):
            sts = (f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{prev}\n{empty}\n"
                   f"{hashlib.sha256(chunk).hexdigest()}")
            prev = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
            sent = chunk if i != tamper_at else bytes([chunk[0] ^ 1]) + chunk[1:]
            out += f"{len(chunk):x};chunk-signature={prev}\r\n".encode() + (sent + b"\r\n" if chunk else b"")
        return bytes(out + b"\r\n")

    def put(data: bytes) -> tuple[int, bytes]:
        assert len(data) == framing
        conn = http.client.HTTPConnection(host, timeout=60)
        try:
            conn.request("PUT", "/signed-chunks/key", body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    s3 = enforced.client("s3", key=KEY, secret=SECRET)
    s3.create_bucket(Bucket="signed-chunks")
    try:
        status, text = put(body())
        assert status == 200, text.decode()
        assert s3.head_object(Bucket="signed-chunks", Key="key")["ETag"] == f'"{hashlib.md5(payload).hexdigest()}"'
        status, text = put(body(tamper_at=len(chunks) - 2))  # the last data chunk
        assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in text, text
    finally:
        s3.delete_object(Bucket="signed-chunks", Key="key")
        s3.delete_bucket(Bucket="signed-chunks")
