"""WebSocket upgrades through the gateway, driven by a real client (the `websockets` library).

The echo route is the test's own, registered on the real server started in this process
(tests/support/inprocess.py); everything from the socket to the route is the production path.
"""

from __future__ import annotations

import socket
import threading

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from cloudlet.gateway.routes import Route
from cloudlet.gateway.websocket import WebSocketClosed
from tests.support.inprocess import InProcessServer

ended: list[tuple[int, str]] = []


async def echo(ctx, ws):
    await ws.accept(ws.subprotocols[0] if ws.subprotocols else None)
    try:
        async for message in ws:
            if message == "close-me":
                await ws.close(4000, "asked to")
                return
            if message == "whoami":
                await ws.send(f"{ctx.account} {ctx.authenticated} {ctx.request.path}")
                continue
            await ws.send(message)
    finally:
        ended.append((0, "handler done"))


async def refuse(ctx, ws):
    if ctx.request.query_string != "let-me-in":
        return  # not accepting answers 403
    await ws.accept()
    try:
        await ws.receive()
    except WebSocketClosed as closed:
        ended.append((closed.code, closed.reason))


@pytest.fixture(scope="module")
def srv():
    server = InProcessServer().start()
    server.gateway.routes.add(Route("test-echo", path_prefix="/_test/echo", websocket=echo, identity=True,
                                    authenticate=True))
    server.gateway.routes.add(Route("test-refuse", path_prefix="/_test/refuse", websocket=refuse))
    yield server
    server.stop()


def ws_url(srv, path: str) -> str:
    return f"ws://127.0.0.1:{srv.port}{path}"


def test_text_and_binary_frames_echo(srv):
    with connect(ws_url(srv, "/_test/echo"), compression=None) as ws:
        ws.send("hello")
        assert ws.recv() == "hello"
        ws.send(b"\x00\x01\xffbinary")
        assert ws.recv() == b"\x00\x01\xffbinary"
        big = "x" * 300_000  # several TCP segments
        ws.send(big)
        assert ws.recv() == big
        ws.send(["frag", "mented"])  # one message in three frames (two fragments and the end)
        assert ws.recv() == "fragmented"
        ws.send("whoami")
        assert ws.recv() == "000000000000 False /_test/echo"


def test_ping_pong_and_client_close(srv):
    before = len(ended)
    with connect(ws_url(srv, "/_test/echo"), compression=None) as ws:
        assert ws.ping(b"are you there").wait(5)
        ws.send("after ping")
        assert ws.recv() == "after ping"
    assert ws.close_code == 1000
    for _ in range(100):  # the handler saw the close and returned
        if len(ended) > before:
            break
        threading.Event().wait(0.02)
    assert len(ended) > before


def test_server_close_reaches_the_client(srv):
    with connect(ws_url(srv, "/_test/echo"), compression=None) as ws:
        ws.send("close-me")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "asked to")


def test_subprotocol_is_negotiated(srv):
    with connect(ws_url(srv, "/_test/echo"), subprotocols=["chat.v2", "chat.v1"], compression=None) as ws:
        assert ws.subprotocol == "chat.v2"


def test_a_route_may_refuse_and_the_peer_close_reaches_it(srv):
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(srv, "/_test/refuse"), compression=None)
    assert refused.value.response.status_code == 403
    with connect(ws_url(srv, "/_test/refuse?let-me-in"), compression=None) as ws:
        ws.close(4001, "leaving")
    for _ in range(100):
        if (4001, "leaving") in ended:
            break
        threading.Event().wait(0.02)
    assert (4001, "leaving") in ended


def raw(srv, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_other_upgrades_and_unrouted_websockets_get_400(srv):
    h2c = b"GET /_test/echo HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n"
    assert raw(srv, h2c).startswith(b"HTTP/1.1 400")
    nowhere = (b"GET /2015-03-31/functions HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert raw(srv, nowhere).startswith(b"HTTP/1.1 400")
    no_key = b"GET /_test/echo HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    assert raw(srv, no_key).startswith(b"HTTP/1.1 400")


def test_plain_http_to_a_websocket_route_is_426(srv):
    out = raw(srv, b"GET /_test/echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 426")
