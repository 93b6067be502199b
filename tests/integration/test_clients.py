"""Unmodified real clients (AWS CLI, boto3) against a running cloudlet, one per protocol."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.conftest import OPERATOR_TOKEN


def test_cli_get_caller_identity_query_protocol(server):
    out = server.cli("sts", "get-caller-identity")
    identity = json.loads(out.stdout)
    assert identity["Account"] == "000000000000"
    assert identity["Arn"] == "arn:aws:iam::000000000000:root"


def test_other_access_keys_get_their_own_stable_account(server):
    a = server.client("sts", key="AKIAEXAMPLEONE").get_caller_identity()["Account"]
    b = server.client("sts", key="AKIAEXAMPLETWO").get_caller_identity()["Account"]
    again = server.client("sts", key="AKIAEXAMPLEONE").get_caller_identity()["Account"]
    assert a == again
    assert a != b
    assert a != "000000000000" and len(a) == 12 and a.isdigit()


def test_s3_buckets_rest_xml(server):
    s3 = server.client("s3")
    name = f"bucket-{uuid.uuid4().hex[:12]}"
    resp = s3.create_bucket(Bucket=name)
    assert resp["Location"] == f"/{name}"
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name in names
    s3.head_bucket(Bucket=name)
    s3.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as err:
        s3.delete_bucket(Bucket=name)
    assert err.value.response["Error"]["Code"] == "NoSuchBucket"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_s3_bucket_namespace_is_shared_across_accounts(server):
    name = f"shared-{uuid.uuid4().hex[:12]}"
    mine = server.client("s3")
    theirs = server.client("s3", key="AKIAOTHERACCOUNT")
    mine.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as err:
        theirs.create_bucket(Bucket=name)
    assert err.value.response["Error"]["Code"] == "BucketAlreadyExists"
    assert name not in [b["Name"] for b in theirs.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as err:
        theirs.delete_bucket(Bucket=name)
    assert err.value.response["Error"]["Code"] == "NoSuchBucket"
    mine.delete_bucket(Bucket=name)


def test_s3_regional_bucket_and_location_constraint(server):
    s3 = server.client("s3", region="eu-west-1")
    name = f"regional-{uuid.uuid4().hex[:12]}"
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket=name)
    assert err.value.response["Error"]["Code"] == "IllegalLocationConstraintException"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    listed = {b["Name"]: b for b in s3.list_buckets()["Buckets"]}
    assert listed[name]["BucketRegion"] == "eu-west-1"
    s3.delete_bucket(Bucket=name)


def test_s3_list_buckets_pages(server):
    s3 = server.client("s3", key=f"AKIAPAGES{uuid.uuid4().hex[:11].upper()}")   # an account of its own
    names = [f"page-{n}-{uuid.uuid4().hex[:8]}" for n in range(3)]
    for name in names:
        s3.create_bucket(Bucket=name)
    first = s3.list_buckets(MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == names[:2]
    second = s3.list_buckets(MaxBuckets=2, ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in second["Buckets"]] == names[2:] and "ContinuationToken" not in second
    with pytest.raises(ClientError) as err:
        s3.list_buckets(ContinuationToken="%%%not-a-token")
    assert err.value.response["Error"]["Code"] == "InvalidArgument"
    assert err.value.response["Error"]["Message"] == "The continuation token provided is incorrect"
    for name in names:
        s3.delete_bucket(Bucket=name)


def test_s3_invalid_bucket_name(server):
    with pytest.raises(ClientError) as err:
        server.client("s3").create_bucket(Bucket="Not_Valid..name")
    assert err.value.response["Error"]["Code"] == "InvalidBucketName"


def test_cli_s3_mb_ls_rb(server):
    name = f"cli-{uuid.uuid4().hex[:12]}"
    server.cli("s3", "mb", f"s3://{name}")
    assert name in server.cli("s3", "ls").stdout
    server.cli("s3", "rb", f"s3://{name}")
    assert name not in server.cli("s3", "ls").stdout


def test_lambda_list_functions_rest_json(server):
    # A fresh account of its own: other tests create functions in the default account.
    resp = server.client("lambda", key=f"AKIALIST{uuid.uuid4().hex[:12].upper()}").list_functions()
    assert resp["Functions"] == []
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_dynamodb_list_tables_json(server):
    resp = server.client("dynamodb").list_tables()
    assert resp["TableNames"] == []


def test_health_and_reset(server):
    with urllib.request.urlopen(server.url + "/_cloudlet/health") as r:
        health = json.load(r)
    assert health["version"]
    assert {"sts", "s3", "lambda", "dynamodb"} <= set(health["services"])
    assert all(s["state"] == "running" for s in health["services"].values())
    s3 = server.client("s3")
    name = f"reset-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    # Without the operator token (a function could send this request): refused, nothing wiped.
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {OPERATOR_TOKEN}"}):
        req = urllib.request.Request(server.url + "/_cloudlet/reset", method="POST", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(req)
        assert denied.value.code == 403 and json.load(denied.value)["error"] == "AccessDenied"
        denied.value.close()
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    req = urllib.request.Request(server.url + "/_cloudlet/reset", method="POST",
                                 headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    with urllib.request.urlopen(req) as r:
        assert json.load(r) == {"reset": True}
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_cloudlet_status_command(server):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "cloudlet", "status", "--endpoint", server.url],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "sts" in out.stdout and "running" in out.stdout


def _raw(server, path, *, method="GET", headers=None, body=None):
    req = urllib.request.Request(server.url + path, method=method, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_localstack_host_names_are_accepted(server):
    s3 = server.client("s3")
    name = f"vhost-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    # Virtual-hosted style on LocalStack's domain and on *.localhost reach the same bucket.
    for host in (f"{name}.s3.localhost.localstack.cloud:{server.port}", f"{name}.s3.localhost:{server.port}"):
        status, headers, _ = _raw(server, "/", method="HEAD", headers={"Host": host})
        assert status == 200, host
    status, _, body = _raw(server, "/", headers={"Host": f"localhost.localstack.cloud:{server.port}"})
    assert status == 200 and name.encode() in body
    s3.delete_bucket(Bucket=name)


def test_aws_chunked_request_body_is_decoded(server):
    """SDK streaming uploads wrap the payload in aws-chunked framing with a checksum trailer."""
    import base64
    import zlib

    name = f"chunked-{uuid.uuid4().hex[:12]}"
    xml = (b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
           b"<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>")
    crc = base64.b64encode(zlib.crc32(xml).to_bytes(4, "big")).decode()
    body = (b"%x\r\n" % 20 + xml[:20] + b"\r\n" + b"%x\r\n" % (len(xml) - 20) + xml[20:] + b"\r\n"
            + b"0\r\nx-amz-checksum-crc32:" + crc.encode() + b"\r\n\r\n")
    headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/eu-west-1/s3/aws4_request, "
                                "SignedHeaders=host, Signature=" + "0" * 64,
               "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(len(xml)), "x-amz-trailer": "x-amz-checksum-crc32"}
    status, _, resp = _raw(server, f"/{name}", method="PUT", headers=headers, body=body)
    assert status == 200, resp
    listed = {b["Name"]: b for b in server.client("s3").list_buckets()["Buckets"]}
    assert listed[name]["BucketRegion"] == "eu-west-1"
    server.client("s3", region="eu-west-1").delete_bucket(Bucket=name)
    status, _, resp = _raw(server, f"/{name}", method="PUT", headers=headers, body=body[:-12])
    assert status == 400 and b"<Code>IncompleteBody</Code>" in resp
