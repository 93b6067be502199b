"""The HTTP request and response the protocol layer reads and writes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qs


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str                      # raw (still percent-encoded) path
    query_string: str = ""
    headers: dict[str, str] = field(default_factory=dict)   # lower-case names
    body: bytes = b""
    host: str = ""
    _query: dict[str, list[str]] | None = None

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            self._query = parse_qs(self.query_string, keep_blank_values=True) if self.query_string else {}
        return self._query

    def query_value(self, key: str) -> str | None:
        values = self.query.get(key)
        return values[0] if values else None


Body = bytes | Iterable[bytes] | AsyncIterator[bytes]


@dataclass(slots=True)
class HttpResponse:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Body = b""
