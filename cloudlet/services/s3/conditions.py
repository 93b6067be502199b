"""Conditional requests and byte ranges, as S3 evaluates them (pure functions of headers and an
object's ETag, Last-Modified and size).

Reads (GetObject, HeadObject), RFC 9110 with S3's precedence: If-Match, else
If-Unmodified-Since, failing is 412 PreconditionFailed; then If-None-Match, else
If-Modified-Since, failing is 304 Not Modified. So a matching If-Match overrides a failing
If-Unmodified-Since, and a present If-None-Match makes If-Modified-Since irrelevant. A date in
the future, or one that does not parse, is ignored. Copies (x-amz-copy-source-if-*) follow
the same precedence, every failure being 412. Writes (PutObject, CopyObject's destination):
`If-None-Match: *` fails on an existing key, `If-Match` on a different ETag (and a missing key
is NoSuchKey).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from cloudlet.protocol.rest import split_header_list

from .errors import InvalidRange, NoSuchKey, NotImplementedHeader, NotModified, PreconditionFailed

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
PRECONDITION_MESSAGE = "At least one of the pre-conditions you specified did not hold"


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-Match / If-None-Match list names `etag` (quoted or not, weak or not; `*`
    matches any)."""
    for item in split_header_list(header):
        item = item.strip()
        if item == "*":
            return True
        if item.startswith("W/"):
            item = item[2:]
        if item.strip('"') == etag:
            return True
    return False


def _seconds(value: datetime | None, now: float) -> float | None:
    """A condition's date as epoch seconds; None when absent or in the future (ignored)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = value.timestamp()
    return None if seconds > now else seconds


def check_read(params: dict, etag: str, modified: int, now: float, headers: dict[str, str] | None = None,
               prefix: str = "") -> None:
    """Raise what the read conditions of `params` answer for an object (`etag` unquoted,
    `modified` in whole seconds): PreconditionFailed or NotModified. `prefix` selects the
    copy-source members (CopySourceIfMatch, ...), whose failures are all 412."""
    if_match = params.get(f"{prefix}IfMatch")
    if_none = params.get(f"{prefix}IfNoneMatch")
    unmodified = _seconds(params.get(f"{prefix}IfUnmodifiedSince"), now)
    modified_since = _seconds(params.get(f"{prefix}IfModifiedSince"), now)
    header = "x-amz-copy-source-" if prefix else ""
    if if_match is not None:
        if not etag_matches(if_match, etag):
            raise PreconditionFailed(PRECONDITION_MESSAGE, Condition=f"{header}If-Match")
    elif unmodified is not None and modified > unmodified:
        raise PreconditionFailed(PRECONDITION_MESSAGE, Condition=f"{header}If-Unmodified-Since")
    not_modified = False
    if if_none is not None:
        not_modified = etag_matches(if_none, etag)
        condition = "If-None-Match"
    elif modified_since is not None:
        not_modified = modified <= modified_since
        condition = "If-Modified-Since"
    if not_modified:
        if prefix:
            raise PreconditionFailed(PRECONDITION_MESSAGE, Condition=f"{header}{condition}")
        raise NotModified("Not Modified", headers=headers or {})


def check_write(params: dict, existing_etag: str | None, key: str) -> None:
    """PutObject's (and CopyObject's destination's) If-None-Match / If-Match against the key's
    current ETag (None: no such key)."""
    if_none = params.get("IfNoneMatch")
    if if_none is not None:
        if if_none.strip() != "*":
            raise NotImplementedHeader("A header you provided implies functionality that is not implemented",
                                       Header="If-None-Match")
        if existing_etag is not None:
            raise PreconditionFailed(PRECONDITION_MESSAGE, Condition="If-None-Match")
    if_match = params.get("IfMatch")
    if if_match is not None:
        if existing_etag is None:
            raise NoSuchKey("The specified key does not exist.", Key=key)
        if not etag_matches(if_match, existing_etag):
            raise PreconditionFailed(PRECONDITION_MESSAGE, Condition="If-Match")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """`[start, end)` of a single-range `Range` header over `size` bytes; None to answer the
    whole object (no header, or one S3 ignores: malformed, several ranges, first > last);
    InvalidRange (416) when the range is well-formed but no byte of it exists."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if first == "" and last == "":
        return None
    if first == "":                      # the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            raise _unsatisfiable(header, size)
        return max(0, size - n), size
    start = int(first)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        raise _unsatisfiable(header, size)
    end = size if last == "" else min(int(last) + 1, size)
    return start, end


def _unsatisfiable(header: str, size: int) -> InvalidRange:
    return InvalidRange("The requested range is not satisfiable", RangeRequested=header.strip(),
                        ActualObjectSize=str(size))


def content_range(start: int, end: int, size: int) -> str:
    return f"bytes {start}-{end - 1}/{size}"
