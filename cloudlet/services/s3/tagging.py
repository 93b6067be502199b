"""Object and bucket tags: Put/Get/DeleteObjectTagging and Put/Get/DeleteBucketTagging.

An object's tags live in its record (`"tags": [[key, value], ...]`, objects.py), where PutObject's
x-amz-tagging header and CopyObject put them too; a bucket's in its record (buckets.py), in the
order given. S3's rules: at most 10 tags on an object and 50 on a bucket, keys of 1-128 and values
of 0-256 characters, no key twice, none starting with `aws:`.
"""

from __future__ import annotations

from typing import Any

from cloudlet.store import Store
from cloudlet.store.base import dumps_json

from . import objects
from .buckets import bucket_key
from .errors import BadRequest, InvalidTag, NoSuchTagSet
from .reads import check_version

OBJECT_MAX, BUCKET_MAX = 10, 50


def check_tag_set(tag_set: list[dict], *, bucket: bool) -> list[list[str]]:
    """A Tagging input's TagSet as [[key, value], ...], refused as S3 refuses it."""
    if bucket and len(tag_set) > BUCKET_MAX:
        raise BadRequest(f"Bucket tag count cannot be greater than {BUCKET_MAX}")
    if not bucket and len(tag_set) > OBJECT_MAX:
        raise BadRequest(f"Object tags cannot be greater than {OBJECT_MAX}")
    seen: set[str] = set()
    tags = []
    for tag in tag_set:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not 1 <= len(key) <= 128:
            raise InvalidTag("The TagKey you have provided is invalid")
        if len(value) > 256:
            raise InvalidTag("The TagValue you have provided is invalid")
        if key.lower().startswith("aws:"):
            raise InvalidTag("Your TagKey cannot be prefixed with aws:")
        if key in seen:
            raise InvalidTag("Cannot provide multiple Tags with the same key")
        seen.add(key)
        tags.append([key, value])
    return tags


def _tag_set(tags: list[list[str]]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags]


def _version(record: dict) -> dict[str, str]:
    version = record.get("v", objects.NULL_VERSION)
    return {} if version == objects.NULL_VERSION else {"VersionId": version}


def _set_object_tags(store: Store, account: str, params: dict, tags: list[list[str]]) -> dict:
    bucket, key = params["Bucket"], params["Key"]
    with store.transaction() as tx:
        objects.bucket_of(tx, bucket, account)
        record = objects.load_existing(tx, bucket, key)
        check_version(params, record)
        record["tags"] = tags
        tx.put(objects.object_key(bucket, key), dumps_json(record))   # (the bytes stay as they are)
    return _version(record)


def put_object_tagging(store: Store, account: str, params: dict) -> dict:
    tags = check_tag_set((params.get("Tagging") or {}).get("TagSet") or [], bucket=False)
    return _set_object_tags(store, account, params, tags)


def delete_object_tagging(store: Store, account: str, params: dict) -> dict:
    return _set_object_tags(store, account, params, [])


def get_object_tagging(store: Store, account: str, params: dict) -> dict:
    bucket, key = params["Bucket"], params["Key"]
    with store.transaction(write=False) as tx:
        objects.bucket_of(tx, bucket, account)
        record = objects.load_existing(tx, bucket, key)
    check_version(params, record)
    return {**_version(record), "TagSet": _tag_set(record.get("tags") or [])}


def _update_bucket(store: Store, account: str, name: str, tags: list[list[str]] | None) -> dict[str, Any]:
    with store.transaction() as tx:
        record = objects.bucket_of(tx, name, account)
        if tags:
            record["tags"] = tags
        else:
            record.pop("tags", None)
        tx.put(bucket_key(name), dumps_json(record))
    return {}


def put_bucket_tagging(store: Store, account: str, params: dict) -> dict:
    tags = check_tag_set((params.get("Tagging") or {}).get("TagSet") or [], bucket=True)
    return _update_bucket(store, account, params["Bucket"], tags)


def delete_bucket_tagging(store: Store, account: str, params: dict) -> dict:
    return _update_bucket(store, account, params["Bucket"], None)


def get_bucket_tagging(store: Store, account: str, params: dict) -> dict:
    name = params["Bucket"]
    with store.transaction(write=False) as tx:
        record = objects.bucket_of(tx, name, account)
    if not record.get("tags"):
        raise NoSuchTagSet("The TagSet does not exist", BucketName=name)
    return {"TagSet": _tag_set(record["tags"])}
