"""Incremental decoder for ``Content-Encoding: aws-chunked`` request bodies.

Handles the S3 streaming upload framings::

    STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]   <hex>;chunk-signature=<sig>\\r\\n<data>\\r\\n ...
    STREAMING-UNSIGNED-PAYLOAD-TRAILER             <hex>\\r\\n<data>\\r\\n ... 0\\r\\n<name>:<value>\\r\\n\\r\\n

With signing material the chain of chunk signatures (seeded by the request's
``Signature=``) and the ``x-amz-trailer-signature`` are verified; a signed chunk
is only released once its signature checked out, so memory is bounded by one
chunk. Trailer values (e.g. ``x-amz-checksum-crc32``) are exposed, not checked.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from cloudlet.gateway.sigv4 import EMPTY_SHA256, SignatureError

__all__ = ["AwsChunkedDecoder", "ChunkFormatError"]

_MAX_LINE = 4096  # a chunk header is ~90 bytes; a trailer line far less than this
_MAX_TRAILER_BYTES = 16384
_MAX_SIGNED_CHUNK = 16 * 1024 * 1024  # signed chunks are buffered until verified
_HEX_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
_SIG = re.compile(r"[0-9a-fA-F]{64}")
_MSG_MISMATCH = "The request signature we calculated does not match the signature you provided. Check your key and signing method."

_HEADER, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkFormatError(ValueError):
    """The aws-chunked framing is malformed or the body ended early."""


class AwsChunkedDecoder:
    """Feed raw aws-chunked bytes (split anywhere), get payload bytes back.

    Pass all four of ``seed_signature``, ``signing_key``, ``scope``
    (``date/region/service/aws4_request``) and ``amz_date`` to verify chunk
    signatures; pass none for unsigned framing (chunk extensions are ignored).
    """

    __slots__ = (
        "trailers",
        "_signed",
        "_prev",
        "_key",
        "_prefix",
        "_state",
        "_line",
        "_remaining",
        "_chunk",
        "_chunk_sig",
        "_trailer_lines",
        "_trailer_bytes",
        "_trailer_sig",
    )

    def __init__(
        self,
        seed_signature: str | None = None,
        signing_key: bytes | None = None,
        scope: str | None = None,
        amz_date: str | None = None,
    ) -> None:
        given = [v is not None for v in (seed_signature, signing_key, scope, amz_date)]
        if any(given) and not all(given):
            raise TypeError("seed_signature, signing_key, scope and amz_date go together")
        self._signed = all(given)
        self._prev = seed_signature.lower() if seed_signature else ""
        self._key = signing_key or b""
        self._prefix = f"\n{amz_date}\n{scope}\n"
        self.trailers: dict[str, str] = {}
        self._state = _HEADER
        self._line = bytearray()
        self._remaining = 0
        self._chunk = bytearray()
        self._chunk_sig = ""
        self._trailer_lines: list[tuple[str, str]] = []
        self._trailer_bytes = 0
        self._trailer_sig: str | None = None

    # ------------------------------------------------------------------ public

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """Consume ``data``; return the payload bytes decoded (and verified) so far."""
        if not data:
            return b""
        if isinstance(data, memoryview):
            data = data.tobytes()
        out: list[bytes | bytearray] = []
        view = memoryview(data)
        n = len(data)
        i = 0
        while i < n:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, n - i)
                if self._signed:
                    self._chunk += view[i : i + take]
                else:
                    out.append(data[i : i + take])
                i += take
                self._remaining -= take
                if not self._remaining:
                    self._state = _DATA_END
                continue
            if state == _DONE:
                raise ChunkFormatError("unexpected data after the final aws-chunked chunk")
            # A line may hold at most `allowed` more bytes, its CRLF included.
            allowed = (2 if state == _DATA_END else _MAX_LINE + 2) - len(self._line)
            j = data.find(b"\n", i, i + allowed)
            if j < 0:
                if n - i >= allowed:
                    raise ChunkFormatError("aws-chunked line too long or CRLF missing")
                self._line += view[i:]
                break
            self._line += view[i : j + 1]
            i = j + 1
            line = bytes(self._line)
            self._line.clear()
            if len(line) < 2 or line[-2] != 0x0D:
                raise ChunkFormatError("aws-chunked line not terminated by CRLF")
            self._on_line(line[:-2], out)
        return b"".join(out)

    def finish(self) -> None:
        """Assert the body was complete (raises :class:`ChunkFormatError` otherwise)."""
        if (
            self._state == _TRAILER
            and not self._line
            and not self._trailer_lines
            and self._trailer_sig is None
        ):
            # "0\r\n" with the closing blank line left off: tolerated.
            self._state = _DONE
        if self._state != _DONE:
            raise ChunkFormatError("incomplete aws-chunked body")

    # ------------------------------------------------------------------ internals

    def _on_line(self, line: bytes, out: list[bytes | bytearray]) -> None:
        state = self._state
        if state == _HEADER:
            self._on_chunk_header(line)
        elif state == _DATA_END:
            if line:
                raise ChunkFormatError("aws-chunked chunk data not followed by CRLF")
            if self._signed:
                self._verify_chunk(self._chunk)
                out.append(self._chunk)
                self._chunk = bytearray()
            self._state = _HEADER
        else:  # _TRAILER
            if not line:
                self._end_trailers()
                return
            self._trailer_bytes += len(line)
            if self._trailer_bytes > _MAX_TRAILER_BYTES:
                raise ChunkFormatError("aws-chunked trailers too large")
            name_b, colon, value_b = line.partition(b":")
            if not colon:
                raise ChunkFormatError("malformed aws-chunked trailer line")
            try:
                name = name_b.decode("ascii").strip().lower()
                value = value_b.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise ChunkFormatError("malformed aws-chunked trailer line") from None
            if not name:
                raise ChunkFormatError("malformed aws-chunked trailer line")
            if self._trailer_sig is not None:
                raise ChunkFormatError("x-amz-trailer-signature must be the last trailer")
            if name == "x-amz-trailer-signature":
                self._trailer_sig = value
            else:
                self.trailers[name] = value
                self._trailer_lines.append((name, value))

    def _on_chunk_header(self, line: bytes) -> None:
        size_b, _, ext = line.partition(b";")
        if not _HEX_SIZE.fullmatch(size_b):
            raise ChunkFormatError(f"invalid aws-chunked chunk size {size_b[:32]!r}")
        size = int(size_b, 16)
        if self._signed:
            sig = None
            for item in ext.split(b";"):
                key, _, value = item.partition(b"=")
                if key.strip() == b"chunk-signature":
                    sig = value.strip().decode("ascii", "replace")
            if sig is None or not _SIG.fullmatch(sig):
                raise SignatureError("mismatch", _MSG_MISMATCH)
            self._chunk_sig = sig.lower()
            if size > _MAX_SIGNED_CHUNK:
                raise ChunkFormatError(f"aws-chunked chunk of {size} bytes exceeds {_MAX_SIGNED_CHUNK}")
        if size:
            self._remaining = size
            self._state = _DATA
        else:
            if self._signed:
                self._verify_chunk(b"")
            self._state = _TRAILER

    def _sign(self, string_to_sign: str) -> str:
        return hmac.new(self._key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()

    def _verify_chunk(self, chunk: bytes | bytearray) -> None:
        sts = (
            f"AWS4-HMAC-SHA256-PAYLOAD{self._prefix}{self._prev}\n{EMPTY_SHA256}\n"
            f"{hashlib.sha256(chunk).hexdigest()}"
        )
        if not hmac.compare_digest(self._sign(sts), self._chunk_sig):
            raise SignatureError("mismatch", _MSG_MISMATCH)
        self._prev = self._chunk_sig

    def _end_trailers(self) -> None:
        if self._signed and (self._trailer_lines or self._trailer_sig is not None):
            provided = self._trailer_sig or ""
            provided = provided.lower() if _SIG.fullmatch(provided) else ""  # compare_digest needs ASCII
            orders = [sorted(self._trailer_lines), self._trailer_lines]
            for lines in orders:
                canonical = "".join(f"{n}:{v}\n" for n, v in lines).encode("utf-8")
                sts = f"AWS4-HMAC-SHA256-TRAILER{self._prefix}{self._prev}\n{hashlib.sha256(canonical).hexdigest()}"
                if hmac.compare_digest(self._sign(sts), provided):
                    break
            else:
                raise SignatureError("mismatch", _MSG_MISMATCH)
        self._state = _DONE
