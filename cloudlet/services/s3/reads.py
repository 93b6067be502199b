"""GetObject and HeadObject: the stored headers, conditions, a byte range or part, the body."""

from __future__ import annotations

import time
from typing import Any

from cloudlet.protocol.values import format_timestamp
from cloudlet.store import BlobStore, Store

from . import conditions, objects
from .errors import InvalidArgument, InvalidPartNumber, InvalidRequest


def check_version(params: dict, record: dict) -> None:
    """Without versioning only the null version exists."""
    version = params.get("VersionId")
    if version is not None and version != record.get("v", objects.NULL_VERSION):
        raise InvalidArgument("Invalid version id specified", ArgumentName="versionId", ArgumentValue=version)


def _part_range(params: dict, size: int) -> tuple[int, int] | None:
    """The byte range of `PartNumber` (every object is one part until multipart uploads exist)."""
    part = params["PartNumber"]
    if params.get("Range"):
        raise InvalidRequest("Cannot specify both Range header and partNumber query parameter")
    if not 1 <= part <= 10000:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive",
                              ArgumentName="partNumber", ArgumentValue=str(part))
    if part > 1:
        raise InvalidPartNumber("The requested partnumber is not satisfiable", PartNumberRequested=str(part),
                                ActualPartCount="1")
    return (0, size) if size else None


def read(store: Store, blobs: BlobStore, account: str, params: dict, *, head: bool) -> dict[str, Any]:
    """GetObject's (or, with `head`, HeadObject's) output for `params`."""
    bucket, key = params["Bucket"], params["Key"]
    with store.transaction(write=False) as tx:
        objects.bucket_of(tx, bucket, account)
        record = objects.load_existing(tx, bucket, key)
        check_version(params, record)
        etag, seconds = record["etag"], objects.modified_seconds(record)
        not_modified = {"ETag": objects.quoted_etag(record),
                        "Last-Modified": str(format_timestamp(objects.modified(record), "rfc822"))}
        conditions.check_read(params, etag, seconds, time.time(), not_modified)
        size = record["size"]
        span = (_part_range(params, size) if params.get("PartNumber") is not None
                else conditions.byte_range(params.get("Range"), size))
        enabled = (params.get("ChecksumMode") or "").upper() == "ENABLED"
        out = objects.describe(record, params, checksum=enabled and (span is None or span == (0, size)))
        if span is not None:
            start, end = span
            out["ContentRange"] = conditions.content_range(start, end, size)
            out["ContentLength"] = end - start
        if not head:
            start, end = span if span is not None else (0, size)
            out["Body"] = objects.body(tx, blobs, bucket, key, record, start, end)
    return out
