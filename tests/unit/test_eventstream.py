"""The event-stream framing, with botocore's decoder as the oracle."""

from __future__ import annotations

import uuid
import zlib
from datetime import UTC, datetime

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlet.protocol.eventstream import (
    EventStreamError,
    Int8,
    Int16,
    Int32,
    Int64,
    Message,
    MessageDecoder,
    decode_messages,
    encode_message,
)


def botocore_decode(data: bytes) -> list:
    buf = EventStreamBuffer()
    buf.add_data(data)
    return list(buf)


def test_every_header_type_reaches_botocore():
    when = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    headers = {"t": True, "f": False, "b": Int8(-7), "s": Int16(-300), "i": Int32(70000), "l": Int64(-2**40),
               "plain": 5, "big": 2**40, "raw": b"\x00\xffbin", "str": "h\u00e9llo", "ts": when, "id": ident}
    [msg] = botocore_decode(encode_message(headers, b"payload"))
    assert msg.payload == b"payload"
    assert msg.headers == {"t": True, "f": False, "b": -7, "s": -300, "i": 70000, "l": -2**40, "plain": 5,
                           "big": 2**40, "raw": b"\x00\xffbin", "str": "h\u00e9llo",
                           "ts": int(when.timestamp() * 1000), "id": ident.bytes}
    assert decode_messages(encode_message(headers, b"payload")) == [Message(headers, b"payload")]


def test_lengths_and_crcs_are_where_the_spec_puts_them():
    data = encode_message({":event-type": "x"}, b"abc")
    total, head_len = int.from_bytes(data[:4], "big"), int.from_bytes(data[4:8], "big")
    assert total == len(data) and head_len == 1 + len(":event-type") + 1 + 2 + 1
    assert int.from_bytes(data[8:12], "big") == zlib.crc32(data[:8])
    assert int.from_bytes(data[-4:], "big") == zlib.crc32(data[:-4])
    assert data[12 + head_len:-4] == b"abc"


def test_corruption_is_detected_like_botocore_does():
    data = bytearray(encode_message({"a": "b"}, b"hello"))
    data[-6] ^= 0x01  # a payload byte: only the message CRC can tell
    with pytest.raises(ChecksumMismatch):
        botocore_decode(bytes(data))
    with pytest.raises(EventStreamError, match="message checksum"):
        decode_messages(bytes(data))
    data = bytearray(encode_message({"a": "b"}, b"hello"))
    data[2] ^= 0x01  # the total length: the prelude CRC catches it
    with pytest.raises(EventStreamError, match="prelude checksum"):
        decode_messages(bytes(data))


def test_incremental_decoding_waits_for_whole_messages():
    stream = encode_message({"n": 1}, b"one") + encode_message({"n": 2}, b"two")
    decoder = MessageDecoder()
    got = []
    for i in range(len(stream)):
        got += decoder.feed(stream[i:i + 1])
    assert [m.payload for m in got] == [b"one", b"two"] and decoder.pending == 0
    with pytest.raises(EventStreamError, match="trailing"):
        decode_messages(stream[:-1])


def test_bad_headers_are_refused():
    with pytest.raises(EventStreamError):
        encode_message({"": "x"})
    with pytest.raises(EventStreamError):
        encode_message({"a": "x" * 70000})
    with pytest.raises(TypeError):
        encode_message({"a": 1.5})  # type: ignore[dict-item]


HEADER_VALUES = (st.booleans() | st.integers(-2**63, 2**63 - 1) | st.binary(max_size=40)
                 | st.text(max_size=40) | st.uuids())


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=20), HEADER_VALUES, max_size=6), st.binary(max_size=300))
def test_botocore_reads_back_whatever_we_frame(headers, payload):
    [msg] = botocore_decode(encode_message(headers, payload))
    expected = {k: (v.bytes if isinstance(v, uuid.UUID) else v) for k, v in headers.items()}
    assert msg.headers == expected and msg.payload == payload
    assert decode_messages(encode_message(headers, payload)) == [Message(headers, payload)]
