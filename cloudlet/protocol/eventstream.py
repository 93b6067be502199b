"""AWS event-stream framing (`application/vnd.amazon.eventstream`): messages in, bytes out, and back.

A message is

    total length (u32) | headers length (u32) | prelude CRC32 (u32)     the 12-byte prelude
    headers | payload | message CRC32 (u32)                            CRC of everything before it

all big-endian. A header is a name (u8 length + UTF-8), a type byte and a typed value. Which
messages carry what (`:message-type`, `:event-type`, ...) is decided by the model-driven layer in
`events.py`; this module only frames.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

PRELUDE = struct.Struct(">II")
CRC = struct.Struct(">I")
PRELUDE_LENGTH = PRELUDE.size + CRC.size
MAX_HEADERS_LENGTH = 128 * 1024        # what AWS's decoders accept (botocore's limit too)
MAX_PAYLOAD_LENGTH = 16 * 1024 * 1024  # AWS's per-message limit; botocore reads up to 24 MiB


class Int8(int):
    """A header value sent as a signed byte (type 2)."""


class Int16(int):
    """A header value sent as a signed 16-bit integer (type 3)."""


class Int32(int):
    """A header value sent as a signed 32-bit integer (type 4)."""


class Int64(int):
    """A header value sent as a signed 64-bit integer (type 5)."""


HeaderValue = bool | int | bytes | str | datetime | uuid.UUID

_INTS: tuple[tuple[type[int], int, struct.Struct], ...] = (
    (Int8, 2, struct.Struct(">b")), (Int16, 3, struct.Struct(">h")),
    (Int32, 4, struct.Struct(">i")), (Int64, 5, struct.Struct(">q")))
_BY_TYPE = {code: fmt for _, code, fmt in _INTS}
_U16 = struct.Struct(">H")
_I64 = struct.Struct(">q")


class EventStreamError(ValueError):
    """Bytes that are not a valid event-stream message (bad CRC, truncated, oversized...)."""


@dataclass(frozen=True, slots=True)
class Message:
    headers: dict[str, HeaderValue] = field(default_factory=dict)
    payload: bytes = b""


# ---- encoding ---------------------------------------------------------------------------------

def _encode_value(value: HeaderValue) -> bytes:
    if isinstance(value, bool):  # before int: bool is an int
        return b"\x00" if value else b"\x01"
    for cls, code, fmt in _INTS:
        if isinstance(value, cls):
            return bytes((code,)) + fmt.pack(value)
    if isinstance(value, int):  # a plain int: the narrowest of int32 / int64 that holds it
        return (b"\x04" + _BY_TYPE[4].pack(value) if -2**31 <= value < 2**31
                else b"\x05" + _I64.pack(value))
    if isinstance(value, bytes):
        return b"\x06" + _U16.pack(_checked_length(len(value))) + value
    if isinstance(value, str):
        data = value.encode("utf-8")
        return b"\x07" + _U16.pack(_checked_length(len(data))) + data
    if isinstance(value, datetime):
        stamp = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return b"\x08" + _I64.pack(int(stamp.timestamp() * 1000))
    if isinstance(value, uuid.UUID):
        return b"\x09" + value.bytes
    raise TypeError(f"cannot send {type(value).__name__} as an event-stream header")


def _checked_length(n: int) -> int:
    if n > 0xFFFF:
        raise EventStreamError(f"header value of {n} bytes is longer than 65535")
    return n


def encode_headers(headers: Mapping[str, HeaderValue]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw = name.encode("utf-8")
        if not 0 < len(raw) < 256:
            raise EventStreamError(f"header name {name!r} must be 1 to 255 bytes")
        out += bytes((len(raw),)) + raw + _encode_value(value)
    return bytes(out)


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes = b"") -> bytes:
    """One framed message."""
    head = encode_headers(headers)
    if len(head) > MAX_HEADERS_LENGTH:
        raise EventStreamError(f"headers of {len(head)} bytes exceed {MAX_HEADERS_LENGTH}")
    if len(payload) > MAX_PAYLOAD_LENGTH:
        raise EventStreamError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_LENGTH}")
    total = PRELUDE_LENGTH + len(head) + len(payload) + CRC.size
    prelude = PRELUDE.pack(total, len(head))
    prelude += CRC.pack(zlib.crc32(prelude))
    body = prelude + head + payload
    return body + CRC.pack(zlib.crc32(body))


# ---- decoding ---------------------------------------------------------------------------------

def decode_headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    i, n = 0, len(data)
    try:
        while i < n:
            name_len = data[i]
            name = data[i + 1:i + 1 + name_len].decode("utf-8")
            i += 1 + name_len
            kind = data[i]
            i += 1
            value: HeaderValue
            if kind in (0, 1):
                value = kind == 0
            elif kind in _BY_TYPE:
                fmt = _BY_TYPE[kind]
                value = fmt.unpack_from(data, i)[0]
                i += fmt.size
            elif kind in (6, 7):
                length = _U16.unpack_from(data, i)[0]
                raw = data[i + 2:i + 2 + length]
                if len(raw) != length:
                    raise EventStreamError("truncated header value")
                value = raw if kind == 6 else raw.decode("utf-8")
                i += 2 + length
            elif kind == 8:
                value = datetime.fromtimestamp(_I64.unpack_from(data, i)[0] / 1000, UTC)
                i += 8
            elif kind == 9:
                raw = data[i:i + 16]
                if len(raw) != 16:
                    raise EventStreamError("truncated uuid header")
                value = uuid.UUID(bytes=raw)
                i += 16
            else:
                raise EventStreamError(f"unknown header type {kind}")
            if name in headers:
                raise EventStreamError(f"duplicate header {name!r}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError):
        raise EventStreamError("malformed headers") from None
    return headers


class MessageDecoder:
    """Incremental decoder: feed bytes as they arrive, get whole messages back."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        return list(self._messages())

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message still waiting for the rest."""
        return len(self._buf)

    def _messages(self) -> Iterator[Message]:
        buf = self._buf
        while len(buf) >= PRELUDE_LENGTH:
            total, head_len = PRELUDE.unpack_from(buf)
            (prelude_crc,) = CRC.unpack_from(buf, PRELUDE.size)
            if zlib.crc32(bytes(buf[:PRELUDE.size])) != prelude_crc:
                raise EventStreamError("prelude checksum mismatch")
            if head_len > MAX_HEADERS_LENGTH or total < PRELUDE_LENGTH + head_len + CRC.size:
                raise EventStreamError(f"bad lengths: total {total}, headers {head_len}")
            if total - PRELUDE_LENGTH - head_len - CRC.size > MAX_PAYLOAD_LENGTH:
                raise EventStreamError("payload too long")
            if len(buf) < total:
                return
            (message_crc,) = CRC.unpack_from(buf, total - CRC.size)
            if zlib.crc32(bytes(buf[:total - CRC.size])) != message_crc:
                raise EventStreamError("message checksum mismatch")
            headers = decode_headers(bytes(buf[PRELUDE_LENGTH:PRELUDE_LENGTH + head_len]))
            payload = bytes(buf[PRELUDE_LENGTH + head_len:total - CRC.size])
            del buf[:total]
            yield Message(headers, payload)


def decode_messages(data: bytes) -> list[Message]:
    """All messages in `data`, which must hold whole messages only."""
    decoder = MessageDecoder()
    messages = decoder.feed(data)
    if decoder.pending:
        raise EventStreamError(f"{decoder.pending} trailing bytes are not a whole message")
    return messages
