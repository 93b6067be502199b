"""WebSocket connections for data-plane routes, on wsproto.

A route declared with `websocket=handler` (routes.py) takes WebSocket upgrades: the HTTP server
hands the connection to a `WebSocketSession` (a Tunnel, http11.py), which runs the opening
handshake with wsproto and calls `handler(ctx, ws)` with the route's context. The handler
accepts (`await ws.accept()`) or refuses (`await ws.reject(status)`, or returning without
accepting answers 403); then it receives and sends messages until either side closes. Pings
are answered by the session. Later users: API Gateway WebSocket APIs, AppSync subscriptions.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from cloudlet.protocol import HttpRequest

from .context import RequestContext

if TYPE_CHECKING:
    from .http11 import TunnelIO

log = logging.getLogger("cloudlet.websocket")

MAX_MESSAGE = 16 * 1024 * 1024   # larger messages close the connection with 1009 (too big)
QUEUE_HIGH, QUEUE_LOW = 64, 16   # received messages waiting for the handler: pause, resume
CLOSE_WAIT = 5.0                 # seconds to wait for the peer's close frame after ours

Handler = Callable[[RequestContext, "WebSocket"], Awaitable[None]]


class WebSocketClosed(Exception):
    """The connection is closed: `code` and `reason` of the close frame (1006: it just went away)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"websocket closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


class WebSocket:
    """One WebSocket connection, as a route handler sees it."""

    def __init__(self, session: WebSocketSession, request: Request) -> None:
        self._session = session
        self.subprotocols: list[str] = list(request.subprotocols)  # what the client offered
        self.subprotocol: str | None = None
        self.accepted = False

    async def accept(self, subprotocol: str | None = None) -> None:
        """Complete the handshake (101), choosing one of the offered subprotocols or none."""
        if self.accepted:
            return
        self._session.send(AcceptConnection(subprotocol=subprotocol))
        self.accepted, self.subprotocol = True, subprotocol
        self._session.opened()
        await self._session.drain()

    async def reject(self, status: int = 403) -> None:
        """Refuse the upgrade with an HTTP status (only before accepting)."""
        if self.accepted:
            raise RuntimeError("the WebSocket was already accepted")
        self._session.send(RejectConnection(status_code=status))
        await self._session.drain()

    async def receive(self) -> str | bytes:
        """The next message: str for text frames, bytes for binary ones. Raises
        WebSocketClosed once the peer closed (or the connection dropped)."""
        return await self._session.receive()

    async def send(self, data: str | bytes) -> None:
        """Send one message (text for str, binary for bytes)."""
        if not self.accepted:
            raise RuntimeError("accept the WebSocket before sending")
        self._session.send_message(data)
        await self._session.drain()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (idempotent)."""
        self._session.close(code, reason)
        await self._session.drain()

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[str | bytes]:
        while True:
            try:
                yield await self.receive()
            except WebSocketClosed:
                return


class WebSocketSession:
    """Drives one upgraded connection: wsproto for framing, the route's handler for meaning."""

    def __init__(self, req: HttpRequest, handler: Handler, make_context: Callable[[], RequestContext]) -> None:
        self.req = req
        self.handler = handler
        self.make_context = make_context
        self._ws = WSConnection(ConnectionType.SERVER)
        self._io: TunnelIO | None = None
        self._early: list[bytes] = []            # bytes from the client before we accepted
        self._open = False
        self._messages: deque[str | bytes] = deque()
        self._arrived = asyncio.Event()
        self._fragments: list[str | bytes] = []
        self._fragment_size = 0
        self._closed: WebSocketClosed | None = None
        self._gone = asyncio.Event()             # the close handshake completed or the socket went

    # ---- the Tunnel side (http11.py)
    def feed(self, data: bytes) -> None:
        if not self._open:
            self._early.append(data)
            return
        try:
            self._ws.receive_data(data)
        except RemoteProtocolError as exc:
            self._fail(1002, str(exc))
            return
        try:
            self._process()
        except WebSocketClosed:
            self._finish(WebSocketClosed(1006))

    def connection_lost(self) -> None:
        self._finish(WebSocketClosed(1006))

    async def run(self, io: TunnelIO) -> None:
        self._io = io
        try:
            self._ws.receive_data(self._handshake_bytes())
            request = next((e for e in self._ws.events() if isinstance(e, Request)), None)
        except RemoteProtocolError:
            request = None
        if request is None:  # not a valid WebSocket opening handshake (no key, wrong version, ...)
            io.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            return
        ws = WebSocket(self, request)
        try:
            await self.handler(self.make_context(), ws)
        except WebSocketClosed:
            pass
        except Exception:
            log.exception("websocket handler for %s failed", self.req.path)
            if ws.accepted:
                self.close(1011, "internal error")
        if self._ws.state is ConnectionState.CONNECTING:
            self.send(RejectConnection(status_code=403))
            return
        if not ws.accepted:
            return
        self.close(1000, "")
        try:
            await asyncio.wait_for(self._gone.wait(), CLOSE_WAIT)
        except TimeoutError:
            pass

    # ---- used by WebSocket
    def opened(self) -> None:
        self._open = True
        early, self._early = self._early, []
        for data in early:
            self.feed(data)

    def send(self, event: Event) -> None:
        if self._io is None or self._io.closed:
            raise WebSocketClosed(1006)
        try:
            self._io.write(self._ws.send(event))
        except LocalProtocolError:
            raise WebSocketClosed(self._closed.code if self._closed else 1006) from None

    def send_message(self, data: str | bytes) -> None:
        if self._closed is not None:
            raise self._closed
        self.send(TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data))

    async def drain(self) -> None:
        if self._io is not None:
            await self._io.drain()

    async def receive(self) -> str | bytes:
        while not self._messages:
            if self._closed is not None:
                raise self._closed
            self._arrived.clear()
            await self._arrived.wait()
        message = self._messages.popleft()
        if len(self._messages) < QUEUE_LOW and self._io is not None:
            self._io.pause_reading(False)
        return message

    def close(self, code: int, reason: str) -> None:
        if self._ws.state is ConnectionState.OPEN:
            self.send(CloseConnection(code=code, reason=reason or None))
        if self._closed is None:
            self._closed = WebSocketClosed(code, reason)
            self._arrived.set()

    # ---- events from the peer
    def _process(self) -> None:
        for event in self._ws.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                self._on_message(event)
            elif isinstance(event, Ping):
                if self._ws.state is ConnectionState.OPEN:
                    self.send(event.response())
            elif isinstance(event, CloseConnection):
                if self._ws.state is ConnectionState.REMOTE_CLOSING:
                    self.send(event.response())
                self._finish(WebSocketClosed(event.code, event.reason or ""))

    def _on_message(self, event: TextMessage | BytesMessage) -> None:
        self._fragments.append(bytes(event.data) if isinstance(event.data, bytearray) else event.data)
        self._fragment_size += len(event.data)
        if self._fragment_size > MAX_MESSAGE:
            self._fail(1009, "message too big")
            return
        if not event.message_finished:
            return
        parts, self._fragments, self._fragment_size = self._fragments, [], 0
        if isinstance(event, TextMessage):
            self._messages.append("".join(p for p in parts if isinstance(p, str)))
        else:
            self._messages.append(b"".join(p for p in parts if isinstance(p, bytes)))
        self._arrived.set()
        if len(self._messages) > QUEUE_HIGH and self._io is not None:
            self._io.pause_reading(True)  # the handler is behind: let TCP push back on the client

    def _fail(self, code: int, reason: str) -> None:
        try:
            self.close(code, reason)
        except WebSocketClosed:
            pass
        self._finish(WebSocketClosed(code, reason))

    def _finish(self, closed: WebSocketClosed) -> None:
        if self._closed is None:
            self._closed = closed
        self._arrived.set()
        self._gone.set()

    def _handshake_bytes(self) -> bytes:
        """The upgrade request as sent, for wsproto's handshake (the HTTP server parsed it)."""
        req = self.req
        target = req.path + ("?" + req.query_string if req.query_string else "")
        head = f"{req.method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in req.headers.items())
        return (head + "\r\n").encode("latin-1", "replace")
