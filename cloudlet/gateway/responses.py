"""Writing HttpResponse objects to ASGI, including streamed bodies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

from cloudlet.protocol import HttpResponse

CHUNK = 256 * 1024


def _header_list(resp: HttpResponse, length: int | None) -> list[tuple[bytes, bytes]]:
    out = [(k.encode("latin-1"), str(v).encode("latin-1", "replace")) for k, v in resp.headers.items()
           if k.lower() != "content-length"]
    if length is not None:
        out.append((b"content-length", str(length).encode()))
    return out


async def send_response(send: Any, resp: HttpResponse, head: bool = False) -> None:
    body = resp.body
    if isinstance(body, (bytes, bytearray, memoryview)):
        length = int(resp.headers.get("Content-Length", len(body))) if head else len(body)
        await send({"type": "http.response.start", "status": resp.status, "headers": _header_list(resp, length)})
        await send({"type": "http.response.body", "body": b"" if head else bytes(body)})
        return
    length = int(resp.headers["Content-Length"]) if "Content-Length" in resp.headers else None
    await send({"type": "http.response.start", "status": resp.status, "headers": _header_list(resp, length)})
    if not head:
        async for chunk in _chunks(body):
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _chunks(body: Any) -> AsyncIterator[bytes]:
    """Bytes from an async iterator, a sync iterator or a file-like object (read off-loop)."""
    if hasattr(body, "__aiter__"):
        async for chunk in body:
            yield chunk
        return
    if hasattr(body, "read"):
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK):
                yield chunk
        finally:
            close = getattr(body, "close", None)
            if close:
                close()
        return
    iterator = iter(body) if isinstance(body, Iterable) else iter(())
    sentinel = object()
    while (chunk := await asyncio.to_thread(next, iterator, sentinel)) is not sentinel:
        yield chunk  # type: ignore[misc]
