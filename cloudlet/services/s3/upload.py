"""PutObject: a body checked against its Content-MD5 and flexible checksum, kept, and recorded.

The body comes as bytes (small requests) or as a `TempBlob` the gateway spooled to the blob
store's temp area while it arrived, its MD5 and checksum computed on the way (gateway/body.py).
Bytes up to INLINE_MAX stay in the store with the record; anything larger becomes a blob (a
rename of the spooled file, or a write of the bytes), fsynced before the record commits.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from cloudlet.protocol.http import SpooledPayload
from cloudlet.store import BlobStore, Store, checksums

from . import conditions, objects
from .errors import BadDigest, InvalidArgument, InvalidDigest, InvalidRequest, NotImplementedHeader

ALGORITHMS = {"CRC32": "crc32", "CRC32C": "crc32c", "CRC64NVME": "crc64nvme", "SHA1": "sha1",
              "SHA256": "sha256", "SHA512": "sha512", "MD5": "md5"}
UNSUPPORTED = {"ChecksumXXHASH64": "xxhash64", "ChecksumXXHASH3": "xxhash3", "ChecksumXXHASH128": "xxhash128"}
DEFAULT_CHECKSUM = "CRC64NVME"


@dataclass(slots=True)
class Payload:
    """A request body, checked: its size, MD5, checksum, and where its bytes are."""

    size: int
    md5: bytes
    checksum: tuple[str, str]           # (algorithm, base64 value)
    data: bytes | None                  # the bytes, when they came in memory
    spooled: SpooledPayload | None      # else the spooled file


def requested_checksum(params: dict) -> tuple[str, str] | None:
    """The (algorithm, base64 value) of the request's x-amz-checksum-* header, validated."""
    for member in UNSUPPORTED:
        if params.get(member) is not None:
            raise NotImplementedHeader("A header you provided implies functionality that is not implemented",
                                       Header=f"x-amz-checksum-{UNSUPPORTED[member]}")
    given = [(algorithm, params[member]) for algorithm, member in objects.CHECKSUM_MEMBERS.items()
             if params.get(member) is not None]
    if len(given) > 1:
        raise InvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
    named = (params.get("ChecksumAlgorithm") or "").upper()
    if not given:
        if named and named not in ALGORITHMS:
            raise InvalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the "
                                 "valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
        return None
    algorithm, value = given[0]
    size = len(checksums.new(ALGORITHMS[algorithm]).digest())
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise InvalidRequest(f"Value for x-amz-checksum-{algorithm.lower()} header is invalid.")
    return algorithm, value


def check_content_md5(header: str | None, md5: bytes) -> None:
    if header is None:
        return
    try:
        expected = base64.b64decode(header, validate=True)
    except (binascii.Error, ValueError):
        expected = b""
    if len(expected) != 16:
        raise InvalidDigest("The Content-MD5 you specified is not valid.")
    if expected != md5:
        raise BadDigest("The Content-MD5 you specified did not match what we received.",
                        ExpectedDigest=header, CalculatedDigest=base64.b64encode(md5).decode())


def receive(body: Any, params: dict, content_md5: str | None, default: str = DEFAULT_CHECKSUM) -> Payload:
    """The request body checked against Content-MD5 and the x-amz-checksum-* it came with; its
    checksum is that algorithm's, else `default`'s."""
    wanted = requested_checksum(params)
    algorithm = wanted[0] if wanted else default
    name = ALGORITHMS[algorithm]
    if body is None or isinstance(body, (bytes, bytearray)):
        data = bytes(body or b"")
        md5 = hashlib.md5(data).digest()
        digest = md5 if name == "md5" else checksums.compute((name,), data)[name]
        payload = Payload(len(data), md5, (algorithm, checksums.b64(digest)), data, None)
    else:
        found = dict(getattr(body, "digests", {}) or {})
        if "md5" not in found or name not in found:
            found.update(_digests_of(body, ("md5", name)))
        payload = Payload(body.size, found["md5"], (algorithm, checksums.b64(found[name])), None, body)
    check_content_md5(content_md5, payload.md5)
    if wanted is not None and wanted[1] != payload.checksum[1]:
        raise BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")
    return payload


def digest(payload: Payload, name: str) -> bytes:
    """One more digest of a received body (store/checksums.py name), reading it again."""
    if payload.data is not None:
        return checksums.compute((name,), payload.data)[name]
    return _digests_of(payload.spooled, (name,))[name]


def _digests_of(spooled: Any, names: tuple[str, ...]) -> dict[str, bytes]:
    hashers = {n: checksums.new(n) for n in names}
    spooled.seek(0)
    while chunk := spooled.read(1 << 20):
        for h in hashers.values():
            h.update(chunk)
    return {n: h.digest() for n, h in hashers.items()}


def tags_of(header: str | None) -> list[list[str]]:
    """x-amz-tagging (a URL query string) as [[key, value], ...]."""
    if not header:
        return []
    pairs = parse_qsl(header, keep_blank_values=True)
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise InvalidArgument("Cannot provide multiple Tags with the same key", ArgumentName="x-amz-tagging")
    if len(pairs) > 10:
        raise InvalidArgument("Object tags cannot be greater than 10", ArgumentName="x-amz-tagging")
    return [[k, v] for k, v in pairs]


def content_fields(params: dict) -> dict[str, Any]:
    """The record fields a PUT (or a copy with REPLACE) sets from its headers."""
    hdr = {name: params[name] for name in objects.CONTENT_HEADERS if params.get(name)}
    if params.get("Expires") is not None:
        hdr["Expires"] = params["Expires"].isoformat()
    return {"type": params.get("ContentType") or "binary/octet-stream", "meta": params.get("Metadata") or {},
            "hdr": hdr}


def put_object(store: Store, blobs: BlobStore, account: str, params: dict, content_md5: str | None) -> dict:
    """Check, keep and record the object; PutObject's output."""
    bucket, key = params["Bucket"], params["Key"]
    objects.check_key(key)
    with store.transaction(write=False) as tx:  # refuse before the bytes are kept; again at commit
        _check(tx, bucket, key, account, params)
    payload = receive(params.get("Body"), params, content_md5)
    record: dict[str, Any] = {"v": objects.NULL_VERSION, "size": payload.size, "etag": payload.md5.hex(),
                              **content_fields(params), "cks": list(payload.checksum),
                              "tags": tags_of(params.get("Tagging")), "owner": account}
    inline: bytes | None = None
    if payload.data is not None and payload.size <= objects.INLINE_MAX:
        inline, record["blob"] = payload.data, None
    elif payload.data is not None:
        record["blob"] = blobs.put(payload.data)
    else:
        record["blob"] = keep(payload.spooled)
    with store.transaction() as tx:
        _check(tx, bucket, key, account, params)
        record["mtime"] = objects.now_ms()
        objects.save(tx, bucket, key, record, inline)
    return {"ETag": objects.quoted_etag(record), **objects.checksum_fields(record)}


def keep(spooled: Any) -> str:
    """Make a spooled body (a TempBlob) a blob, by a rename; its digest."""
    digest: str = spooled.keep()
    return digest


def _check(tx: Any, bucket: str, key: str, account: str, params: dict) -> None:
    objects.bucket_of(tx, bucket, account)
    if params.get("IfNoneMatch") is not None or params.get("IfMatch") is not None:
        existing = objects.load(tx, bucket, key)
        conditions.check_write(params, existing["etag"] if existing else None, key)
