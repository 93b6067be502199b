"""The gateway's HTTP/1.1 server, driven over real sockets with a small handler."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket

import pytest

from cloudlet.gateway.http11 import HttpServer
from cloudlet.protocol import HttpRequest, HttpResponse


async def handler(req: HttpRequest, too_large: bool) -> HttpResponse:
    if too_large:
        return HttpResponse(413, {"Content-Type": "text/plain"}, b"too large")
    if req.path == "/slow":
        await asyncio.sleep(0.3)
    if req.path == "/stream":
        async def chunks():
            for i in range(3):
                yield b"part%d;" % i
        return HttpResponse(200, {"Content-Type": "text/plain"}, chunks())
    if req.path == "/file":
        import io
        return HttpResponse(200, {"Content-Length": "6"}, io.BytesIO(b"abcdef"))
    body = f"{req.method} {req.path}?{req.query_string} {len(req.body)} {req.body[:20]!r}".encode()
    return HttpResponse(200, {"Content-Type": "text/plain", "X-Evil": "a\r\nInjected: yes"}, body)


@pytest.fixture
def run():
    def _run(client_fn, max_body=1000):
        async def main():
            server = HttpServer(handler, max_body=max_body)
            await server.start("127.0.0.1", 0)
            try:
                return await asyncio.get_running_loop().run_in_executor(None, client_fn, server.port)
            finally:
                await server.stop(grace=2)
        return asyncio.run(main())
    return _run


def exchange(port: int, data: bytes, expect_responses: int = 1, timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        buf = b""
        while buf.count(b"HTTP/1.1 ") < expect_responses or not _complete(buf, expect_responses):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf


def _complete(buf: bytes, n: int) -> bool:
    """True once `n` responses (Content-Length or chunked framed) are fully in `buf`."""
    rest = buf
    for _ in range(n):
        head, sep, rest = rest.partition(b"\r\n\r\n")
        if not sep:
            return False
        lower = head.lower()
        if b"transfer-encoding: chunked" in lower:
            end = rest.find(b"0\r\n\r\n")
            if end < 0:
                return False
            rest = rest[end + 5:]
        else:
            length = int(lower.split(b"content-length: ")[1].split(b"\r\n")[0]) if b"content-length" in lower else 0
            if b"HTTP/1.1 100" in head:
                length = 0
            if len(rest) < length:
                return False
            rest = rest[length:]
    return True


def test_keep_alive_and_pipelining(run):
    req = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
    out = run(lambda port: exchange(port, req * 3, 3))
    assert out.count(b"HTTP/1.1 200 OK") == 3
    assert out.count(b"GET /a?x=1 0") == 3


def test_chunked_request_body(run):
    req = (b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    out = run(lambda port: exchange(port, req))
    assert b"POST /c? 11 b'hello world'" in out


def test_expect_100_continue(run):
    def client(port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"PUT /e HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            interim = s.recv(100)
            s.sendall(b"data")
            return interim, s.recv(1000)
    interim, final = run(client)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert b"PUT /e? 4 b'data'" in final


def test_oversized_body_reaches_handler_as_too_large(run):
    req = b"POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000
    out = run(lambda port: exchange(port, req + b"GET /after HTTP/1.1\r\nHost: h\r\n\r\n", 2), max_body=1000)
    assert b"413" in out and b"too large" in out
    assert b"GET /after? 0" in out  # the connection stays usable


def test_streamed_and_file_bodies_and_head(run):
    out = run(lambda port: exchange(port, b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n"))
    assert b"transfer-encoding: chunked" in out
    assert b"part0;" in out and b"part2;" in out and out.endswith(b"0\r\n\r\n")
    out = run(lambda port: exchange(port, b"GET /file HTTP/1.1\r\nHost: h\r\n\r\n"))
    assert b"content-length: 6" in out and out.endswith(b"abcdef")
    def head(port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"HEAD /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            buf = b""
            while chunk := s.recv(65536):
                buf += chunk
            return buf
    out = run(head)
    assert b"content-length: " in out and out.endswith(b"\r\n\r\n")  # length announced, no body sent


def test_header_injection_is_neutralized(run):
    out = run(lambda port: exchange(port, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
    assert b"\r\nInjected: yes" not in out


def test_garbage_gets_400_and_close(run):
    out = run(lambda port: exchange(port, b"\x00\x01 nonsense\r\n\r\n"))
    assert out.startswith(b"HTTP/1.1 400") and b"connection: close" in out


def test_connection_close_and_http10(run):
    out = run(lambda port: exchange(port, b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"))
    assert b"connection: close" in out
    out = run(lambda port: exchange(port, b"GET / HTTP/1.0\r\n\r\n"))
    assert b"200 OK" in out and b"connection: close" in out


def test_graceful_stop_finishes_in_flight_requests():
    async def main():
        server = HttpServer(handler, max_body=1000)
        await server.start("127.0.0.1", 0)
        loop = asyncio.get_running_loop()
        port = server.port
        pending = loop.run_in_executor(None, exchange, port, b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
        await asyncio.sleep(0.1)
        await server.stop(grace=5)
        out = await pending
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return out
    out = asyncio.run(main())
    assert b"200 OK" in out and b"GET /slow" in out and b"connection: close" in out


# ---- large bodies: planned from the headers, spooled to disk -------------------------------------

def spool_server(client_fn, tmp_path, *, limit=64 * 1024 * 1024, spool=True, decoder=None):
    """Run `client_fn(port)` against a server whose planner spools every large body to a blob
    store under `tmp_path`; returns (client result, what the handler saw)."""
    from cloudlet.gateway.body import BodyPlan
    from cloudlet.store.blobs import DiskBlobStore

    blobs = DiskBlobStore(tmp_path / "blobs")
    seen = []

    def plan(req):
        return BodyPlan(limit, spool=blobs.writer if spool else None, decoder=decoder() if decoder else None)

    async def handle(req, too_large):
        body = req.body
        if not isinstance(body, bytes):
            data = body.read()
            seen.append((type(body).__name__, len(data), hashlib.sha256(data).hexdigest(), body.sha256,
                         req.body_error))
        else:
            seen.append(("bytes", len(body), hashlib.sha256(body).hexdigest(), None, req.body_error))
        status = 413 if too_large else 400 if req.body_error else 200
        return HttpResponse(status, {"Content-Type": "text/plain"}, b"seen")

    async def main():
        server = HttpServer(handle, max_body=10 ** 12, plan_body=plan)
        await server.start("127.0.0.1", 0)
        try:
            return await asyncio.get_running_loop().run_in_executor(None, client_fn, server.port)
        finally:
            await server.stop(grace=2)
    out = asyncio.run(main())
    return out, seen, blobs


def test_large_body_is_spooled_and_cleaned_up(tmp_path):
    data = bytes(range(256)) * 20000  # ~5 MiB
    req = b"PUT /o HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(data) + data
    out, seen, blobs = spool_server(lambda port: exchange(port, req + b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n", 2),
                                    tmp_path)
    assert out.count(b"200 OK") == 2
    digest = hashlib.sha256(data).hexdigest()
    assert seen[0] == ("TempBlob", len(data), digest, digest, None)
    assert seen[1][:2] == ("bytes", 0)  # the connection carried on after the spooled body
    assert os.listdir(blobs.root / "tmp") == []  # the server closed (removed) the temp blob


def test_chunked_body_is_planned_once_it_grows(tmp_path):
    piece = b"y" * 300_000
    body = b"".join(b"%x\r\n%b\r\n" % (len(piece), piece) for _ in range(5)) + b"0\r\n\r\n"
    req = b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    _, seen, _ = spool_server(lambda port: exchange(port, req), tmp_path)
    assert seen[0][:3] == ("TempBlob", 1_500_000, hashlib.sha256(piece * 5).hexdigest())
    _, seen, _ = spool_server(lambda port: exchange(port, req), tmp_path / "mem", spool=False)
    assert seen[0][:2] == ("bytes", 1_500_000)  # planned, but kept in memory


def test_planned_limit_refuses_before_reading(tmp_path):
    def client(port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"PUT /o HTTP/1.1\r\nHost: h\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n")
            return s.recv(1000)
    first, seen, _ = spool_server(client, tmp_path, limit=2_000_000)
    # No 100 Continue but the answer at once: the client need not send 5 MB to learn it is too large.
    assert first.startswith(b"HTTP/1.1 413") and b"connection: close" in first
    chunk = b"z" * 1_000_000
    body = b"".join(b"%x\r\n%b\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    req = b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    out, seen, blobs = spool_server(lambda port: exchange(port, req), tmp_path / "b", limit=2_000_000)
    assert b"413" in out and seen[0][0] == "bytes" and os.listdir(blobs.root / "tmp") == []


def test_decoding_errors_reach_the_handler(tmp_path):
    from cloudlet.gateway.awschunked import AwsChunkedDecoder, ChunkFormatError

    payload = b"p" * 2_000_000
    framed = b"%x\r\n%b\r\n" % (len(payload), payload) + b"0\r\n\r\n"
    req = b"PUT /o HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(framed)
    _, seen, _ = spool_server(lambda port: exchange(port, req + framed), tmp_path, decoder=AwsChunkedDecoder)
    assert seen[0][:3] == ("TempBlob", len(payload), hashlib.sha256(payload).hexdigest())
    broken = framed.replace(b"\r\n0\r\n", b"\r\nX\r\n")
    out, seen, blobs = spool_server(lambda port: exchange(port, req + broken), tmp_path / "b",
                                    decoder=AwsChunkedDecoder)
    assert b"400" in out and isinstance(seen[0][4], ChunkFormatError)
    assert os.listdir(blobs.root / "tmp") == []


def test_spooling_keeps_memory_bounded(tmp_path):
    """A slow disk (here: a writer that sleeps) pauses reading instead of buffering the body."""
    import time
    import tracemalloc

    from cloudlet.store.blobs import DiskBlobStore

    class SlowWriter:
        def __init__(self, inner):
            self.inner = inner

        def write(self, data):
            time.sleep(0.002)
            self.inner.write(data)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    total = 64 * 1024 * 1024
    chunk = b"m" * (1 << 20)

    def client(port):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"PUT /o HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % total)
            for _ in range(total // len(chunk)):
                s.sendall(chunk)
            return s.recv(1000)

    from cloudlet.gateway.body import BodyPlan

    blobs = DiskBlobStore(tmp_path / "blobs")
    sizes = []

    async def handle(req, too_large):
        sizes.append(req.body.size)
        return HttpResponse(200, {}, b"")

    async def main():
        server = HttpServer(handle, max_body=10 ** 12,
                            plan_body=lambda req: BodyPlan(10 ** 12, spool=lambda: SlowWriter(blobs.writer())))
        await server.start("127.0.0.1", 0)
        tracemalloc.start()
        try:
            await asyncio.get_running_loop().run_in_executor(None, client, server.port)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            await server.stop(grace=2)
    peak = asyncio.run(main())
    assert sizes == [total]
    assert peak < 24 * 1024 * 1024, peak  # HIGH_WATER (8 MiB) plus what is in flight


# ---- upgrades --------------------------------------------------------------------------------------

def test_upgrades_without_a_taker_get_400(run):
    for upgrade in (b"h2c", b"websocket"):
        req = (b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: " + upgrade +
               b"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        out = run(lambda port, req=req: exchange(port, req))
        assert out.startswith(b"HTTP/1.1 400") and b"connection: close" in out

