"""S3 objects through the tools people use: boto3's managed transfers, the AWS CLI, plain HTTP,
Lambda code from S3; and an acknowledged PUT surviving kill -9."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import urllib.request
import uuid
import zipfile

import pytest
from boto3.s3.transfer import TransferConfig

from tests.conftest import Server
from tests.support.s3 import fresh_bucket
from tests.support.streams import NonSeekableStream

NO_MULTIPART = TransferConfig(multipart_threshold=1 << 40)   # the single-request paths (multipart: test_s3_multipart.py)


@pytest.fixture(scope="module")
def s3(server):
    return server.client("s3")


@pytest.fixture
def bucket(s3):
    yield from fresh_bucket(s3, "tools")


def test_managed_upload_and_download_file(s3, bucket, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    s3.upload_file(str(src), bucket, "files/src.bin", Config=NO_MULTIPART)
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "files/src.bin", str(dst), Config=NO_MULTIPART)
    assert dst.read_bytes() == src.read_bytes()
    # download_file of a bigger object uses ranged GETs on several threads
    s3.download_file(bucket, "files/src.bin", str(dst), Config=TransferConfig(
        multipart_threshold=1 << 40, multipart_chunksize=1024 * 1024, max_concurrency=4))
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()



def test_upload_fileobj_of_a_non_seekable_stream(s3, bucket):
    data = os.urandom(200_000)
    stream = NonSeekableStream(data)
    assert not stream.seekable()
    s3.upload_fileobj(stream, bucket, "streamed", Config=TransferConfig(multipart_threshold=8 * 1024 * 1024))
    out = io.BytesIO()
    s3.download_fileobj(bucket, "streamed", out)
    assert out.getvalue() == data


def test_aws_cli_cp_ls_rm_and_head_object(server, bucket, tmp_path):
    src = tmp_path / "up.txt"
    src.write_bytes(b"from the cli\n" * 1000)
    server.cli("s3", "cp", str(src), f"s3://{bucket}/cli/up.txt")
    server.cli("s3", "cp", str(src), f"s3://{bucket}/cli/deeper/two.txt")
    listing = server.cli("s3", "ls", f"s3://{bucket}/cli/").stdout
    assert "PRE deeper/" in listing and "up.txt" in listing and "13000" in listing
    recursive = server.cli("s3", "ls", "--recursive", f"s3://{bucket}").stdout
    assert "cli/deeper/two.txt" in recursive
    down = tmp_path / "down.txt"
    server.cli("s3", "cp", f"s3://{bucket}/cli/up.txt", str(down))
    assert down.read_bytes() == src.read_bytes()
    head = json.loads(server.cli("s3api", "head-object", "--bucket", bucket, "--key", "cli/up.txt").stdout)
    assert head["ContentLength"] == 13000 and head["ETag"] == f'"{hashlib.md5(src.read_bytes()).hexdigest()}"'
    removed = server.cli("s3", "rm", "--recursive", f"s3://{bucket}/cli/").stdout
    assert removed.count("delete:") == 2
    assert server.cli("s3", "ls", f"s3://{bucket}/cli/", check=False).stdout == ""


def test_plain_http_range_request(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="plain", Body=b"0123456789" * 10)
    req = urllib.request.Request(f"{server.url}/{bucket}/plain", headers={
        "Range": "bytes=5-14", "Authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/"
        "aws4_request, SignedHeaders=host, Signature=" + "0" * 64, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 206
        assert r.headers["Content-Range"] == "bytes 5-14/100"
        assert r.headers["Content-Length"] == "10"
        assert r.read() == b"5678901234"


def test_lambda_function_from_s3_runs(server, s3, bucket):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return {'from': 's3', 'got': event}\n")
    s3.put_object(Bucket=bucket, Key="code/fn.zip", Body=buf.getvalue())
    lam = server.client("lambda")
    name = f"from-s3-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=name, Runtime="python3.12", Role="arn:aws:iam::000000000000:role/r",
                        Handler="app.handler", Code={"S3Bucket": bucket, "S3Key": "code/fn.zip"})
    try:
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        out = lam.invoke(FunctionName=name, Payload=b'{"n": 1}')
        assert json.loads(out["Payload"].read()) == {"from": "s3", "got": {"n": 1}}
        config = lam.get_function_configuration(FunctionName=name)
        assert config["CodeSize"] == len(buf.getvalue())
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as err:
            lam.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key="code/missing.zip")
        assert err.value.response["Error"]["Message"] == (
            "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not "
            "exist.")
    finally:
        lam.delete_function(FunctionName=name)


def test_acknowledged_put_survives_kill_9(tmp_path):
    srv = Server(data_dir=tmp_path).start()
    s3 = srv.client("s3")
    s3.create_bucket(Bucket="durable-objects")
    small, large = b"small object", os.urandom(5 * 1024 * 1024)
    s3.put_object(Bucket="durable-objects", Key="small", Body=small)
    s3.put_object(Bucket="durable-objects", Key="large", Body=large)
    srv.stop(signal.SIGKILL)
    again = Server(data_dir=tmp_path).start()
    try:
        s3 = again.client("s3")
        assert s3.get_object(Bucket="durable-objects", Key="small")["Body"].read() == small
        assert s3.get_object(Bucket="durable-objects", Key="large")["Body"].read() == large
    finally:
        again.stop()


def test_interrupted_upload_leaves_nothing(server, s3, bucket):
    import socket
    import time

    head = (f"PUT /{bucket}/broken HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Authorization: AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, "
            f"SignedHeaders=host, Signature={'0' * 64}\r\nX-Amz-Content-SHA256: UNSIGNED-PAYLOAD\r\n"
            f"Content-Length: {64 * 1024 * 1024}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head)
        sock.sendall(b"x" * (8 * 1024 * 1024))   # then the client goes away mid-body
    time.sleep(0.5)
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="broken")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="broken")
