"""Blobs nothing references are deleted by the sweep (blob_gc.py), and nothing referenced is: S3
objects, their copies and multipart parts, Lambda code of functions and versions, layers. A
server sweeps every second here (CLOUDLET_BLOB_SWEEP_SECONDS=1); blobs live under the data
directory's blobs/sha256/<2 hex>/<digest>."""

from __future__ import annotations

import hashlib
import io
import time
import uuid
import zipfile

import pytest

from tests.conftest import Server

SWEEP = 1.0
BIG = 200 * 1024  # above S3's inline limit: stored as a blob


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    data = tmp_path_factory.mktemp("swept")
    srv = Server(data_dir=data, env={"CLOUDLET_BLOB_SWEEP_SECONDS": str(SWEEP)}).start()
    yield srv, data
    srv.stop()


def unpacked(data, payload: bytes) -> bool:
    """Whether Lambda's unpacked copy of a package is on disk (<data>/lambda/code/<digest>)."""
    return any(data.rglob(f"lambda/code/{hashlib.sha256(payload).hexdigest()}"))


def blob_exists(data, payload: bytes) -> bool:
    digest = hashlib.sha256(payload).hexdigest()
    return (data / "blobs" / "sha256" / digest[:2] / digest).is_file()


def settle(seconds: float = 3 * SWEEP + 0.5) -> None:
    """Long enough for a blob to age past the grace period and a sweep to run after that."""
    time.sleep(seconds)


def test_a_deleted_objects_blob_goes_and_a_copys_stays(swept):
    srv, data = swept
    s3 = srv.client("s3")
    bucket = f"sweep-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    kept, dropped = b"k" * BIG, b"d" * BIG
    s3.put_object(Bucket=bucket, Key="kept", Body=kept)
    s3.put_object(Bucket=bucket, Key="dropped", Body=dropped)
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "kept"})
    assert blob_exists(data, kept) and blob_exists(data, dropped)
    s3.delete_object(Bucket=bucket, Key="dropped")
    s3.delete_object(Bucket=bucket, Key="kept")  # the copy names the same blob
    settle()
    assert not blob_exists(data, dropped)
    assert blob_exists(data, kept)
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == kept
    # Stored again after its blob went: a new blob, readable.
    s3.put_object(Bucket=bucket, Key="again", Body=dropped)
    assert s3.get_object(Bucket=bucket, Key="again")["Body"].read() == dropped


def test_parts_of_an_upload_in_progress_stay(swept):
    srv, data = swept
    s3 = srv.client("s3")
    bucket = f"sweep-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    part = b"p" * (5 * 1024 * 1024)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=1, Body=part)["ETag"]
    settle()
    assert blob_exists(data, part)
    s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    settle()
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == part
    s3.delete_object(Bucket=bucket, Key="big")
    settle()
    assert not blob_exists(data, part)


def _zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("app.py", source)
        archive.writestr("nonce.txt", uuid.uuid4().hex)
    return buf.getvalue()


def test_function_code_stays_while_a_function_or_version_names_it(swept):
    srv, data = swept
    lam = srv.client("lambda")
    name = f"sweep-{uuid.uuid4().hex[:8]}"
    one, two = _zip("def handler(e, c):\n    return 1\n"), _zip("def handler(e, c):\n    return 2\n")
    layer = _zip("VALUE = 3\n")
    layer_arn = lam.publish_layer_version(LayerName=name, Content={"ZipFile": layer})["LayerVersionArn"]
    lam.create_function(FunctionName=name, Runtime="python3.12", Role="arn:aws:iam::000000000000:role/r",
                        Handler="app.handler", Code={"ZipFile": one}, Publish=True, Layers=[layer_arn])
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    lam.update_function_code(FunctionName=name, ZipFile=two)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    lam.delete_layer_version(LayerName=name, VersionNumber=1)  # the function keeps using it
    settle()
    assert blob_exists(data, one) and blob_exists(data, two) and blob_exists(data, layer)
    assert lam.invoke(FunctionName=name, Qualifier="1")["Payload"].read() == b"1"
    lam.delete_function(FunctionName=name, Qualifier="1")
    settle()
    assert not blob_exists(data, one)
    assert blob_exists(data, two) and blob_exists(data, layer)
    assert lam.invoke(FunctionName=name)["Payload"].read() == b"2"
    assert unpacked(data, two) and unpacked(data, layer)
    lam.delete_function(FunctionName=name)
    settle()
    assert not blob_exists(data, two) and not blob_exists(data, layer)
    assert not unpacked(data, two) and not unpacked(data, layer)  # nor their unpacked copies
