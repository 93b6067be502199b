"""Multipart uploads in progress: create, upload a part (or copy one), list parts, abort, list
uploads. Completion, which turns an upload into an object, is complete.py.

State layout (beside objects.py's; keys are str elements except the part number):

    ("global", "s3", "upload", bucket, key, upload id)
        an upload in progress: {"id", "initiated": ms since the epoch, "owner": account,
         "type", "meta", "hdr", "tags" (as an object record has them, from the create request),
         "alg": checksum algorithm or null, "ctype": "COMPOSITE" | "FULL_OBJECT" | null, "sc":
         storage class}. Upload ids start with the initiation time in hex, so the uploads of one
         key list in the order they were initiated, as AWS lists them.
    ("global", "s3", "part", bucket, upload id, part number)
        a part: {"size", "etag": MD5 hex, "blob": SHA-256 digest, "mtime", "cks": [algorithm,
         base64] (the checksum it came with, or that S3 computed: the upload's algorithm, else
         CRC64NVME), "crc64": base64 CRC64NVME (uploads without an algorithm, whose object gets
         the default full-object CRC64NVME, combined from these without reading a byte)}

Every part is a blob, fsynced and renamed into place before its record commits, so an upload
survives kill -9 and restart part by part. A part uploaded again under the same number replaces
the record; aborting, completing, or deleting the bucket deletes the records. The blobs stay:
they are content-addressed and may be shared (another part, an object, a Lambda package with
the same bytes): blob_gc.py's sweep deletes those nothing names any more (objects.held_blobs).
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from cloudlet.store import BlobStore, Store, checksums
from cloudlet.store.base import Transaction, dumps_json
from cloudlet.store.keyspace import global_key

from . import conditions, objects
from .copy import parse_source
from .errors import InvalidArgument, InvalidRequest, NoSuchUpload, PreconditionFailed
from .listing import encoder, successor
from .reads import check_version
from .upload import (
    ALGORITHMS,
    DEFAULT_CHECKSUM,
    content_fields,
    digest,
    keep,
    receive,
    requested_checksum,
    tags_of,
)

MAX_PARTS = 10000
MULTIPART_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
NO_SUCH_UPLOAD = ("The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
                  "aborted or completed.")
_PAST = True   # sorts after every str element (keys.py): (key, _PAST) is past all of key's uploads
_BATCH = 1000


def upload_key(bucket: str, key: str, upload_id: str) -> tuple:
    return global_key("s3", "upload", bucket, key, upload_id)


def uploads_prefix(bucket: str) -> tuple:
    return global_key("s3", "upload", bucket)


def parts_prefix(bucket: str, upload_id: str | None = None) -> tuple:
    return global_key("s3", "part", bucket) + (() if upload_id is None else (upload_id,))


def part_key(bucket: str, upload_id: str, number: int) -> tuple:
    return parts_prefix(bucket, upload_id) + (number,)


def new_upload_id() -> str:
    return f"{time.time_ns() // 1000:014x}" + secrets.token_urlsafe(48)


def load_upload(tx: Transaction, bucket: str, key: str, upload_id: str) -> dict:
    raw = tx.get(upload_key(bucket, key, upload_id))
    if raw is None:
        raise NoSuchUpload(NO_SUCH_UPLOAD, UploadId=upload_id)
    upload: dict = json.loads(raw)
    return upload


def load_parts(tx: Transaction, bucket: str, upload_id: str) -> dict[int, dict]:
    return {rel[0]: json.loads(value) for rel, value in
            tx.range(parts_prefix(bucket, upload_id), relative=True)}


def check_part_number(number: int | None) -> int:
    if not isinstance(number, int) or not 1 <= number <= MAX_PARTS:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive",
                              ArgumentName="partNumber", ArgumentValue=str(number))
    return number


def drop(tx: Transaction, bucket: str, key: str, upload_id: str) -> None:
    """Forget an upload and its parts' records (their blobs stay: see the module docstring)."""
    tx.delete(upload_key(bucket, key, upload_id))
    tx.delete_range(parts_prefix(bucket, upload_id))


def drop_bucket(tx: Transaction, bucket: str) -> None:
    """Forget every upload of a deleted bucket (AWS deletes a bucket whatever uploads it has)."""
    tx.delete_range(uploads_prefix(bucket))
    tx.delete_range(parts_prefix(bucket))


def checksum_settings(params: dict) -> tuple[str | None, str | None]:
    """(algorithm, checksum type) of a CreateMultipartUpload, validated as AWS does."""
    algorithm = (params.get("ChecksumAlgorithm") or "").upper() or None
    kind = (params.get("ChecksumType") or "").upper() or None
    if algorithm is not None and algorithm not in MULTIPART_ALGORITHMS:
        raise InvalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the valid "
                             "types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
    if kind is not None and algorithm is None:
        raise InvalidRequest("The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm "
                             "header.")
    if kind is not None and kind not in ("COMPOSITE", "FULL_OBJECT"):
        raise InvalidRequest("Value for x-amz-checksum-type header is invalid.")
    if algorithm is None:
        return None, None
    kind = kind or ("FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE")
    if kind == "COMPOSITE" and algorithm == "CRC64NVME":
        raise InvalidRequest("The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")
    if kind == "FULL_OBJECT" and algorithm.startswith("SHA"):
        raise InvalidRequest(f"The FULL_OBJECT checksum type cannot be used with the {algorithm.lower()} checksum "
                             "algorithm.")
    return algorithm, kind


def create(store: Store, account: str, params: dict) -> dict:
    bucket, key = params["Bucket"], params["Key"]
    objects.check_key(key)
    algorithm, kind = checksum_settings(params)
    upload_id = new_upload_id()
    record = {"id": upload_id, "initiated": objects.now_ms(), "owner": account, **content_fields(params),
              "tags": tags_of(params.get("Tagging")), "alg": algorithm, "ctype": kind,
              "sc": params.get("StorageClass") or "STANDARD"}
    with store.transaction() as tx:
        objects.bucket_of(tx, bucket, account)
        tx.put(upload_key(bucket, key, upload_id), dumps_json(record))
    out: dict[str, Any] = {"Bucket": bucket, "Key": key, "UploadId": upload_id}
    if algorithm:
        out.update({"ChecksumAlgorithm": algorithm, "ChecksumType": kind})
    return out


def _part_checksum_output(part: dict) -> dict[str, str]:
    algorithm, value = part["cks"]
    return {objects.CHECKSUM_MEMBERS[algorithm]: value}


def upload_part(store: Store, blobs: BlobStore, account: str, params: dict, content_md5: str | None) -> dict:
    """Check and keep one part's body; UploadPart's output."""
    bucket, key, upload_id = params["Bucket"], params["Key"], params["UploadId"]
    with store.transaction(write=False) as tx:
        objects.bucket_of(tx, bucket, account)
        upload = load_upload(tx, bucket, key, upload_id)
    number = check_part_number(params.get("PartNumber"))
    algorithm = upload.get("alg")
    given = requested_checksum(params)
    if algorithm and given and given[0] != algorithm:
        raise InvalidRequest(f"Checksum Type mismatch occurred, expected checksum Type: {algorithm.lower()}, "
                             f"actual checksum Type: {given[0].lower()}")
    payload = receive(params.get("Body"), params, content_md5, default=algorithm or DEFAULT_CHECKSUM)
    part: dict[str, Any] = {"size": payload.size, "etag": payload.md5.hex(), "cks": list(payload.checksum)}
    if algorithm is None:
        part["crc64"] = (payload.checksum[1] if payload.checksum[0] == "CRC64NVME"
                         else checksums.b64(digest(payload, "crc64nvme")))
    part["blob"] = blobs.put(payload.data) if payload.data is not None else keep(payload.spooled)
    _record_part(store, account, bucket, key, upload_id, number, part)
    out = {"ETag": f'"{part["etag"]}"'}
    if algorithm or given:
        out.update(_part_checksum_output(part))
    return out


def _record_part(store: Store, account: str, bucket: str, key: str, upload_id: str, number: int,
                 part: dict) -> None:
    with store.transaction() as tx:
        objects.bucket_of(tx, bucket, account)
        load_upload(tx, bucket, key, upload_id)   # not aborted or completed meanwhile
        part["mtime"] = objects.now_ms()
        tx.put(part_key(bucket, upload_id, number), dumps_json(part))


def copy_range(header: str | None, size: int) -> tuple[int, int]:
    """`[start, end)` of an x-amz-copy-source-range (`bytes=first-last`, both required) over a
    source of `size` bytes; the whole source without one."""
    if header is None:
        return 0, size
    first, sep, last = header.strip().removeprefix("bytes=").partition("-")
    if not header.strip().startswith("bytes=") or not sep or not first.isdigit() or not last.isdigit() \
            or int(first) > int(last):
        raise InvalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last where first "
                              "and last are the zero-based offsets of the first and last bytes to copy",
                              ArgumentName="x-amz-copy-source-range", ArgumentValue=header)
    if int(last) >= size:
        raise InvalidArgument(f"Range specified is not valid for source object of size: {size}",
                              ArgumentName="x-amz-copy-source-range", ArgumentValue=header)
    return int(first), int(last) + 1


def upload_part_copy(store: Store, blobs: BlobStore, account: str, params: dict) -> dict:
    """A part made of (a range of) an existing object: its bytes written as a new blob."""
    bucket, key, upload_id = params["Bucket"], params["Key"], params["UploadId"]
    src_bucket, src_key, version = parse_source(params["CopySource"])
    with store.transaction(write=False) as tx:
        objects.bucket_of(tx, bucket, account)
        upload = load_upload(tx, bucket, key, upload_id)
        number = check_part_number(params.get("PartNumber"))
        objects.bucket_of(tx, src_bucket, account)
        source = objects.load_existing(tx, src_bucket, src_key)
        if version is not None:
            check_version({"VersionId": version}, source)
        conditions.check_read(params, source["etag"], objects.modified_seconds(source), time.time(),
                              prefix="CopySource")
        start, end = copy_range(params.get("CopySourceRange"), source["size"])
        chunks = objects.body(tx, blobs, src_bucket, src_key, source, start, end)
    algorithm = upload.get("alg")
    name = ALGORITHMS[algorithm or DEFAULT_CHECKSUM]
    names = ("md5", name) if name == "crc64nvme" or algorithm else ("md5", name, "crc64nvme")
    with blobs.writer(names) as writer:   # outside the transaction: a large copy takes a while
        for chunk in [chunks] if isinstance(chunks, bytes) else chunks:
            writer.write(chunk)
        found = writer.digests()
        blob, size = writer.commit()
    part: dict[str, Any] = {"size": size, "etag": found["md5"].hex(), "blob": blob,
                            "cks": [algorithm or DEFAULT_CHECKSUM, checksums.b64(found[name])]}
    if algorithm is None:
        part["crc64"] = checksums.b64(found["crc64nvme"])
    _record_part(store, account, bucket, key, upload_id, number, part)
    result: dict[str, Any] = {"ETag": f'"{part["etag"]}"', "LastModified": _at(part["mtime"])}
    if algorithm:
        result.update(_part_checksum_output(part))
    out: dict[str, Any] = {"CopyPartResult": result}
    if source.get("v", objects.NULL_VERSION) != objects.NULL_VERSION:
        out["CopySourceVersionId"] = source["v"]
    return out


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def abort(store: Store, account: str, params: dict) -> dict:
    bucket, key, upload_id = params["Bucket"], params["Key"], params["UploadId"]
    with store.transaction() as tx:
        objects.bucket_of(tx, bucket, account)
        upload = load_upload(tx, bucket, key, upload_id)
        initiated = params.get("IfMatchInitiatedTime")
        if initiated is not None and int(initiated.timestamp()) != upload["initiated"] // 1000:
            raise PreconditionFailed(conditions.PRECONDITION_MESSAGE, Condition="x-amz-if-match-initiated-time")
        drop(tx, bucket, key, upload_id)
    return {}


def _limit(params: dict, member: str, argument: str) -> int:
    value = params.get(member)
    if value is None:
        return 1000
    if not 0 <= value <= 2147483647:
        raise InvalidArgument(f"Argument {argument} must be an integer between 0 and 2147483647",
                              ArgumentName=argument, ArgumentValue=str(value))
    return int(min(value, 1000))


def list_parts(store: Store, account: str, params: dict, owner: dict) -> dict:
    bucket, key, upload_id = params["Bucket"], params["Key"], params["UploadId"]
    limit = _limit(params, "MaxParts", "max-parts")
    marker = params.get("PartNumberMarker") or 0
    with store.transaction(write=False) as tx:
        objects.bucket_of(tx, bucket, account)
        upload = load_upload(tx, bucket, key, upload_id)
        prefix = parts_prefix(bucket, upload_id)
        rows = tx.range(prefix, after=(*prefix, marker) if marker else None, limit=limit + 1, relative=True)
    parts = []
    for rel, value in rows[:limit]:
        part = json.loads(value)
        item = {"PartNumber": rel[0], "LastModified": _at(part["mtime"]), "ETag": f'"{part["etag"]}"',
                "Size": part["size"]}
        if upload.get("alg"):
            item.update(_part_checksum_output(part))
        parts.append(item)
    out: dict[str, Any] = {
        "Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumberMarker": marker,
        "NextPartNumberMarker": parts[-1]["PartNumber"] if parts else 0, "MaxParts": params.get("MaxParts", 1000),
        "IsTruncated": len(rows) > limit, "Parts": parts, "Initiator": owner, "Owner": owner,
        "StorageClass": upload.get("sc") or "STANDARD",
    }
    if upload.get("alg"):
        out.update({"ChecksumAlgorithm": upload["alg"], "ChecksumType": upload["ctype"]})
    return out


def list_uploads(store: Store, account: str, params: dict, owner: dict) -> dict:
    """ListMultipartUploads: uploads in key order (a key's in initiation order), rolled up into
    common prefixes at the delimiter, paged by key-marker and upload-id-marker."""
    bucket = params["Bucket"]
    prefix, delimiter = params.get("Prefix") or "", params.get("Delimiter") or ""
    key_marker, id_marker = params.get("KeyMarker") or "", params.get("UploadIdMarker") or ""
    limit, enc = _limit(params, "MaxUploads", "max-uploads"), encoder(params)
    base = uploads_prefix(bucket)
    after: tuple | None = None
    if key_marker:
        after = (*base, key_marker, id_marker or _PAST)
    start: tuple | None = (*base, prefix) if prefix else None    # the store narrows by both
    uploads: list[dict] = []
    common: list[str] = []
    last: tuple[str, str] | None = None     # (key or common prefix, upload id or "")
    truncated = False
    with store.transaction(write=False) as tx:
        objects.bucket_of(tx, bucket, account)
        done = False
        while not done:
            rows = tx.range(base, start=start, after=after, limit=_BATCH, relative=True)
            if not rows:
                break
            jumped = False
            for (key, upload_id), value in rows:
                if not key.startswith(prefix):
                    done = True
                    break
                cut = key.find(delimiter, len(prefix)) if delimiter else -1
                if cut >= 0:
                    rolled = key[:cut + len(delimiter)]
                    if not key_marker.startswith(rolled):
                        if len(uploads) + len(common) == limit:
                            truncated = done = True
                            break
                        common.append(rolled)
                        last = (rolled, "")
                    nxt = successor(rolled)
                    if nxt is None:
                        done = True
                        break
                    start, after, jumped = (*base, nxt), None, True
                    break
                if len(uploads) + len(common) == limit:
                    truncated = done = True
                    break
                uploads.append(_upload_entry(key, json.loads(value), enc, owner))
                last = (key, upload_id)
            if not done and not jumped:
                if len(rows) < _BATCH:
                    break
                start, after = None, (*base, *rows[-1][0])
    out: dict[str, Any] = {
        "Bucket": bucket, "KeyMarker": enc(key_marker), "UploadIdMarker": id_marker if key_marker else "",
        "NextKeyMarker": enc(last[0]) if last else "", "NextUploadIdMarker": last[1] if last else "",
        "MaxUploads": params.get("MaxUploads", 1000), "IsTruncated": truncated, "Uploads": uploads,
        "CommonPrefixes": [{"Prefix": enc(p)} for p in common],
    }
    if prefix:
        out["Prefix"] = enc(prefix)
    if delimiter:
        out["Delimiter"] = enc(delimiter)
    if params.get("EncodingType"):
        out["EncodingType"] = params["EncodingType"]
    return out


def _upload_entry(key: str, upload: dict, enc: Any, owner: dict) -> dict:
    entry = {"UploadId": upload["id"], "Key": enc(key), "Initiated": _at(upload["initiated"]),
             "StorageClass": upload.get("sc") or "STANDARD", "Owner": owner, "Initiator": owner}
    if upload.get("alg"):
        entry.update({"ChecksumAlgorithm": upload["alg"], "ChecksumType": upload["ctype"]})
    return entry
