"""Object and bucket tagging with boto3 and the AWS CLI, and S3's refusals in its words."""

from __future__ import annotations

import json

import pytest

from tests.support.aws import aws_error as error
from tests.support.s3 import fresh_bucket


@pytest.fixture(scope="module")
def s3(server):
    return server.client("s3")


@pytest.fixture
def bucket(s3):
    yield from fresh_bucket(s3, "tags")


def tag_set(n: int, prefix: str = "k") -> list[dict]:
    return [{"Key": f"{prefix}{i}", "Value": f"v{i}"} for i in range(n)]


def test_object_tags_put_get_delete(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"data", Tagging="from=put&empty=")
    assert s3.get_object_tagging(Bucket=bucket, Key="o")["TagSet"] == [
        {"Key": "from", "Value": "put"}, {"Key": "empty", "Value": ""}]
    s3.put_object_tagging(Bucket=bucket, Key="o", Tagging={"TagSet": tag_set(10)})
    assert s3.get_object_tagging(Bucket=bucket, Key="o")["TagSet"] == tag_set(10)
    assert s3.get_object(Bucket=bucket, Key="o")["TagCount"] == 10
    assert s3.get_object(Bucket=bucket, Key="o")["Body"].read() == b"data"  # the bytes stay
    copied = s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "o"})
    assert copied["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object_tagging(Bucket=bucket, Key="c")["TagSet"] == tag_set(10)
    deleted = s3.delete_object_tagging(Bucket=bucket, Key="o")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="o")["TagSet"] == []
    assert "TagCount" not in s3.head_object(Bucket=bucket, Key="o")


def test_object_tagging_refusals(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    put = s3.put_object_tagging
    err = error(put, Bucket=bucket, Key="o", Tagging={"TagSet": tag_set(11)})
    assert (err["code"], err["status"], err["message"]) == ("BadRequest", 400, "Object tags cannot be greater than 10")
    err = error(put, Bucket=bucket, Key="o", Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]})
    assert (err["code"], err["status"], err["message"]) == (
        "InvalidTag", 400, "Cannot provide multiple Tags with the same key")
    err = error(put, Bucket=bucket, Key="o", Tagging={"TagSet": [{"Key": "k" * 129, "Value": "v"}]})
    assert (err["code"], err["message"]) == ("InvalidTag", "The TagKey you have provided is invalid")
    err = error(put, Bucket=bucket, Key="o", Tagging={"TagSet": [{"Key": "k", "Value": "v" * 257}]})
    assert (err["code"], err["message"]) == ("InvalidTag", "The TagValue you have provided is invalid")
    err = error(put, Bucket=bucket, Key="o", Tagging={"TagSet": [{"Key": "aws:owner", "Value": "me"}]})
    assert (err["code"], err["message"]) == ("InvalidTag", "Your TagKey cannot be prefixed with aws:")
    assert s3.get_object_tagging(Bucket=bucket, Key="o")["TagSet"] == []   # nothing was stored
    err = error(s3.get_object_tagging, Bucket=bucket, Key="missing")
    assert (err["code"], err["status"]) == ("NoSuchKey", 404)
    assert error(put, Bucket=bucket, Key="missing", Tagging={"TagSet": []})["code"] == "NoSuchKey"
    assert error(s3.delete_object_tagging, Bucket=bucket, Key="missing")["code"] == "NoSuchKey"
    err = error(s3.get_object_tagging, Bucket=bucket, Key="o", VersionId="nope")
    assert (err["code"], err["status"]) == ("InvalidArgument", 400)
    assert error(s3.get_object_tagging, Bucket=f"{bucket}-missing", Key="o")["code"] == "NoSuchBucket"


def test_bucket_tags(s3, bucket):
    err = error(s3.get_bucket_tagging, Bucket=bucket)
    assert (err["code"], err["status"], err["message"]) == ("NoSuchTagSet", 404, "The TagSet does not exist")
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set(50)})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tag_set(50)
    err = error(s3.put_bucket_tagging, Bucket=bucket, Tagging={"TagSet": tag_set(51)})
    assert (err["code"], err["status"], err["message"]) == (
        "BadRequest", 400, "Bucket tag count cannot be greater than 50")
    assert error(s3.put_bucket_tagging, Bucket=bucket, Tagging={"TagSet": [
        {"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]})["code"] == "InvalidTag"
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tag_set(50)   # unchanged by the refusals
    assert s3.delete_bucket_tagging(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert error(s3.get_bucket_tagging, Bucket=bucket)["code"] == "NoSuchTagSet"
    assert error(s3.get_bucket_tagging, Bucket=f"{bucket}-missing")["code"] == "NoSuchBucket"


def test_the_aws_cli_tags_an_object(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="cli", Body=b"x")
    server.cli("s3api", "put-object-tagging", "--bucket", bucket, "--key", "cli",
               "--tagging", json.dumps({"TagSet": [{"Key": "team", "Value": "blue"}]}))
    out = server.cli("s3api", "get-object-tagging", "--bucket", bucket, "--key", "cli")
    assert json.loads(out.stdout)["TagSet"] == [{"Key": "team", "Value": "blue"}]
