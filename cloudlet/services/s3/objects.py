"""S3 objects: their state layout, their records, and the headers a GET or HEAD answers with.

State layout (beside the bucket keys of buckets.py; names and keys are str elements, so a range
scan walks keys in UTF-8 byte order, which is S3's listing order):

    ("global", "s3", "object", bucket, key)
        the key's current version, a JSON record:
        {"v": version id ("null" until versioning exists), "size", "etag": MD5 hex (no quotes),
         "mtime": ms since the epoch, "blob": SHA-256 digest of the content in the blob store, or
         null when the bytes are inline, "type": Content-Type, "meta": {user metadata},
         "hdr": {CacheControl, ContentDisposition, ContentEncoding, ContentLanguage, Expires},
         "cks": [algorithm, base64 value] (the object's checksum), "ckt": "COMPOSITE" when that
         checksum is a multipart upload's checksum of its parts' checksums (absent: FULL_OBJECT),
         "tags": [[key, value], ...], "owner": account,
         and for an object made of several blobs (a completed multipart upload, or a copy of one):
         "parts": [[SHA-256 digest, size], ...] (the content is their concatenation; "blob" null),
         "mp": the part count when the object came from a multipart upload (its parts are
         "parts"; absent on a copy, which is one part as AWS sees it), "pcks": the parts'
         checksums (base64) when "ckt" is COMPOSITE}
    ("global", "s3", "data", bucket, key, version id)
        the bytes of an object of at most INLINE_MAX bytes: kept in the store beside its record
        (one commit) rather than as a blob file (a file, an fsync and a rename)

Versioning (a later increment) adds a record per version under ("global", "s3", "version",
bucket, key, version id) and keeps the current-version record above, so GETs and listings read
one key either way. A PUT's blob is fsynced and renamed into place (store/blobs.py) before the
record naming it commits, so an acknowledged PUT survives kill -9 and a record never names a
missing blob (multipart uploads: multipart.py, whose completion writes a record naming the
parts' blobs, so no byte is copied); a body whose upload broke off was only ever a temp file, removed at once or by the
blob store's temp sweep. Blobs are content-addressed and shared (CopyObject, identical uploads,
Lambda code packages of the same bytes), so deleting an object leaves its blob: blob_gc.py's
sweep deletes it once nothing names it (`held_blobs` says what S3 names).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from cloudlet.store import BlobStore
from cloudlet.store.base import Transaction, dumps_json
from cloudlet.store.keyspace import global_key

from .buckets import bucket_key, objects_prefix
from .errors import KeyTooLongError, NoSuchBucket, NoSuchKey

INLINE_MAX = 64 * 1024          # objects up to this size keep their bytes in the store
STREAM_CHUNK = 256 * 1024       # bytes per read of a blob streamed to a client
MAX_KEY_BYTES = 1024
NULL_VERSION = "null"

# Content headers stored with an object and answered on GET/HEAD, by output member name.
CONTENT_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")
# response-* query parameters of GetObject and the member each overrides.
OVERRIDES = {"ResponseCacheControl": "CacheControl", "ResponseContentDisposition": "ContentDisposition",
             "ResponseContentEncoding": "ContentEncoding", "ResponseContentLanguage": "ContentLanguage",
             "ResponseContentType": "ContentType", "ResponseExpires": "Expires"}
CHECKSUM_MEMBERS = {"CRC32": "ChecksumCRC32", "CRC32C": "ChecksumCRC32C", "CRC64NVME": "ChecksumCRC64NVME",
                    "SHA1": "ChecksumSHA1", "SHA256": "ChecksumSHA256", "SHA512": "ChecksumSHA512",
                    "MD5": "ChecksumMD5"}


def object_key(bucket: str, key: str) -> tuple:
    return objects_prefix(bucket) + (key,)


def data_key(bucket: str, key: str, version: str) -> tuple:
    return global_key("s3", "data", bucket, key, version)


def check_key(key: str) -> None:
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        raise KeyTooLongError("Your key is too long", Size=str(size), MaxSizeAllowed=str(MAX_KEY_BYTES))


def bucket_of(tx: Transaction, name: str, account: str) -> dict:
    """The bucket's record, if `account` owns it; NoSuchBucket otherwise."""
    raw = tx.get(bucket_key(name))
    record = json.loads(raw) if raw is not None else None
    if record is None or record["account"] != account:
        raise NoSuchBucket("The specified bucket does not exist", BucketName=name)
    return record


def load(tx: Transaction, bucket: str, key: str) -> dict | None:
    raw = tx.get(object_key(bucket, key))
    return json.loads(raw) if raw is not None else None


def load_existing(tx: Transaction, bucket: str, key: str) -> dict:
    record = load(tx, bucket, key)
    if record is None:
        raise NoSuchKey("The specified key does not exist.", Key=key)
    return record


def blob_digests(record: dict) -> list[str]:
    """The blobs an object (or an upload's part) record names: its one blob, or its parts'."""
    if record.get("parts"):
        return [digest for digest, _ in record["parts"]]
    return [record["blob"]] if record.get("blob") else []


def held_blobs(tx: Transaction) -> Iterator[str]:
    """Every blob that objects and the parts of uploads in progress name (blob_gc.py)."""
    for prefix in (global_key("s3", "object"), global_key("s3", "part")):
        for _, raw in tx.range(prefix):
            yield from blob_digests(json.loads(raw))


def is_inline(record: dict) -> bool:
    """Whether the object's bytes are in the store beside its record (not blobs)."""
    return record.get("blob") is None and not record.get("parts")


def save(tx: Transaction, bucket: str, key: str, record: dict, inline: bytes | None) -> None:
    """Make `record` the key's current version, with its bytes when they are inline."""
    old = load(tx, bucket, key)
    version = record.setdefault("v", NULL_VERSION)
    if inline is not None:
        tx.put(data_key(bucket, key, version), inline)
    elif old is not None and is_inline(old):
        tx.delete(data_key(bucket, key, old.get("v", NULL_VERSION)))
    tx.put(object_key(bucket, key), dumps_json(record))


def remove(tx: Transaction, bucket: str, key: str) -> bool:
    """Delete the key's current version; False if there was none."""
    old = load(tx, bucket, key)
    if old is None:
        return False
    if is_inline(old):
        tx.delete(data_key(bucket, key, old.get("v", NULL_VERSION)))
    tx.delete(object_key(bucket, key))
    return True


def now_ms() -> int:
    return int(time.time() * 1000)


def modified(record: dict) -> datetime:
    return datetime.fromtimestamp(record["mtime"] / 1000, UTC)


def modified_seconds(record: dict) -> int:
    """Last-Modified as HTTP dates carry it: whole seconds."""
    return int(record["mtime"] // 1000)


def quoted_etag(record: dict) -> str:
    return f'"{record["etag"]}"'


def checksum_fields(record: dict) -> dict[str, str]:
    """The object's checksum as output members (ChecksumCRC32=..., ChecksumType)."""
    algorithm, value = (record.get("cks") or ("", ""))[:2]
    if algorithm not in CHECKSUM_MEMBERS:
        return {}
    return {CHECKSUM_MEMBERS[algorithm]: str(value), "ChecksumType": checksum_type(record)}


def checksum_type(record: dict) -> str:
    return str(record.get("ckt") or "FULL_OBJECT")


def describe(record: dict, params: dict | None = None, *, checksum: bool = False) -> dict[str, Any]:
    """GetObject / HeadObject output members (less the body and range) of `record`, with the
    response-* overrides of `params`."""
    out: dict[str, Any] = {
        "AcceptRanges": "bytes", "LastModified": modified(record), "ContentLength": record["size"],
        "ETag": quoted_etag(record), "ContentType": record.get("type") or "binary/octet-stream",
    }
    headers = record.get("hdr") or {}
    for name in CONTENT_HEADERS:
        if headers.get(name):
            out[name] = headers[name]
    if headers.get("Expires"):
        out["Expires"] = datetime.fromisoformat(headers["Expires"])
    if record.get("meta"):
        out["Metadata"] = record["meta"]
    if record.get("tags"):
        out["TagCount"] = len(record["tags"])
    if record.get("v", NULL_VERSION) != NULL_VERSION:
        out["VersionId"] = record["v"]
    if checksum:
        out.update(checksum_fields(record))
    for param, member in OVERRIDES.items():
        if params and params.get(param) is not None:
            out[member] = params[param]
    return out


def segments(sizes: list[int], start: int, end: int) -> list[tuple[int, int, int]]:
    """The pieces of bytes `[start, end)` of a concatenation of parts of `sizes`: (part index,
    start, end) within each part that the range touches, in order."""
    out: list[tuple[int, int, int]] = []
    if start >= end:
        return out
    offset = 0
    for index, size in enumerate(sizes):
        if offset >= end:
            break
        if offset + size > start and size:
            out.append((index, max(start - offset, 0), min(end - offset, size)))
        offset += size
    return out


def part_bounds(record: dict, number: int) -> tuple[int, int]:
    """`[start, end)` of part `number` (1-based) of a multipart object."""
    sizes = [size for _, size in record["parts"]]
    start = sum(sizes[:number - 1])
    return start, start + sizes[number - 1]


def body(store_tx: Transaction, blobs: BlobStore, bucket: str, key: str, record: dict,
         start: int = 0, end: int | None = None) -> bytes | Iterator[bytes]:
    """Bytes `[start, end)` of the object: in memory when inline, else the blob (or the parts'
    blobs, one after the other) streamed in chunks (the HTTP server reads them off the event
    loop)."""
    if is_inline(record):
        data = store_tx.get(data_key(bucket, key, record.get("v", NULL_VERSION))) or b""
        return data[start:end]
    return blob_chunks(blobs, record, start, end)


def blob_chunks(blobs: BlobStore, record: dict, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """Bytes `[start, end)` of an object whose bytes are a blob or parts' blobs (not inline)."""
    if record.get("parts"):
        stop = record["size"] if end is None else min(end, record["size"])
        return _across(blobs, record["parts"], start, stop)
    return blobs.iter_chunks(record["blob"], STREAM_CHUNK, start, end)


def _across(blobs: BlobStore, parts: list, start: int, end: int) -> Iterator[bytes]:
    pieces = segments([size for _, size in parts], start, end)
    # Each iter_chunks checks its blob when called, so a missing one fails the request here,
    # before the status line goes out; the files open one at a time as the body streams.
    return itertools.chain.from_iterable(
        [blobs.iter_chunks(parts[i][0], STREAM_CHUNK, a, b) for i, a, b in pieces])


def read_all(store_tx: Transaction, blobs: BlobStore, bucket: str, key: str, record: dict) -> bytes:
    """The whole object in memory (small objects: Lambda code packages, copies of inline ones)."""
    if record.get("parts"):
        return b"".join(blob_chunks(blobs, record))
    if record.get("blob") is None:
        return store_tx.get(data_key(bucket, key, record.get("v", NULL_VERSION))) or b""
    return blobs.read(record["blob"])
