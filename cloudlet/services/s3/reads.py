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


def _part_range(params: dict, record: dict) -> tuple[int, int] | None:
    """The byte range of `PartNumber`: a part of a multipart upload's object, else the whole
    object as its one part."""
    part, size = params["PartNumber"], record["size"]
    if params.get("Range"):
        raise InvalidRequest("Cannot specify both Range header and partNumber query parameter")
    if not 1 <= part <= 10000:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive",
                              ArgumentName="partNumber", ArgumentValue=str(part))
    count = record.get("mp") or 1
    if part > count:
        raise InvalidPartNumber("The requested partnumber is not satisfiable", PartNumberRequested=str(part),
                                ActualPartCount=str(count))
    if record.get("mp"):
        return objects.part_bounds(record, part)
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
        by_part = params.get("PartNumber") is not None
        span = _part_range(params, record) if by_part else conditions.byte_range(params.get("Range"), size)
        enabled = (params.get("ChecksumMode") or "").upper() == "ENABLED"
        whole = span is None or (span == (0, size) and not record.get("mp"))
        out = objects.describe(record, params, checksum=enabled and whole)
        if by_part and record.get("mp"):
            out["PartsCount"] = record["mp"]
            if enabled and record.get("pcks"):
                algorithm = record["cks"][0]
                out[objects.CHECKSUM_MEMBERS[algorithm]] = record["pcks"][params["PartNumber"] - 1]
                out["ChecksumType"] = "COMPOSITE"
        if span is not None:
            start, end = span
            out["ContentRange"] = conditions.content_range(start, end, size)
            out["ContentLength"] = end - start
        if not head:
            start, end = span if span is not None else (0, size)
            out["Body"] = objects.body(tx, blobs, bucket, key, record, start, end)
    return out


ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")


def attributes(store: Store, account: str, params: dict) -> dict[str, Any]:
    """GetObjectAttributes: the attributes asked for (ObjectParts of a multipart upload's object,
    with the parts' checksums when its checksum is COMPOSITE)."""
    bucket, key = params["Bucket"], params["Key"]
    wanted = params.get("ObjectAttributes") or []
    if not wanted or any(name not in ATTRIBUTES for name in wanted):
        raise InvalidArgument("Invalid attribute name specified.", ArgumentName="x-amz-object-attributes",
                              ArgumentValue=", ".join(wanted))
    with store.transaction(write=False) as tx:
        objects.bucket_of(tx, bucket, account)
        record = objects.load_existing(tx, bucket, key)
        check_version(params, record)
    out: dict[str, Any] = {"LastModified": objects.modified(record)}
    if record.get("v", objects.NULL_VERSION) != objects.NULL_VERSION:
        out["VersionId"] = record["v"]
    if "ETag" in wanted:
        out["ETag"] = record["etag"]
    if "StorageClass" in wanted:
        out["StorageClass"] = "STANDARD"
    if "ObjectSize" in wanted:
        out["ObjectSize"] = record["size"]
    if "Checksum" in wanted and record.get("cks"):
        out["Checksum"] = objects.checksum_fields(record)
    if "ObjectParts" in wanted and record.get("mp"):
        out["ObjectParts"] = _object_parts(record, params)
    return out


def _object_parts(record: dict, params: dict) -> dict[str, Any]:
    marker = params.get("PartNumberMarker") or 0
    limit = params.get("MaxParts")
    limit = 1000 if limit is None else max(0, min(int(limit), 1000))
    member = objects.CHECKSUM_MEMBERS[record["cks"][0]] if record.get("pcks") else None
    numbers = list(range(marker + 1, record["mp"] + 1))
    parts = []
    for number in numbers[:limit]:
        item: dict[str, Any] = {"PartNumber": number, "Size": record["parts"][number - 1][1]}
        if member is not None:
            item[member] = record["pcks"][number - 1]
        parts.append(item)
    return {"TotalPartsCount": record["mp"], "PartNumberMarker": marker,
            "NextPartNumberMarker": parts[-1]["PartNumber"] if parts else marker,
            "MaxParts": params.get("MaxParts", 1000), "IsTruncated": len(numbers) > limit, "Parts": parts}
