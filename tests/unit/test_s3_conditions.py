"""S3's byte ranges and conditional-request precedence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlet.services.s3 import conditions
from cloudlet.services.s3.errors import InvalidRange, NoSuchKey, NotModified, PreconditionFailed

NOW = 2_000_000_000.0
T = 1_900_000_000   # the object's Last-Modified


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@given(st.integers(0, 1000), st.integers(0, 1200), st.integers(0, 1200))
def test_first_last_ranges(size, first, last):
    header = f"bytes={first}-{last}"
    if last < first:
        assert conditions.byte_range(header, size) is None
    elif first >= size:
        with pytest.raises(InvalidRange):
            conditions.byte_range(header, size)
    else:
        assert conditions.byte_range(header, size) == (first, min(last + 1, size))


@given(st.integers(0, 1000), st.integers(0, 1200))
def test_suffix_and_open_ranges(size, n):
    if n == 0 or size == 0:
        with pytest.raises(InvalidRange):
            conditions.byte_range(f"bytes=-{n}", size)
    else:
        assert conditions.byte_range(f"bytes=-{n}", size) == (max(0, size - n), size)
    if n >= size:
        with pytest.raises(InvalidRange):
            conditions.byte_range(f"bytes={n}-", size)
    else:
        assert conditions.byte_range(f"bytes={n}-", size) == (n, size)


@pytest.mark.parametrize("header", [None, "", "bytes=", "bytes=-", "bits=0-1", "bytes=0-1,4-5", "bytes=a-b"])
def test_ignored_ranges(header):
    assert conditions.byte_range(header, 10) is None


def test_etag_lists():
    assert conditions.etag_matches('"abc"', "abc")
    assert conditions.etag_matches('W/"abc"', "abc")
    assert conditions.etag_matches('"x", "abc"', "abc")
    assert conditions.etag_matches("*", "abc")
    assert not conditions.etag_matches('"abd"', "abc")


def check(**params):
    conditions.check_read(params, "abc", T, NOW)


def test_read_precedence():
    check(IfMatch='"abc"', IfUnmodifiedSince=at(T - 10))          # If-Match wins over a failing IUS
    with pytest.raises(PreconditionFailed):
        check(IfUnmodifiedSince=at(T - 10))
    check(IfUnmodifiedSince=at(T))
    with pytest.raises(NotModified):
        check(IfNoneMatch='"abc"', IfModifiedSince=at(T - 10))   # If-None-Match decides
    check(IfNoneMatch='"zzz"', IfModifiedSince=at(T + 10))
    with pytest.raises(NotModified):
        check(IfModifiedSince=at(T))
    check(IfModifiedSince=at(T - 1))
    check(IfModifiedSince=at(NOW + 100))                            # in the future: ignored
    with pytest.raises(PreconditionFailed):                         # 412 before 304
        check(IfMatch='"zzz"', IfNoneMatch='"abc"')


def test_copy_source_conditions_are_all_412():
    with pytest.raises(PreconditionFailed) as err:
        conditions.check_read({"CopySourceIfNoneMatch": '"abc"'}, "abc", T, NOW, prefix="CopySource")
    assert err.value.fields["Condition"] == "x-amz-copy-source-If-None-Match"


def test_write_conditions():
    conditions.check_write({"IfNoneMatch": "*"}, None, "k")
    with pytest.raises(PreconditionFailed):
        conditions.check_write({"IfNoneMatch": "*"}, "abc", "k")
    with pytest.raises(NoSuchKey):
        conditions.check_write({"IfMatch": '"abc"'}, None, "k")
    conditions.check_write({"IfMatch": '"abc"'}, "abc", "k")
    with pytest.raises(PreconditionFailed):
        conditions.check_write({"IfMatch": '"abc"'}, "abd", "k")
