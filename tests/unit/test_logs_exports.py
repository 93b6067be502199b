"""Export tasks' pure parts: the exported line's timestamp, and a stream's lines split into gzip objects."""

from __future__ import annotations

import gzip

from cloudlet.services.logs.exports import GzipParts, iso_ms


def test_iso_ms_has_milliseconds_and_z():
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(1_704_164_645_678) == "2024-01-02T03:04:05.678Z"
    assert iso_ms(1_704_164_645_007) == "2024-01-02T03:04:05.007Z"


def test_lines_split_into_parts_of_at_most_part_bytes():
    lines = [f"line {i}\n".encode() for i in range(10)]   # 7 bytes each
    parts = [gzip.decompress(b"".join(part)) for part in GzipParts(iter(lines), part_bytes=20)]
    assert parts == [b"".join(lines[i:i + 2]) for i in range(0, 10, 2)]


def test_a_line_longer_than_a_part_gets_a_part_of_its_own():
    lines = [b"x" * 50 + b"\n", b"short\n", b"y" * 50 + b"\n"]
    parts = [gzip.decompress(b"".join(part)) for part in GzipParts(iter(lines), part_bytes=10)]
    assert parts == lines


def test_no_lines_no_parts():
    assert list(GzipParts(iter([]))) == []
