"""ListObjectsV2 and ListObjects with boto3: prefixes, delimiters, pagination, encoding, owner."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

KEYS = ["a.txt", "dir/a", "dir/b", "dir/sub/c", "dir2/x", "e f+g.txt", "z/1", "z/2", "ü/é"]


@pytest.fixture(scope="module")
def s3(server):
    return server.client("s3")


@pytest.fixture(scope="module")
def bucket(s3):
    name = f"list-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    for key in KEYS:
        s3.put_object(Bucket=name, Key=key, Body=key.encode())
    yield name
    s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": k} for k in KEYS]})
    s3.delete_bucket(Bucket=name)


def test_everything_in_order(s3, bucket):
    out = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in out["Contents"]] == sorted(KEYS, key=lambda k: k.encode())
    assert out["KeyCount"] == len(KEYS) and out["IsTruncated"] is False and out["MaxKeys"] == 1000
    first = out["Contents"][0]
    assert first["Size"] == len(first["Key"].encode()) and first["StorageClass"] == "STANDARD"
    assert "Owner" not in first


def test_prefix_and_delimiter(s3, bucket):
    out = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == ["a.txt", "e f+g.txt"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["dir/", "dir2/", "z/", "ü/"]
    assert out["KeyCount"] == 6
    out = s3.list_objects_v2(Bucket=bucket, Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == ["dir/a", "dir/b"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["dir/sub/"]
    assert s3.list_objects_v2(Bucket=bucket, Prefix="nothing")["KeyCount"] == 0


def test_v2_pagination_with_continuation_tokens(s3, bucket):
    seen, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        out = s3.list_objects_v2(Bucket=bucket, MaxKeys=2, Delimiter="/", **kw)
        seen += [o["Key"] for o in out.get("Contents", [])] + [p["Prefix"] for p in out.get("CommonPrefixes", [])]
        assert out["KeyCount"] <= 2
        if not out["IsTruncated"]:
            break
        token = out["NextContinuationToken"]
        assert token
    assert sorted(seen) == sorted(["a.txt", "e f+g.txt", "dir/", "dir2/", "z/", "ü/"])
    paginated = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={
        "PageSize": 3}) for o in page.get("Contents", [])]
    assert paginated == sorted(KEYS, key=lambda k: k.encode())


def test_start_after_and_max_keys_zero(s3, bucket):
    out = s3.list_objects_v2(Bucket=bucket, StartAfter="dir/sub/c")
    assert [o["Key"] for o in out["Contents"]] == ["dir2/x", "e f+g.txt", "z/1", "z/2", "ü/é"]
    assert out["StartAfter"] == "dir/sub/c"
    out = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert out["KeyCount"] == 0 and "Contents" not in out


def test_v1_markers(s3, bucket):
    out = s3.list_objects(Bucket=bucket, MaxKeys=3)
    assert [o["Key"] for o in out["Contents"]] == ["a.txt", "dir/a", "dir/b"]
    assert out["IsTruncated"] is True and "NextMarker" not in out
    assert out["Contents"][0]["Owner"]["ID"]
    out = s3.list_objects(Bucket=bucket, Marker="dir/b", MaxKeys=2)
    assert [o["Key"] for o in out["Contents"]] == ["dir/sub/c", "dir2/x"]
    out = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert out["IsTruncated"] and out["NextMarker"] == "dir/"
    out = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2, Marker=out["NextMarker"])
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["dir2/"] and [o["Key"] for o in out["Contents"]] == [
        "e f+g.txt"]
    keys = [o["Key"] for page in s3.get_paginator("list_objects").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}) for o in page.get("Contents", [])]
    assert keys == sorted(KEYS, key=lambda k: k.encode())


def test_url_encoding_and_fetch_owner(server, bucket):
    s3 = server.client("s3")
    events = []
    s3.meta.events.register("after-call.s3.ListObjectsV2", lambda http_response, **_: events.append(
        http_response.content))
    out = s3.list_objects_v2(Bucket=bucket, Prefix="e", FetchOwner=True)
    assert b"<Key>e+f%2Bg.txt</Key>" in events[-1]      # sent encoded ...
    assert out["Contents"][0]["Key"] == "e f+g.txt"     # ... and decoded by botocore
    assert out["Contents"][0]["Owner"]["ID"]


def test_errors(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="garbage!")
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"
    assert exc.value.response["Error"]["Message"] == "The continuation token provided is incorrect"
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=bucket, MaxKeys=-1)
    assert exc.value.response["Error"]["Message"] == "Argument maxKeys must be an integer between 0 and 2147483647"
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=f"missing-{uuid.uuid4().hex[:8]}")
    assert exc.value.response["Error"]["Code"] == "NoSuchBucket"
