"""ListObjectsV2 and ListObjects: range scans over a bucket's object records.

A page is found without loading the bucket: the scan starts at the prefix (or just after the
marker, start-after or continuation token), stops at the first key outside the prefix, and
when a key rolls up into a common prefix (prefix + ... + delimiter) it jumps past every key
under that common prefix with one new range start (`successor`), so a folder of a million
keys costs one row. A page holds at most max-keys entries (keys and common prefixes); one more
entry found means the listing is truncated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from cloudlet.services.paging import decode_token, encode_token
from cloudlet.store.base import Transaction

from . import objects
from .buckets import objects_prefix
from .errors import InvalidArgument

MAX_KEYS = 1000
_BATCH = 1000


@dataclass
class Page:
    contents: list[tuple[str, dict]] = field(default_factory=list)   # (key, record)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: str | None = None            # the last key or common prefix on the page
    last_is_prefix: bool = False


def successor(prefix: str) -> str | None:
    """The least string greater than every string starting with `prefix`; None if there is
    none (the prefix is all U+10FFFF)."""
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code == 0xD800:          # skip the surrogates, which UTF-8 cannot carry
            code = 0xE000
        if code <= 0x10FFFF:
            return "".join(chars) + chr(code)
    return None


def scan(tx: Transaction, bucket: str, prefix: str, delimiter: str, max_keys: int,
         after: str | None = None, skip_prefix: str | None = None) -> Page:
    """One page of `bucket`'s keys under `prefix` strictly after `after`, rolled up at
    `delimiter`; `skip_prefix`: a common prefix the previous page ended with."""
    page = Page()
    base = objects_prefix(bucket)
    start: str | None = prefix or None
    if skip_prefix is not None:
        nxt = successor(skip_prefix)
        if nxt is None:
            return page
        start, after = max(start or "", nxt), None
    elif after is not None and start is not None and after < start:
        after = None
    entries = 0
    while True:
        rows = tx.range(base, start=None if start is None else (*base, start),
                        after=None if after is None else (*base, after), limit=_BATCH, relative=True)
        if not rows:
            return page
        jumped = False
        for rel, value in rows:
            name = rel[0]
            if not name.startswith(prefix):
                return page
            cut = name.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                common = name[:cut + len(delimiter)]
                if entries == max_keys:
                    page.truncated = True
                    return page
                page.prefixes.append(common)
                page.last, page.last_is_prefix = common, True
                entries += 1
                nxt = successor(common)
                if nxt is None:
                    return page
                start, after, jumped = nxt, None, True
                break
            if entries == max_keys:
                page.truncated = True
                return page
            page.contents.append((name, json.loads(value)))
            page.last, page.last_is_prefix = name, False
            entries += 1
        if not jumped:
            if len(rows) < _BATCH:
                return page
            after, start = rows[-1][0][0], None


def max_keys_of(params: dict) -> int:
    value = params.get("MaxKeys")
    if value is None:
        return MAX_KEYS
    if not 0 <= value <= 2147483647:
        raise InvalidArgument("Argument maxKeys must be an integer between 0 and 2147483647",
                              ArgumentName="maxKeys", ArgumentValue=str(value))
    return min(value, MAX_KEYS)


def encoder(params: dict):  # noqa: ANN201 - a str -> str function
    kind = params.get("EncodingType")
    if kind is None:
        return lambda s: s
    if kind != "url":
        raise InvalidArgument("Invalid Encoding Method specified in Request", ArgumentName="encoding-type",
                              ArgumentValue=kind)
    return lambda s: quote_plus(s, safe="/")


def entry(name: str, record: dict, enc: Any, owner: dict | None) -> dict:
    item = {"Key": enc(name), "LastModified": objects.modified(record), "ETag": objects.quoted_etag(record),
            "Size": record["size"], "StorageClass": "STANDARD"}
    algorithm = (record.get("cks") or [None])[0]
    if algorithm:
        item["ChecksumAlgorithm"] = [algorithm]
        item["ChecksumType"] = objects.checksum_type(record)
    if owner is not None:
        item["Owner"] = owner
    return item


def _invalid_token() -> InvalidArgument:
    return InvalidArgument("The continuation token provided is incorrect", ArgumentName="continuation-token")


def list_v2(tx: Transaction, params: dict, owner: dict) -> dict:
    bucket, prefix, delimiter = params["Bucket"], params.get("Prefix") or "", params.get("Delimiter") or ""
    enc, limit = encoder(params), max_keys_of(params)
    token = params.get("ContinuationToken")
    position = decode_token(token, _invalid_token,
                            lambda p: isinstance(p, list) and len(p) == 2 and isinstance(p[0], str))
    if position is not None:
        page = scan(tx, bucket, prefix, delimiter, limit, after=None if position[1] else position[0],
                    skip_prefix=position[0] if position[1] else None)
    else:
        page = scan(tx, bucket, prefix, delimiter, limit, after=params.get("StartAfter") or None)
    fetch = owner if params.get("FetchOwner") else None
    out: dict[str, Any] = {
        "Name": bucket, "Prefix": enc(prefix), "MaxKeys": params.get("MaxKeys", MAX_KEYS),
        "KeyCount": len(page.contents) + len(page.prefixes), "IsTruncated": page.truncated,
        "Contents": [entry(name, rec, enc, fetch) for name, rec in page.contents],
        "CommonPrefixes": [{"Prefix": enc(p)} for p in page.prefixes],
    }
    for member in ("Delimiter", "StartAfter"):
        if params.get(member):
            out[member] = enc(params[member])
    if token:
        out["ContinuationToken"] = token
    if params.get("EncodingType"):
        out["EncodingType"] = params["EncodingType"]
    if page.truncated and page.last is not None:
        out["NextContinuationToken"] = encode_token([page.last, page.last_is_prefix])
    return out


def list_v1(tx: Transaction, params: dict, owner: dict) -> dict:
    bucket, prefix, delimiter = params["Bucket"], params.get("Prefix") or "", params.get("Delimiter") or ""
    enc, limit = encoder(params), max_keys_of(params)
    marker = params.get("Marker") or None
    # A marker that is a common prefix of this listing (a NextMarker) resumes past it.
    rolled = bool(marker and delimiter and marker.startswith(prefix) and marker.endswith(delimiter)
                  and marker.find(delimiter, len(prefix)) == len(marker) - len(delimiter))
    page = scan(tx, bucket, prefix, delimiter, limit, after=None if rolled else marker,
                skip_prefix=marker if rolled else None)
    out: dict[str, Any] = {
        "Name": bucket, "Prefix": enc(prefix), "Marker": enc(marker or ""), "MaxKeys": params.get("MaxKeys", MAX_KEYS),
        "IsTruncated": page.truncated,
        "Contents": [entry(name, rec, enc, owner) for name, rec in page.contents],
        "CommonPrefixes": [{"Prefix": enc(p)} for p in page.prefixes],
    }
    if delimiter:
        out["Delimiter"] = enc(delimiter)
        if page.truncated and page.last is not None:
            out["NextMarker"] = enc(page.last)
    if params.get("EncodingType"):
        out["EncodingType"] = params["EncodingType"]
    return out
