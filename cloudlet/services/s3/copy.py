"""CopyObject: a new record for the destination naming the source's blob (no bytes copied; inline
bytes are small), with the source's metadata (COPY) or the request's (REPLACE)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote

from cloudlet.store import BlobNotFound, BlobStore, Store, checksums

from . import conditions, objects
from .errors import InvalidArgument, InvalidRequest, NoSuchKey
from .reads import check_version
from .upload import ALGORITHMS, content_fields, tags_of

MAX_COPY = 5 * 1024 ** 3
SELF_COPY = ("This copy request is illegal because it is trying to copy an object to itself without changing "
             "the object's metadata, storage class, website redirect location or encryption attributes.")


def parse_source(value: str) -> tuple[str, str, str | None]:
    """(bucket, key, version id) of x-amz-copy-source: `bucket/key` or `/bucket/key`, URL-encoded,
    optionally `?versionId=...`."""
    source, _, query = value.partition("?")
    version = None
    if query:
        for part in query.split("&"):
            name, _, v = part.partition("=")
            if name == "versionId":
                version = unquote(v)
    bucket, _, key = unquote(source).lstrip("/").partition("/")
    if not bucket or not key:
        raise InvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
                              ArgumentName="x-amz-copy-source", ArgumentValue=value)
    return bucket, key, version


def copy_object(store: Store, blobs: BlobStore, account: str, params: dict) -> dict:
    bucket, key = params["Bucket"], params["Key"]
    objects.check_key(key)
    src_bucket, src_key, version = parse_source(params["CopySource"])
    directive = (params.get("MetadataDirective") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument("Unknown metadata directive.", ArgumentName="x-amz-metadata-directive",
                              ArgumentValue=params["MetadataDirective"])
    tagging = (params.get("TaggingDirective") or "COPY").upper()
    if tagging not in ("COPY", "REPLACE"):
        raise InvalidArgument("Unknown tagging directive.", ArgumentName="x-amz-tagging-directive",
                              ArgumentValue=params["TaggingDirective"])
    with store.transaction(write=False) as tx:
        objects.bucket_of(tx, src_bucket, account)
        source = objects.load_existing(tx, src_bucket, src_key)
        if source["size"] > MAX_COPY:
            raise InvalidRequest("The specified copy source is larger than the maximum allowable size for a copy "
                                 f"source: {MAX_COPY}")
        if version is not None:
            check_version({"VersionId": version}, source)
        conditions.check_read(params, source["etag"], objects.modified_seconds(source), time.time(),
                              prefix="CopySource")
        objects.bucket_of(tx, bucket, account)
        same = (src_bucket, src_key) == (bucket, key)
        if same and directive != "REPLACE" and not _changes_storage(params):
            raise InvalidRequest(SELF_COPY)
        inline = objects.read_all(tx, blobs, src_bucket, src_key, source) if objects.is_inline(source) else None
    record: dict[str, Any] = {k: source[k] for k in ("size", "etag", "blob", "cks", "parts") if k in source}
    if source.get("parts"):
        _as_one_part(blobs, source, record)
    record.update({"v": objects.NULL_VERSION, "owner": account})
    if directive == "REPLACE":
        record.update(content_fields(params))
    else:
        record.update({k: source.get(k) for k in ("type", "meta", "hdr")})
    record["tags"] = tags_of(params.get("Tagging")) if tagging == "REPLACE" else source.get("tags", [])
    wanted = (params.get("ChecksumAlgorithm") or "").upper()
    if wanted and wanted in ALGORITHMS and wanted != (source.get("cks") or [None])[0]:
        record["cks"] = [wanted, _checksum_of(blobs, source, inline, ALGORITHMS[wanted])]
    try:  # the source may be deleted before this commits: its blobs stay out of a sweep meanwhile
        for digest in objects.blob_digests(record):
            blobs.hold(digest)
    except BlobNotFound:
        raise NoSuchKey("The specified key does not exist.", Key=src_key) from None
    with store.transaction() as tx:
        objects.bucket_of(tx, bucket, account)
        if params.get("IfNoneMatch") is not None or params.get("IfMatch") is not None:
            existing = objects.load(tx, bucket, key)
            conditions.check_write(params, existing["etag"] if existing else None, key)
        record["mtime"] = objects.now_ms()
        objects.save(tx, bucket, key, record, inline)
    result = {"ETag": objects.quoted_etag(record), "LastModified": objects.modified(record)}
    result.update(objects.checksum_fields(record))
    out: dict[str, Any] = {"CopyObjectResult": result}
    if source.get("v", objects.NULL_VERSION) != objects.NULL_VERSION:
        out["CopySourceVersionId"] = source["v"]
    return out


def _as_one_part(blobs: BlobStore, source: dict, record: dict) -> None:
    """A copy of a multipart upload's object names the same blobs, but is one object as AWS sees
    it: the MD5 of its bytes as ETag, a full-object checksum (read once, nothing written)."""
    algorithm = (source.get("cks") or [None])[0]
    names = ["md5"]
    if algorithm in ALGORITHMS and source.get("ckt") == "COMPOSITE":
        names.append(ALGORITHMS[algorithm])
    hashers = {name: checksums.new(name) for name in names}
    for chunk in objects.blob_chunks(blobs, source):
        for h in hashers.values():
            h.update(chunk)
    record["etag"] = hashers["md5"].digest().hex()
    if len(names) > 1:
        record["cks"] = [algorithm, checksums.b64(hashers[names[1]].digest())]


def _changes_storage(params: dict) -> bool:
    """What else makes a copy onto itself legal: a storage class, website redirect or encryption."""
    return any(params.get(m) for m in ("StorageClass", "WebsiteRedirectLocation", "ServerSideEncryption",
                                        "SSEKMSKeyId", "SSECustomerAlgorithm"))


def _checksum_of(blobs: BlobStore, source: dict, inline: bytes | None, name: str) -> str:
    h = checksums.new(name)
    if inline is not None:
        h.update(inline)
    else:
        for chunk in objects.blob_chunks(blobs, source):
            h.update(chunk)
    return checksums.b64(h.digest())
