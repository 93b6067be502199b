"""CompleteMultipartUpload: the listed parts checked and made one object, atomically, without
copying a byte: the object's record names the parts' blobs in order (objects.py, "parts").

What S3 derives from the parts, without reading them:
- the ETag: the MD5 of the concatenated binary MD5s of the parts, then `-<part count>`;
- a COMPOSITE checksum: the upload's algorithm over the concatenated binary part checksums,
  base64, then `-<part count>`;
- a FULL_OBJECT checksum (CRC32, CRC32C, CRC64NVME): the CRC of the whole object, combined
  from the parts' CRCs and sizes (checksums.combine). An upload created without an algorithm
  gets the default, a full-object CRC64NVME, as a PutObject does.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import quote

from cloudlet.store import Store, checksums

from . import conditions, multipart, objects
from .errors import BadDigest, EntityTooSmall, InvalidPart, InvalidPartOrder, InvalidRequest, MalformedXML
from .upload import ALGORITHMS

MIN_PART_SIZE = 5 * 1024 * 1024
INVALID_PART = ("One or more of the specified parts could not be found.  The part may not have been uploaded, or the "
                "specified entity tag may not match the part's entity tag.")
MALFORMED = "The XML you provided was not well-formed or did not validate against our published schema"


def multipart_etag(md5_hexes: list[str]) -> str:
    """S3's ETag of an object made of parts with these MD5s (hex): `<md5 of the md5s>-N`."""
    return f"{hashlib.md5(b''.join(bytes.fromhex(h) for h in md5_hexes)).hexdigest()}-{len(md5_hexes)}"


def composite_checksum(algorithm: str, part_checksums: list[str]) -> str:
    """A COMPOSITE checksum: `algorithm` (CHECKSUM_MEMBERS name) of the concatenated decoded part
    checksums (base64), base64, `-N`."""
    h = checksums.new(ALGORITHMS[algorithm])
    for value in part_checksums:
        h.update(base64.b64decode(value))
    return f"{checksums.b64(h.digest())}-{len(part_checksums)}"


def full_object_checksum(algorithm: str, parts: list[tuple[str, int]]) -> str:
    """A FULL_OBJECT CRC of the concatenation of parts given as (base64 CRC, size)."""
    name = ALGORITHMS[algorithm]
    crc = checksums.new(name).digest()   # the CRC of nothing
    for value, size in parts:
        crc = checksums.combine(name, crc, base64.b64decode(value), size)
    return checksums.b64(crc)


def _invalid(upload_id: str, number: Any, etag: str) -> InvalidPart:
    return InvalidPart(INVALID_PART, UploadId=upload_id, PartNumber=str(number), ETag=etag)


def check_parts(upload: dict, listed: list[dict], stored: dict[int, dict]) -> list[dict]:
    """The stored parts the request lists, in order, after AWS's checks (InvalidPartOrder,
    InvalidPart, the per-part checksums, EntityTooSmall)."""
    upload_id = upload["id"]
    if any(not isinstance(item.get("PartNumber"), int) for item in listed):
        raise MalformedXML(MALFORMED)
    numbers: list[int] = [item["PartNumber"] for item in listed]
    if any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)):
        raise InvalidPartOrder("The list of parts was not in ascending order. Parts must be ordered by part number.",
                               UploadId=upload_id)
    algorithm: str = upload.get("alg") or ""
    kind = upload.get("ctype")
    member = objects.CHECKSUM_MEMBERS[algorithm] if algorithm else None
    chosen = []
    for index, item in enumerate(listed):
        number, etag = item["PartNumber"], str(item.get("ETag") or "").strip('"')
        part = stored.get(number)
        given = {k: v for k, v in item.items() if k.startswith("Checksum") and v is not None}
        if part is None or part["etag"] != etag or (not algorithm and given):
            raise _invalid(upload_id, number, etag)
        if member is not None:
            value = item.get(member)
            if value is None and kind == "COMPOSITE":
                for other in given:
                    raise BadDigest(f"The {other.removeprefix('Checksum').lower()} you specified for part {number} did "
                                    "not match what we received.")
                raise InvalidRequest(f"The upload was created using a {algorithm.lower()} checksum. The complete "
                                     "request must include the checksum for each part. It was missing for part "
                                     f"{number} in the request.")
            if value is not None and value != part["cks"][1]:
                raise _invalid(upload_id, number, etag)
        if index < len(listed) - 1 and part["size"] < MIN_PART_SIZE:
            raise EntityTooSmall("Your proposed upload is smaller than the minimum allowed size", ETag=etag,
                                 PartNumber=str(number), MinSizeAllowed=str(MIN_PART_SIZE),
                                 ProposedSize=str(part["size"]))
        chosen.append(part)
    return chosen


def object_checksum(upload: dict, parts: list[dict], params: dict) -> dict[str, Any]:
    """The object record's checksum fields ("cks", and "ckt"/"pcks" when COMPOSITE), checked
    against the whole-object checksum the request may carry."""
    algorithm, kind = upload.get("alg"), upload.get("ctype")
    wanted_kind = (params.get("ChecksumType") or "").upper()
    if algorithm and wanted_kind and wanted_kind != kind:
        raise InvalidRequest(f"The upload was created using the {kind} checksum mode. The complete request must use "
                             "the same checksum mode.")
    if algorithm is None:
        return {"cks": ["CRC64NVME", full_object_checksum("CRC64NVME", [(p["crc64"], p["size"]) for p in parts])]}
    if kind == "COMPOSITE":
        values = [p["cks"][1] for p in parts]
        return {"cks": [algorithm, composite_checksum(algorithm, values)], "ckt": "COMPOSITE", "pcks": values}
    value = full_object_checksum(algorithm, [(p["cks"][1], p["size"]) for p in parts])
    sent = params.get(objects.CHECKSUM_MEMBERS[algorithm])
    if sent is not None and sent != value:
        raise BadDigest(f"The {algorithm.lower()} you specified did not match the calculated checksum.")
    return {"cks": [algorithm, value]}


def complete(store: Store, account: str, params: dict, host: str) -> dict:
    bucket, key, upload_id = params["Bucket"], params["Key"], params["UploadId"]
    with store.transaction() as tx:
        objects.bucket_of(tx, bucket, account)
        upload = multipart.load_upload(tx, bucket, key, upload_id)
        if params.get("IfNoneMatch") is not None or params.get("IfMatch") is not None:
            existing = objects.load(tx, bucket, key)
            conditions.check_write(params, existing["etag"] if existing else None, key)
        spec = params.get("MultipartUpload")
        if spec is None:
            raise MalformedXML(MALFORMED)
        listed = spec.get("Parts") or []
        if not listed:
            raise InvalidRequest("You must specify at least one part")
        parts = check_parts(upload, listed, multipart.load_parts(tx, bucket, upload_id))
        size = sum(p["size"] for p in parts)
        declared = params.get("MpuObjectSize")
        if declared is not None and declared != size:
            raise InvalidRequest(f"The provided 'x-amz-mp-object-size' header value {declared} does not match what "
                                 f"was computed: {size}")
        record: dict[str, Any] = {
            "v": objects.NULL_VERSION, "size": size, "etag": multipart_etag([p["etag"] for p in parts]),
            "blob": None, "parts": [[p["blob"], p["size"]] for p in parts], "mp": len(parts),
            "type": upload.get("type"), "meta": upload.get("meta") or {}, "hdr": upload.get("hdr") or {},
            "tags": upload.get("tags") or [], "owner": account, "mtime": objects.now_ms(),
            **object_checksum(upload, parts, params),
        }
        objects.save(tx, bucket, key, record, None)
        multipart.drop(tx, bucket, key, upload_id)
    out: dict[str, Any] = {"Location": f"http://{host}/{bucket}/{quote(key)}", "Bucket": bucket, "Key": key,
                           "ETag": objects.quoted_etag(record)}
    out.update(objects.checksum_fields(record))
    return out
