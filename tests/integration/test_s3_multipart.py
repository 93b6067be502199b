"""S3 multipart uploads with real clients: every operation and its errors through boto3, boto3's
managed transfers (threads, non-seekable streams), `aws s3 cp` of large files, ranged and
per-part reads, UploadPartCopy, and an upload that outlives kill -9."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import signal
import uuid
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from cloudlet.store import checksums
from tests.conftest import Server
from tests.support.s3 import fresh_bucket
from tests.support.streams import NonSeekableStream

MiB = 1024 * 1024
NO_SUCH_UPLOAD = ("The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
                  "aborted or completed.")
INVALID_PART = ("One or more of the specified parts could not be found.  The part may not have been uploaded, or the "
                "specified entity tag may not match the part's entity tag.")


@pytest.fixture(scope="module")
def s3(server):
    return server.client("s3")


@pytest.fixture
def bucket(s3):
    yield from fresh_bucket(s3, "mpu")


def error(exc: pytest.ExceptionInfo) -> tuple[int, str, str]:
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"].get("Message", "")


def etag_of(parts: list[bytes]) -> str:
    return f'"{hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()}-{len(parts)}"'


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def upload(s3, bucket: str, key: str, parts: list[bytes], **create) -> tuple[str, list[dict]]:
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    done = []
    for n, data in enumerate(parts, 1):
        algorithm = create.get("ChecksumAlgorithm")
        extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        if algorithm in ("CRC32C", "CRC64NVME"):   # botocore computes these only with awscrt: send the value
            name = algorithm.lower()
            extra = {f"Checksum{algorithm}": b64(checksums.compute((name,), data)[name])}
        out = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=data, **extra)
        # an upload created without an algorithm refuses part checksums in the complete request
        sums = {k: v for k, v in out.items() if k.startswith("Checksum") and extra}
        done.append({"PartNumber": n, "ETag": out["ETag"], **sums})
    return uid, done


def test_create_upload_list_complete_with_metadata_and_replaced_part(s3, bucket):
    expires = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    created = s3.create_multipart_upload(Bucket=bucket, Key="dir/obj.bin", ContentType="video/mp4",
                                         Metadata={"Colour": "red"}, CacheControl="max-age=9",
                                         ContentDisposition="inline", Expires=expires, Tagging="a=1&b=2")
    assert created["Bucket"] == bucket and created["Key"] == "dir/obj.bin" and created["UploadId"]
    uid = created["UploadId"]
    first, second, last = os.urandom(5 * MiB), os.urandom(5 * MiB + 3), os.urandom(1234)
    s3.upload_part(Bucket=bucket, Key="dir/obj.bin", UploadId=uid, PartNumber=1, Body=b"replaced below")
    e1 = s3.upload_part(Bucket=bucket, Key="dir/obj.bin", UploadId=uid, PartNumber=1, Body=first)["ETag"]
    assert e1 == f'"{hashlib.md5(first).hexdigest()}"'
    e2 = s3.upload_part(Bucket=bucket, Key="dir/obj.bin", UploadId=uid, PartNumber=2, Body=second,
                        ContentMD5=b64(hashlib.md5(second).digest()))["ETag"]
    e3 = s3.upload_part(Bucket=bucket, Key="dir/obj.bin", UploadId=uid, PartNumber=3, Body=last)["ETag"]

    listed = s3.list_parts(Bucket=bucket, Key="dir/obj.bin", UploadId=uid)
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed["Parts"]] == [
        (1, len(first), e1), (2, len(second), e2), (3, len(last), e3)]
    assert listed["IsTruncated"] is False and listed["StorageClass"] == "STANDARD"
    page = s3.list_parts(Bucket=bucket, Key="dir/obj.bin", UploadId=uid, MaxParts=2)
    assert [p["PartNumber"] for p in page["Parts"]] == [1, 2]
    assert page["IsTruncated"] is True and page["NextPartNumberMarker"] == 2
    rest = s3.list_parts(Bucket=bucket, Key="dir/obj.bin", UploadId=uid, PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["Parts"]] == [3] and rest["IsTruncated"] is False
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("dir/obj.bin", uid)]

    with pytest.raises(ClientError):   # not visible before completion
        s3.head_object(Bucket=bucket, Key="dir/obj.bin")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="dir/obj.bin", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}, {"PartNumber": 3, "ETag": e3}]})
    assert done["ETag"] == etag_of([first, second, last])
    assert done["Bucket"] == bucket and done["Key"] == "dir/obj.bin" and done["Location"].endswith("/dir/obj.bin")
    whole = first + second + last
    assert done["ChecksumCRC64NVME"] == b64(checksums.compute(("crc64nvme",), whole)["crc64nvme"])
    got = s3.get_object(Bucket=bucket, Key="dir/obj.bin")
    assert got["Body"].read() == whole
    assert got["ETag"] == done["ETag"] and got["ContentLength"] == len(whole)
    assert got["ContentType"] == "video/mp4" and got["Metadata"] == {"colour": "red"}
    assert got["CacheControl"] == "max-age=9" and got["ContentDisposition"] == "inline"
    assert got["Expires"] == expires and got["TagCount"] == 2
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket) or \
        s3.list_multipart_uploads(Bucket=bucket)["Uploads"] == []
    with pytest.raises(ClientError) as err:
        s3.list_parts(Bucket=bucket, Key="dir/obj.bin", UploadId=uid)
    assert error(err) == (404, "NoSuchUpload", NO_SUCH_UPLOAD)


def test_unknown_uploads_and_bad_part_numbers(s3, bucket):
    calls = {
        "upload_part": lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId="nope", PartNumber=1, Body=b"x"),
        "list_parts": lambda: s3.list_parts(Bucket=bucket, Key="k", UploadId="nope"),
        "abort": lambda: s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId="nope"),
        "complete": lambda: s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId="nope", MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": '"x"'}]}),
    }
    for name, call in calls.items():
        with pytest.raises(ClientError) as err:
            call()
        assert error(err) == (404, "NoSuchUpload", NO_SUCH_UPLOAD), name
        assert err.value.response["Error"]["UploadId"] == "nope"
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as err:   # an upload id belongs to its key
        s3.upload_part(Bucket=bucket, Key="other", UploadId=uid, PartNumber=1, Body=b"x")
    assert error(err)[1] == "NoSuchUpload"
    for number in (0, 10001):
        with pytest.raises(ClientError) as err:
            s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=number, Body=b"x")
        assert error(err) == (400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
        assert err.value.response["Error"]["ArgumentValue"] == str(number)
    with pytest.raises(ClientError) as err:
        s3.create_multipart_upload(Bucket=f"{bucket}-missing", Key="k")
    assert error(err)[:2] == (404, "NoSuchBucket")
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"x")
    assert error(err)[1] == "NoSuchUpload"
    with pytest.raises(ClientError) as err:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)
    assert error(err)[1] == "NoSuchUpload"


def test_part_integrity_checks(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"data",
                       ContentMD5=b64(hashlib.md5(b"other").digest()))
    assert error(err) == (400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"data",
                       ChecksumCRC32=b64(zlib.crc32(b"other").to_bytes(4, "big")))
    assert error(err) == (400, "BadDigest", "The CRC32 you specified did not match the calculated checksum.")
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=uid).get("Parts", []) == []
    sha = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")
    assert sha["ChecksumAlgorithm"] == "SHA256" and sha["ChecksumType"] == "COMPOSITE"
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=sha["UploadId"], PartNumber=1, Body=b"data",
                       ChecksumAlgorithm="CRC32")
    assert error(err) == (400, "InvalidRequest", "Checksum Type mismatch occurred, expected checksum Type: sha256, "
                                                 "actual checksum Type: crc32")
    with pytest.raises(ClientError) as err:
        s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC64NVME", ChecksumType="COMPOSITE")
    assert error(err) == (400, "InvalidRequest",
                          "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")
    for upload_id in (uid, sha["UploadId"]):
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)


def test_complete_refuses_bad_part_lists(s3, bucket):
    small, big = b"tiny", os.urandom(5 * MiB)
    uid, parts = upload(s3, bucket, "k", [small, big, small])
    bad = {
        "order": ([parts[1], parts[0]], (400, "InvalidPartOrder",
                  "The list of parts was not in ascending order. Parts must be ordered by part number.")),
        "etag": ([{**parts[0], "ETag": '"00000000000000000000000000000000"'}], (400, "InvalidPart", INVALID_PART)),
        "missing": ([{"PartNumber": 9, "ETag": parts[0]["ETag"]}], (400, "InvalidPart", INVALID_PART)),
        "small": (parts, (400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")),
        "empty": ([], (400, "InvalidRequest", "You must specify at least one part")),
    }
    for name, (listed, expected) in bad.items():
        with pytest.raises(ClientError) as err:
            s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": listed})
        assert error(err) == expected, name
        if name == "small":
            info = err.value.response["Error"]
            assert info["PartNumber"] == "1" and info["ProposedSize"] == "4" and info["MinSizeAllowed"] == "5242880"
        if name == "etag":
            assert err.value.response["Error"]["UploadId"] == uid
    # the last part may be small, and parts may be left out
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                        MultipartUpload={"Parts": [parts[1], parts[2]]})
    assert done["ETag"] == etag_of([big, small])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == big + small


def test_composite_and_full_object_checksums(s3, bucket):
    one, two = os.urandom(5 * MiB), os.urandom(777)
    uid, parts = upload(s3, bucket, "composite", [one, two], ChecksumAlgorithm="CRC32")
    crcs = [zlib.crc32(p).to_bytes(4, "big") for p in (one, two)]
    assert [p["ChecksumCRC32"] for p in parts] == [b64(c) for c in crcs]
    listed = s3.list_parts(Bucket=bucket, Key="composite", UploadId=uid)
    assert listed["ChecksumAlgorithm"] == "CRC32" and listed["ChecksumType"] == "COMPOSITE"
    assert [p["ChecksumCRC32"] for p in listed["Parts"]] == [b64(c) for c in crcs]
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="composite", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": parts[0]["ETag"]}, parts[1]]})
    assert error(err) == (400, "InvalidRequest", "The upload was created using a crc32 checksum. The complete request "
                          "must include the checksum for each part. It was missing for part 1 in the request.")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="composite", UploadId=uid, MultipartUpload={"Parts": parts})
    composite = f"{b64(zlib.crc32(b''.join(crcs)).to_bytes(4, 'big'))}-2"
    assert done["ChecksumCRC32"] == composite and done["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="composite", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == composite and head["ChecksumType"] == "COMPOSITE"
    part = s3.head_object(Bucket=bucket, Key="composite", PartNumber=2, ChecksumMode="ENABLED")
    assert part["ChecksumCRC32"] == b64(crcs[1])
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="composite")["Contents"][0]
    assert listed["ChecksumAlgorithm"] == ["CRC32"] and listed["ChecksumType"] == "COMPOSITE"
    attrs = s3.get_object_attributes(Bucket=bucket, Key="composite", ObjectAttributes=["ObjectParts", "Checksum"])
    assert attrs["ObjectParts"]["TotalPartsCount"] == 2
    assert [(p["PartNumber"], p["Size"], p["ChecksumCRC32"]) for p in attrs["ObjectParts"]["Parts"]] == [
        (1, len(one), b64(crcs[0])), (2, len(two), b64(crcs[1]))]

    uid, parts = upload(s3, bucket, "full", [one, two], ChecksumAlgorithm="CRC32C", ChecksumType="FULL_OBJECT")
    whole = b64(checksums.compute(("crc32c",), one + two)["crc32c"])
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=uid, MultipartUpload={"Parts": parts},
                                     ChecksumCRC32C="AAAAAA==", ChecksumType="FULL_OBJECT")
    assert error(err) == (400, "BadDigest", "The crc32c you specified did not match the calculated checksum.")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=uid, MultipartUpload={"Parts": parts},
                                        ChecksumCRC32C=whole, ChecksumType="FULL_OBJECT")
    assert done["ChecksumCRC32C"] == whole and done["ChecksumType"] == "FULL_OBJECT"


def _raw(server, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"{server.url}{path}", data=body, method=method, headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, "
                         "Signature=" + "0" * 64, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_malformed_requests_get_s3_errors_not_500s(server, s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    status, body = _raw(server, "PUT", f"/{bucket}/k?partNumber=abc&uploadId={uid}", b"data")
    assert status == 400 and b"<Code>" in body
    status, body = _raw(server, "POST", f"/{bucket}/k?uploadId={uid}", b"<CompleteMultipartUpload><Part>")
    assert status == 400 and b"<Code>MalformedXML</Code>" in body
    status, body = _raw(server, "POST", f"/{bucket}/k?uploadId={uid}", b"")
    assert status == 400 and b"<Code>MalformedXML</Code>" in body
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)


def test_conditional_complete(s3, bucket):
    s3.put_object(Bucket=bucket, Key="exists", Body=b"old")
    for key, condition, expected in [("exists", {"IfNoneMatch": "*"}, (412, "PreconditionFailed")),
                                     ("exists", {"IfMatch": '"0123"'}, (412, "PreconditionFailed")),
                                     ("absent", {"IfMatch": '"0123"'}, (404, "NoSuchKey"))]:
        uid, parts = upload(s3, bucket, key, [b"new"])
        with pytest.raises(ClientError) as err:
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts},
                                         **condition)
        assert error(err)[:2] == expected
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)
    assert s3.get_object(Bucket=bucket, Key="exists")["Body"].read() == b"old"
    uid, parts = upload(s3, bucket, "exists", [b"new"])
    old = s3.head_object(Bucket=bucket, Key="exists")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="exists", UploadId=uid, MultipartUpload={"Parts": parts},
                                 IfMatch=old)
    uid, parts = upload(s3, bucket, "fresh", [b"first"])
    s3.complete_multipart_upload(Bucket=bucket, Key="fresh", UploadId=uid, MultipartUpload={"Parts": parts},
                                 IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="exists")["Body"].read() == b"new"


def test_ranges_and_part_numbers_across_parts(s3, bucket):
    one, two, three = os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1000)
    uid, parts = upload(s3, bucket, "ranged", [one, two, three])
    s3.complete_multipart_upload(Bucket=bucket, Key="ranged", UploadId=uid, MultipartUpload={"Parts": parts})
    whole = one + two + three
    boundary = len(one)
    got = s3.get_object(Bucket=bucket, Key="ranged", Range=f"bytes={boundary - 10}-{boundary + 9}")
    assert got["Body"].read() == whole[boundary - 10:boundary + 10]
    assert got["ContentRange"] == f"bytes {boundary - 10}-{boundary + 9}/{len(whole)}"
    tail = s3.get_object(Bucket=bucket, Key="ranged", Range="bytes=-1500")["Body"].read()
    assert tail == whole[-1500:]
    for n, (start, data) in enumerate([(0, one), (boundary, two), (2 * boundary, three)], 1):
        part = s3.get_object(Bucket=bucket, Key="ranged", PartNumber=n)
        assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert part["PartsCount"] == 3 and part["ContentLength"] == len(data)
        assert part["ContentRange"] == f"bytes {start}-{start + len(data) - 1}/{len(whole)}"
        assert part["Body"].read() == data
    head = s3.head_object(Bucket=bucket, Key="ranged", PartNumber=3)
    assert head["PartsCount"] == 3 and head["ContentLength"] == 1000
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="ranged", PartNumber=4)
    assert error(err) == (416, "InvalidPartNumber", "The requested partnumber is not satisfiable")
    assert err.value.response["Error"]["ActualPartCount"] == "3"
    # a copy is one object: the MD5 of its bytes, no parts, the same bytes (no byte rewritten)
    copied = s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "ranged"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(whole).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="copied", Range="bytes=5242870-5242889")["Body"].read() == \
        whole[5242870:5242890]
    assert "PartsCount" not in s3.head_object(Bucket=bucket, Key="copied", PartNumber=1)


def test_upload_part_copy_with_ranges_and_conditions(s3, bucket):
    source = os.urandom(6 * MiB + 100)
    put = s3.put_object(Bucket=bucket, Key="source", Body=source)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    src = {"Bucket": bucket, "Key": "source"}
    first = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=1, CopySource=src,
                                CopySourceRange=f"bytes=0-{5 * MiB - 1}", CopySourceIfMatch=put["ETag"])
    assert first["CopyPartResult"]["ETag"] == f'"{hashlib.md5(source[:5 * MiB]).hexdigest()}"'
    second = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=2, CopySource=src,
                                 CopySourceRange=f"bytes={5 * MiB}-{len(source) - 1}")
    bad = [({"CopySourceRange": "bytes=0-"}, (400, "InvalidArgument")),
           ({"CopySourceRange": f"bytes=0-{len(source)}"},
            (400, "InvalidArgument", f"Range specified is not valid for source object of size: {len(source)}")),
           ({"CopySourceIfMatch": '"0000"'}, (412, "PreconditionFailed")),
           ({"CopySourceIfUnmodifiedSince": datetime.now(UTC) - timedelta(days=1)}, (412, "PreconditionFailed"))]
    for extra, expected in bad:
        with pytest.raises(ClientError) as err:
            s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=3, CopySource=src, **extra)
        assert error(err)[:len(expected)] == expected, extra
    with pytest.raises(ClientError) as err:
        s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=3,
                            CopySource={"Bucket": bucket, "Key": "nothing"})
    assert error(err)[:2] == (404, "NoSuchKey")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]}]})
    assert done["ETag"] == etag_of([source[:5 * MiB], source[5 * MiB:]])
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source


def test_list_multipart_uploads_prefix_delimiter_and_paging(s3, bucket):
    keys = ["a/1", "a/2", "b", "b", "c/d/e", "z"]
    ids = [s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"] for k in keys]
    everything = s3.list_multipart_uploads(Bucket=bucket)
    assert [(u["Key"], u["UploadId"]) for u in everything["Uploads"]] == list(zip(keys, ids, strict=True))
    rolled = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in rolled["Uploads"]] == ["b", "b", "z"]
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/", "c/"]
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket, Prefix="a/")["Uploads"]] == ["a/1", "a/2"]
    inner = s3.list_multipart_uploads(Bucket=bucket, Prefix="c/", Delimiter="/")
    assert [p["Prefix"] for p in inner["CommonPrefixes"]] == ["c/d/"] and inner["Prefix"] == "c/"
    seen, marker, id_marker = [], "", ""
    while True:
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, KeyMarker=marker, UploadIdMarker=id_marker)
        seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        marker, id_marker = page["NextKeyMarker"], page["NextUploadIdMarker"]
    assert seen == list(zip(keys, ids, strict=True))
    after_b = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="b")
    assert [u["Key"] for u in after_b["Uploads"]] == ["c/d/e", "z"]
    paginated = [u["UploadId"] for page in s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 1}) for u in page.get("Uploads", [])]
    assert paginated == ids
    for key, upload_id in zip(keys, ids, strict=True):
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_deleting_a_bucket_with_an_upload_in_progress_forgets_the_upload(s3):
    name = f"mpu-gone-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    uid, _ = upload(s3, name, "k", [b"part"])
    s3.delete_bucket(Bucket=name)   # AWS does not refuse: uploads do not keep a bucket
    s3.create_bucket(Bucket=name)
    try:
        assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
        with pytest.raises(ClientError) as err:
            s3.list_parts(Bucket=name, Key="k", UploadId=uid)
        assert error(err)[1] == "NoSuchUpload"
    finally:
        s3.delete_bucket(Bucket=name)


def test_managed_upload_and_download_file_with_threads(s3, bucket, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(40 * MiB + 123))
    s3.upload_file(str(src), bucket, "managed/big.bin")   # default TransferConfig: 8 MiB parts, 10 threads
    head = s3.head_object(Bucket=bucket, Key="managed/big.bin")
    assert head["ContentLength"] == 40 * MiB + 123 and head["ETag"].endswith('-6"')
    dst = tmp_path / "back.bin"
    s3.download_file(bucket, "managed/big.bin", str(dst))   # ranged GETs on threads
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()



def test_upload_fileobj_of_a_non_seekable_stream_above_the_threshold(s3, bucket):
    data = os.urandom(12 * MiB + 5)
    stream = NonSeekableStream(data)
    assert not stream.seekable()
    s3.upload_fileobj(stream, bucket, "streamed", Config=TransferConfig(multipart_threshold=8 * MiB))
    assert s3.head_object(Bucket=bucket, Key="streamed")["ETag"].endswith('-2"')
    out = io.BytesIO()
    s3.download_fileobj(bucket, "streamed", out)
    assert out.getvalue() == data


def test_aws_cli_cp_of_a_large_file_up_and_down(server, bucket, tmp_path):
    src = tmp_path / "cli.bin"
    src.write_bytes(os.urandom(20 * MiB + 7))
    server.cli("s3", "cp", str(src), f"s3://{bucket}/cli/large.bin")
    head = server.client("s3").head_object(Bucket=bucket, Key="cli/large.bin")
    assert head["ETag"].endswith('-3"')   # the CLI's 8 MiB parts
    down = tmp_path / "down.bin"
    server.cli("s3", "cp", f"s3://{bucket}/cli/large.bin", str(down))
    assert down.read_bytes() == src.read_bytes()


def test_upload_in_progress_survives_kill_9(tmp_path):
    srv = Server(data_dir=tmp_path).start()
    s3 = srv.client("s3")
    s3.create_bucket(Bucket="durable-mpu")
    one, two = os.urandom(5 * MiB), os.urandom(100)
    uid, parts = upload(s3, "durable-mpu", "big", [one])
    srv.stop(signal.SIGKILL)
    again = Server(data_dir=tmp_path).start()
    try:
        s3 = again.client("s3")
        assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="durable-mpu")["Uploads"]] == [uid]
        etag = s3.upload_part(Bucket="durable-mpu", Key="big", UploadId=uid, PartNumber=2, Body=two)["ETag"]
        s3.complete_multipart_upload(Bucket="durable-mpu", Key="big", UploadId=uid, MultipartUpload={"Parts": [
            parts[0], {"PartNumber": 2, "ETag": etag}]})
        assert s3.get_object(Bucket="durable-mpu", Key="big")["Body"].read() == one + two
    finally:
        again.stop()
