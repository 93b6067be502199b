"""The HTTP request and response the protocol layer reads and writes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qs


class SpooledPayload(Protocol):
    """A request body too large to hold in memory, spooled to disk as it arrived
    (store/blobs.py `TempBlob`): a readable binary file with its size and SHA-256."""

    size: int
    sha256: str
    digests: dict[str, bytes]   # more digests computed as it spooled (gateway/body.py payload_digests)

    def read(self, size: int = -1) -> bytes: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str                      # raw (still percent-encoded) path
    query_string: str = ""
    headers: dict[str, str] = field(default_factory=dict)   # lower-case names
    # The body: bytes, or a SpooledPayload for large bodies of operations whose input is a
    # streaming blob (S3 PutObject, UploadPart); see gateway/body.py.
    body: bytes | SpooledPayload = b""
    host: str = ""
    _query: dict[str, list[str]] | None = None
    # Why the body could not be received (a malformed aws-chunked stream, a chunk signature
    # that does not match, ...), found while it streamed in; the gateway answers with it.
    body_error: Exception | None = None
    # Trailers that came after the body (aws-chunked's x-amz-checksum-*), once it is decoded.
    trailers: dict[str, str] | None = None
    # Where the connection came from: "" (the host's network), or "function" (a function's
    # network namespace, whose only peer is cloudlet).
    origin: str = ""
    # The address of the client at the other end of the TCP connection ("" when unknown).
    peer: str = ""

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            self._query = parse_qs(self.query_string, keep_blank_values=True) if self.query_string else {}
        return self._query

    @property
    def data(self) -> bytes:
        """The body as bytes. Only a streaming blob payload can be spooled (gateway/body.py), and
        that one is handed over as it is; whatever else is parsed comes in memory."""
        body = self.body
        if isinstance(body, bytes):
            return body
        raise TypeError("a spooled request body is read as a file, not parsed from bytes")

    def query_value(self, key: str) -> str | None:
        values = self.query.get(key)
        return values[0] if values else None


Body = bytes | Iterable[bytes] | AsyncIterator[bytes]


@dataclass(slots=True)
class HttpResponse:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Body = b""
