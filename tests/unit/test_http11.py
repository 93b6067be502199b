"""The gateway's HTTP/1.1 server, driven over real sockets with a small handler."""

from __future__ import annotations

import asyncio
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
