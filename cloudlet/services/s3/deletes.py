"""DeleteObject and DeleteObjects (a batch of at most 1000 keys, each answered on its own)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cloudlet.store import Store, checksums

from . import objects
from .errors import BadDigest, InvalidArgument, InvalidRequest, MalformedXML
from .upload import ALGORITHMS, check_content_md5, requested_checksum

MAX_BATCH = 1000
MALFORMED = "The XML you provided was not well-formed or did not validate against our published schema"


def delete_object(store: Store, account: str, params: dict) -> dict:
    """204 whether or not the key existed (the bucket must)."""
    bucket, key = params["Bucket"], params["Key"]
    with store.transaction() as tx:
        objects.bucket_of(tx, bucket, account)
        version = params.get("VersionId")
        if version is not None and version != objects.NULL_VERSION:
            raise InvalidArgument("Invalid version id specified", ArgumentName="versionId", ArgumentValue=version)
        objects.remove(tx, bucket, key)
    return {}


def check_integrity(headers: dict[str, str], body: bytes, params: dict) -> None:
    """DeleteObjects needs Content-MD5 or an x-amz-checksum-* of its body, and each must match."""
    sent = {member: headers[f"x-amz-checksum-{algorithm.lower()}"] for algorithm, member in
            objects.CHECKSUM_MEMBERS.items() if f"x-amz-checksum-{algorithm.lower()}" in headers}
    wanted = requested_checksum({**params, **sent})
    if headers.get("content-md5") is None and wanted is None:
        raise InvalidRequest("Missing required header for this request: Content-MD5")
    check_content_md5(headers.get("content-md5"), hashlib.md5(body).digest())
    if wanted is not None:
        algorithm, value = wanted
        name = ALGORITHMS[algorithm]
        if base64.b64encode(checksums.compute((name,), body)[name]).decode() != value:
            raise BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")


def delete_objects(store: Store, account: str, params: dict) -> dict[str, Any]:
    bucket = params["Bucket"]
    spec = params.get("Delete") or {}
    items = spec.get("Objects") or []
    if not items or len(items) > MAX_BATCH or any(not item.get("Key") for item in items):
        raise MalformedXML(MALFORMED)
    quiet = bool(spec.get("Quiet"))
    deleted: list[dict] = []
    errors: list[dict] = []
    with store.transaction() as tx:
        objects.bucket_of(tx, bucket, account)
        for item in items:
            key, version = item["Key"], item.get("VersionId")
            if version is not None and version != objects.NULL_VERSION:
                errors.append({"Key": key, "VersionId": version, "Code": "NoSuchVersion",
                               "Message": "The specified version does not exist."})
                continue
            if len(key.encode("utf-8", "surrogatepass")) > objects.MAX_KEY_BYTES:
                errors.append({"Key": key, "Code": "KeyTooLongError", "Message": "Your key is too long"})
                continue
            objects.remove(tx, bucket, key)
            if not quiet:
                deleted.append({"Key": key, **({"VersionId": version} if version else {})})
    out: dict[str, Any] = {}
    if deleted:
        out["Deleted"] = deleted
    if errors:
        out["Errors"] = errors
    return out
