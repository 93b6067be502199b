"""S3 objects with boto3: put, get, head, copy, delete, with their headers, conditions, ranges,
checksums and AWS's errors."""

from __future__ import annotations

import base64
import hashlib
import uuid
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tests.support.s3 import fresh_bucket


@pytest.fixture(scope="module")
def s3(server):
    return server.client("s3")


@pytest.fixture
def bucket(s3):
    yield from fresh_bucket(s3, "obj")


def error(exc: pytest.ExceptionInfo) -> tuple[int, str, str]:
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"].get("Message", "")


def md5(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def test_put_then_get_returns_bytes_and_every_stored_header(s3, bucket):
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    put = s3.put_object(Bucket=bucket, Key="dir/hello.txt", Body=b"hello world", ContentType="text/plain",
                        Metadata={"Colour": "blue", "n": "1"}, CacheControl="max-age=60",
                        ContentDisposition='attachment; filename="h.txt"', ContentEncoding="identity",
                        ContentLanguage="en", Expires=expires, Tagging="a=1&b=two")
    assert put["ETag"] == md5(b"hello world")
    assert put["ChecksumCRC32"] == base64.b64encode(zlib.crc32(b"hello world").to_bytes(4, "big")).decode()
    got = s3.get_object(Bucket=bucket, Key="dir/hello.txt")
    assert got["Body"].read() == b"hello world"
    assert got["ETag"] == put["ETag"]
    assert got["ContentLength"] == 11
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"colour": "blue", "n": "1"}
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == 'attachment; filename="h.txt"'
    assert got["ContentEncoding"] == "identity"
    assert got["ContentLanguage"] == "en"
    assert got["Expires"] == expires
    assert got["TagCount"] == 2
    assert got["AcceptRanges"] == "bytes"
    assert abs((got["LastModified"] - datetime.now(UTC)).total_seconds()) < 60
    head = s3.head_object(Bucket=bucket, Key="dir/hello.txt")
    assert head["ContentLength"] == 11 and head["ETag"] == put["ETag"] and head["Metadata"] == got["Metadata"]


def test_defaults_and_empty_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentType"] == "binary/octet-stream"
    assert got["ETag"] == md5(b"")


def test_overwrite_replaces_content_and_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"one", Metadata={"a": "1"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"two" * 100_000)
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"two" * 100_000
    assert got["Metadata"] == {}
    s3.put_object(Bucket=bucket, Key="k", Body=b"three")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"three"


def test_large_object_round_trip(s3, bucket):
    data = bytes(range(256)) * (12 * 4096)   # 12 MiB: spooled to disk, kept as a blob
    put = s3.put_object(Bucket=bucket, Key="big.bin", Body=data)
    assert put["ETag"] == md5(data)
    got = s3.get_object(Bucket=bucket, Key="big.bin")
    assert got["ContentLength"] == len(data)
    assert hashlib.md5(got["Body"].read()).hexdigest() == hashlib.md5(data).hexdigest()


def test_missing_key_and_bucket(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="nope/x")
    assert error(exc) == (404, "NoSuchKey", "The specified key does not exist.")
    assert exc.value.response["Error"]["Key"] == "nope/x"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=f"missing-{uuid.uuid4().hex[:8]}", Key="x")
    assert error(exc) == (404, "NoSuchBucket", "The specified bucket does not exist")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=f"missing-{uuid.uuid4().hex[:8]}", Key="x", Body=b"1")
    assert error(exc)[:2] == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as exc:   # HEAD errors have no body: the status speaks
        s3.head_object(Bucket=bucket, Key="nope")
    assert error(exc)[:2] == (404, "404")


def test_other_accounts_bucket_is_missing(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    other = server.client("s3", key="AKIAOTHERACCOUNT0001", secret="x")
    with pytest.raises(ClientError) as exc:
        other.get_object(Bucket=bucket, Key="k")
    assert error(exc)[:2] in ((404, "NoSuchBucket"), (403, "AccessDenied"), (403, "InvalidAccessKeyId"))


def test_ranges(s3, bucket):
    data = bytes(range(100))
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    cases = {"bytes=0-9": (data[:10], "bytes 0-9/100"), "bytes=90-": (data[90:], "bytes 90-99/100"),
             "bytes=-5": (data[-5:], "bytes 95-99/100"), "bytes=95-500": (data[95:], "bytes 95-99/100"),
             "bytes=-500": (data, "bytes 0-99/100")}
    for header, (body, content_range) in cases.items():
        got = s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206, header
        assert got["ContentRange"] == content_range, header
        assert got["ContentLength"] == len(body)
        assert got["Body"].read() == body, header
    head = s3.head_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206 and head["ContentLength"] == 10
    for ignored in ("bytes=5-1", "items=0-1", "bytes=0-1,5-6"):
        got = s3.get_object(Bucket=bucket, Key="r", Range=ignored)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 200 and got["Body"].read() == data
    for bad in ("bytes=100-", "bytes=-0"):
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=bucket, Key="r", Range=bad)
        assert error(exc) == (416, "InvalidRange", "The requested range is not satisfiable")
        assert exc.value.response["Error"]["ActualObjectSize"] == "100"


def test_ranges_of_a_large_object(s3, bucket):
    data = bytes(range(256)) * 8192   # 2 MiB, a blob
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    got = s3.get_object(Bucket=bucket, Key="big", Range="bytes=1000000-1500000")
    assert got["Body"].read() == data[1000000:1500001]


def test_part_number_of_a_single_part_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="p", Body=b"0123456789")
    got = s3.get_object(Bucket=bucket, Key="p", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206 and got["Body"].read() == b"0123456789"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="p", PartNumber=2)
    assert error(exc) == (416, "InvalidPartNumber", "The requested partnumber is not satisfiable")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="p", PartNumber=1, Range="bytes=0-1")
    assert error(exc) == (400, "InvalidRequest", "Cannot specify both Range header and partNumber query parameter")


def test_conditional_reads(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="c", Body=b"cond")
    etag = put["ETag"]
    past, future = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1)
    ok = [dict(IfMatch=etag), dict(IfMatch="*"), dict(IfNoneMatch='"other"'), dict(IfModifiedSince=past),
          dict(IfUnmodifiedSince=future), dict(IfMatch=etag, IfUnmodifiedSince=past),
          dict(IfNoneMatch='"other"', IfModifiedSince=future), dict(IfModifiedSince=future + timedelta(days=9))]
    for kw in ok:
        assert s3.get_object(Bucket=bucket, Key="c", **kw)["Body"].read() == b"cond", kw
    failed = [dict(IfMatch='"other"'), dict(IfUnmodifiedSince=past), dict(IfMatch='"x"', IfNoneMatch='"y"')]
    for kw in failed:
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=bucket, Key="c", **kw)
        assert error(exc) == (412, "PreconditionFailed",
                              "At least one of the pre-conditions you specified did not hold"), kw
    for kw in (dict(IfNoneMatch=etag), dict(IfNoneMatch="*"), dict(IfModifiedSince=datetime.now(UTC)),
               dict(IfNoneMatch=etag, IfModifiedSince=past)):
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=bucket, Key="c", **kw)
        assert error(exc)[:2] == (304, "304"), kw
        assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["etag"] == etag
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="c", IfMatch='"other"')
    assert error(exc)[:2] == (412, "412")


def test_conditional_writes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="w", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="w", Body=b"second", IfNoneMatch="*")
    assert error(exc)[:2] == (412, "PreconditionFailed")
    assert exc.value.response["Error"]["Condition"] == "If-None-Match"
    etag = s3.head_object(Bucket=bucket, Key="w")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="w", Body=b"second", IfMatch='"0123"')
    assert error(exc)[:2] == (412, "PreconditionFailed")
    s3.put_object(Bucket=bucket, Key="w", Body=b"second", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="w")["Body"].read() == b"second"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=etag)
    assert error(exc)[:2] == (404, "NoSuchKey")


def test_response_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="text/plain")
    got = s3.get_object(Bucket=bucket, Key="o", ResponseContentType="application/json",
                        ResponseContentDisposition="inline", ResponseCacheControl="no-cache",
                        ResponseContentLanguage="fr", ResponseContentEncoding="gzip",
                        ResponseExpires=datetime(2031, 1, 1, tzinfo=UTC))
    assert got["ContentType"] == "application/json"
    assert got["ContentDisposition"] == "inline"
    assert got["CacheControl"] == "no-cache"
    assert got["ContentLanguage"] == "fr"
    assert got["ContentEncoding"] == "gzip"
    assert got["Expires"] == datetime(2031, 1, 1, tzinfo=UTC)


def test_content_md5(s3, bucket):
    good = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    s3.put_object(Bucket=bucket, Key="m", Body=b"data", ContentMD5=good)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="m", Body=b"other", ContentMD5=good)
    assert error(exc) == (400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="m", Body=b"other", ContentMD5="not-base64!")
    assert error(exc) == (400, "InvalidDigest", "The Content-MD5 you specified is not valid.")
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == b"data"


# Of b"checksummed " * 1000, computed with awscrt's crc32c and crc64nvme (AWS's own implementation).
CRT_ONLY = {"CRC32C": "Pbs/Fg==", "CRC64NVME": "m9+i8e0LAPI="}


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_checksums_validated_echoed_and_returned(s3, bucket, algorithm):
    data = b"checksummed " * 1000
    member = f"Checksum{algorithm}"
    if algorithm in CRT_ONLY:  # botocore computes these only with awscrt installed: the value is given
        put = s3.put_object(Bucket=bucket, Key=algorithm, Body=data, **{member: CRT_ONLY[algorithm]})
        assert put[member] == CRT_ONLY[algorithm]
    else:
        put = s3.put_object(Bucket=bucket, Key=algorithm, Body=data, ChecksumAlgorithm=algorithm)
    assert put[member] and put["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
    assert got[member] == put[member]
    assert got["Body"].read() == data   # botocore checks the body against it
    head = s3.head_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
    assert head[member] == put[member]
    assert member not in s3.head_object(Bucket=bucket, Key=algorithm)


def test_checksum_mismatch_and_malformed(s3, bucket):
    wrong = base64.b64encode(hashlib.sha256(b"not it").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="x", Body=b"data", ChecksumSHA256=wrong)
    assert error(exc) == (400, "BadDigest", "The SHA256 you specified did not match the calculated checksum.")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="x", Body=b"data", ChecksumCRC32="AAAA")
    assert error(exc) == (400, "InvalidRequest", "Value for x-amz-checksum-crc32 header is invalid.")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="x")
    assert error(exc)[0] == 404


def test_default_checksum_is_crc64nvme(server, bucket):
    s3 = server.client("s3", request_checksum_calculation="when_required")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    head = s3.head_object(Bucket=bucket, Key="plain", ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] and head["ChecksumType"] == "FULL_OBJECT"


def test_delete_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="d", Body=b"x")
    assert s3.delete_object(Bucket=bucket, Key="d")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket=bucket, Key="d")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="d")
    assert error(exc)[1] == "NoSuchKey"
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=f"missing-{uuid.uuid4().hex[:8]}", Key="d")
    assert error(exc)[1] == "NoSuchBucket"


def test_delete_objects(s3, bucket):
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x")
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k0"}, {"Key": "k1"}, {"Key": "never"},
                                                              {"Key": "k2", "VersionId": "123"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["k0", "k1", "never"]
    assert out["Errors"] == [{"Key": "k2", "VersionId": "123", "Code": "NoSuchVersion",
                              "Message": "The specified version does not exist."}]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k3"}], "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k2", "k4"]
    with pytest.raises(ClientError) as exc:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]})
    assert error(exc) == (400, "MalformedXML",
                          "The XML you provided was not well-formed or did not validate against our published schema")


def test_delete_bucket_refuses_until_empty(s3):
    name = f"full-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="x", Body=b"1")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert error(exc) == (409, "BucketNotEmpty", "The bucket you tried to delete is not empty")
    s3.delete_object(Bucket=name, Key="x")
    s3.delete_bucket(Bucket=name)


def test_copy_object(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="src dir/ü file.txt", Body=b"copy me" * 20000, ContentType="text/plain",
                        Metadata={"a": "1"})
    out = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src dir/ü file.txt"})
    assert out["CopyObjectResult"]["ETag"] == put["ETag"]
    assert isinstance(out["CopyObjectResult"]["LastModified"], datetime)
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"copy me" * 20000
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"a": "1"}
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/src dir/ü file.txt?versionId=null",
                   MetadataDirective="REPLACE", Metadata={"b": "2"}, ContentType="application/x-thing")
    got = s3.head_object(Bucket=bucket, Key="dst2")
    assert got["Metadata"] == {"b": "2"} and got["ContentType"] == "application/x-thing"


def test_copy_onto_itself(s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"x", Metadata={"a": "1"})
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"})
    assert error(exc) == (400, "InvalidRequest",
                          "This copy request is illegal because it is trying to copy an object to itself without "
                          "changing the object's metadata, storage class, website redirect location or encryption "
                          "attributes.")
    s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                   MetadataDirective="REPLACE", Metadata={"a": "2"})
    assert s3.head_object(Bucket=bucket, Key="self")["Metadata"] == {"a": "2"}


def test_copy_errors_and_conditions(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="s", Body=b"x")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "missing"})
    assert error(exc)[:2] == (404, "NoSuchKey")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": f"nob-{uuid.uuid4().hex[:8]}", "Key": "s"})
    assert error(exc)[:2] == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "s"}, CopySourceIfMatch='"no"')
    assert error(exc)[:2] == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "s"}, CopySourceIfNoneMatch=etag)
    assert error(exc)[:2] == (412, "PreconditionFailed")
    s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "s"}, CopySourceIfMatch=etag,
                   CopySourceIfUnmodifiedSince=datetime.now(UTC) - timedelta(days=1))
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "s"},
                       MetadataDirective="MOVE")
    assert error(exc)[:2] == (400, "InvalidArgument")


def test_key_too_long(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert error(exc) == (400, "KeyTooLongError", "Your key is too long")
