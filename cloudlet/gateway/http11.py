"""The HTTP/1.1 server in front of the gateway: httptools parses, asyncio (uvloop) carries.

Why not an ASGI server: ASGI writes a response's head and body in two transport writes,
which on loopback costs a second wake-up of the client per request (about a third of a
small request's latency here). This server hands the gateway whole requests and writes each
buffered response with one write. It keeps what clients rely on: keep-alive and pipelining,
chunked request bodies, `Expect: 100-continue`, streamed response bodies with flow control,
HEAD, an idle timeout, and a graceful stop that lets in-flight requests finish.

Bodies: a small one is buffered in memory. Before reading one larger than SPILL_THRESHOLD
(or once a chunked one grows past it) the server asks `plan_body(req)` how to receive it
(body.py): within which limit, and whether to stream it to disk (spooled, decoded on a
worker thread, with reading paused while the disk falls behind). A body over its limit, or
over the server's overall `max_body`, is read and discarded and the handler is told, so it
can answer with the service's own "too large" error.

Upgrades: a request asking to switch protocols (`Connection: Upgrade`) is offered to
`upgrade(req)`; a `Tunnel` it returns takes the connection over (websocket.py serves
WebSocket routes that way). With no taker the answer is 400 and the connection closes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from http import HTTPStatus
from typing import Any, Protocol

import httptools

from cloudlet.protocol import HttpRequest, HttpResponse

from .body import SPILL_THRESHOLD, BodyPlan, BodySpool, BodyTooLarge

log = logging.getLogger("cloudlet.http")

Handler = Callable[[HttpRequest, bool], Awaitable[HttpResponse]]
BodyPlanner = Callable[[HttpRequest], BodyPlan]


class Tunnel(Protocol):
    """What takes over an upgraded connection: bytes in through `feed`, and `run(io)` drives
    it (handshake included) until it is done; the server closes the connection afterwards."""

    def feed(self, data: bytes) -> None: ...

    def connection_lost(self) -> None: ...

    async def run(self, io: TunnelIO) -> None: ...


Upgrader = Callable[[HttpRequest], Tunnel | None]

IDLE_TIMEOUT = 75.0          # seconds a keep-alive connection may sit idle
STREAM_CHUNK = 256 * 1024
MAX_PIPELINED = 64           # queued requests per connection before we stop reading


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}
_UNSAFE = str.maketrans({"\r": " ", "\n": " "})


def response_head(resp: HttpResponse, length: int | None, keep_alive: bool) -> bytearray:
    head = bytearray(_STATUS_LINES.get(resp.status) or f"HTTP/1.1 {resp.status} {_reason(resp.status)}\r\n".encode())
    for name, value in resp.headers.items():
        low = name.lower()
        if low in ("content-length", "transfer-encoding", "connection"):
            continue
        for item in value if isinstance(value, (list, tuple)) else (value,):  # lists: one line each
            head += f"{name}: {str(item).translate(_UNSAFE)}\r\n".encode("latin-1", "replace")
    if length is None:
        head += b"transfer-encoding: chunked\r\n"
    else:
        head += b"content-length: %d\r\n" % length
    if not keep_alive:
        head += b"connection: close\r\n"
    head += b"\r\n"
    return head


class _Pending:
    __slots__ = ("req", "too_large", "keep_alive", "spool", "upgrade")

    def __init__(self, req: HttpRequest, too_large: bool, keep_alive: bool) -> None:
        self.req = req
        self.too_large = too_large
        self.keep_alive = keep_alive
        self.spool: BodySpool | None = None
        self.upgrade = False


class ServerState:
    def __init__(self, handler: Handler, max_body: int, plan_body: BodyPlanner | None = None,
                 upgrade: Upgrader | None = None) -> None:
        self.handler = handler
        self.max_body = max_body
        self.plan_body = plan_body
        self.upgrade = upgrade
        self.connections: set[HttpProtocol] = set()
        self.stopping = False


class TunnelIO:
    """The connection as an upgraded protocol sees it: write with flow control, read control."""

    __slots__ = ("_conn",)

    def __init__(self, conn: HttpProtocol) -> None:
        self._conn = conn

    @property
    def closed(self) -> bool:
        return self._conn.closed

    def write(self, data: bytes) -> None:
        if self._conn.transport is not None and not self._conn.closed:
            self._conn.transport.write(data)

    async def drain(self) -> None:
        if not self._conn.writable.is_set():
            await self._conn.writable.wait()

    def pause_reading(self, paused: bool) -> None:
        self._conn.set_reading_paused("tunnel", paused)


class HttpProtocol(asyncio.Protocol):
    def __init__(self, state: ServerState, origin: str = "") -> None:
        self.state = state
        self.origin = origin  # HttpRequest.origin of every request on this connection
        self.peer = ""  # HttpRequest.peer: the client's IP address
        self.loop = asyncio.get_event_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.queue: deque[_Pending] = deque()
        self.task: asyncio.Task | None = None
        self.idle_timer: asyncio.TimerHandle | None = None
        self.writable = asyncio.Event()
        self.writable.set()
        self.closed = False
        self._pauses: set[str] = set()      # why reading is paused: "pipeline", "spool", "tunnel"
        self.last_active = self.loop.time()
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._limit = state.max_body        # most body bytes accepted as sent (on the wire)
        self._planned = False
        self._spool: BodySpool | None = None
        self._too_large = False
        self._current: _Pending | None = None
        self._tunnel: Tunnel | None = None
        self._upgrade_buffer: list[bytes] | None = None   # bytes after an upgrade request

    # ---- connection ----
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover
                pass
        self.state.connections.add(self)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.state.connections.discard(self)
        self._disarm_idle()
        self.writable.set()
        if self._spool is not None:
            self._spool.abort()
        for pending in self.queue:
            if pending.spool is not None:
                pending.spool.abort()
        if self._tunnel is not None:
            self._tunnel.connection_lost()
        elif self.task is not None and not self.task.done():
            self.task.cancel()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        self.last_active = self.loop.time()
        if self._tunnel is not None:
            self._tunnel.feed(data)
            return
        if self._upgrade_buffer is not None:  # the upgrade is being decided; keep what follows
            self._upgrade_buffer.append(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(data)
            self._upgrade_buffer = [data[offset:]] if offset < len(data) else []
            self.set_reading_paused("tunnel", True)  # until a tunnel takes the bytes
        except httptools.HttpParserError:
            self._reject(400, "Invalid HTTP request")

    def set_reading_paused(self, reason: str, paused: bool) -> None:
        """Pause reading from the socket while any reason holds (pipelining, spooling, tunnels)."""
        before = bool(self._pauses)
        if paused:
            self._pauses.add(reason)
        else:
            self._pauses.discard(reason)
        if self.transport is not None and not self.closed and before != bool(self._pauses):
            if self._pauses:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def _reject(self, status: int, message: str) -> None:
        if self.transport is not None and not self.closed:
            body = message.encode()
            self.transport.write(response_head(HttpResponse(status, {"Content-Type": "text/plain"}), len(body),
                                               False) + body)
            self.transport.close()
        self.closed = True

    def _arm_idle(self) -> None:
        """One timer per connection, re-armed only when it fires early (cheaper than per request)."""
        if self.idle_timer is None and not self.closed:
            self.idle_timer = self.loop.call_later(IDLE_TIMEOUT, self._idle_check)

    def _idle_check(self) -> None:
        self.idle_timer = None
        quiet = self.loop.time() - self.last_active
        if quiet >= IDLE_TIMEOUT and self.idle:
            self.close_if_idle()
        elif not self.closed:
            self.idle_timer = self.loop.call_later(max(IDLE_TIMEOUT - quiet, 1.0), self._idle_check)

    def _disarm_idle(self) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None

    @property
    def idle(self) -> bool:
        return (not self.queue and (self.task is None or self.task.done()) and self._current is None
                and self._tunnel is None)

    def close_if_idle(self) -> None:
        if self.idle and self.transport is not None and not self.closed:
            self.transport.close()
            self.closed = True

    # ---- parser callbacks ----
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []
        self._size = 0
        self._limit = self.state.max_body
        self._planned = False
        self._spool = None
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        headers: dict[str, str] = {}
        for k, v in self._headers:
            name = k.decode("latin-1").lower()
            value = v.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        raw_path, _, query = self._url.partition(b"?")
        query = query.partition(b"#")[0]
        path = raw_path.decode("utf-8", "surrogateescape") or "/"
        method = self.parser.get_method().decode("latin-1")
        # Host names are case-insensitive: lower-cased once here, so routes compare plainly.
        req = HttpRequest(method, path, query.decode("latin-1"), headers, b"", headers.get("host", "").lower(),
                          origin=self.origin, peer=self.peer)
        keep_alive = self.parser.should_keep_alive() and not self.state.stopping
        self._current = _Pending(req, False, keep_alive)
        if self.parser.should_upgrade():
            self._current.upgrade = True
            return
        length = headers.get("content-length", "")
        if length.isdigit():
            declared = int(length)
            if declared > self.state.max_body:
                self._too_large = True
            elif declared > SPILL_THRESHOLD:
                self._plan(declared)
        if headers.get("expect", "").lower() == "100-continue" and self.transport:
            if not self._too_large:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            else:  # answer now: the client waits to learn whether to send the body at all
                pending, self._current = self._current, None
                pending.too_large, pending.keep_alive = True, False
                self._enqueue(pending)

    def _plan(self, size: int) -> None:
        """Ask how to receive a large body (`size`: declared, or received so far)."""
        self._planned = True
        planner, current = self.state.plan_body, self._current
        if planner is None or current is None:
            return
        try:
            plan = planner(current.req)
        except Exception:
            log.exception("planning the body of %s %s failed", current.req.method, current.req.path)
            return
        limit = min(plan.limit, self.state.max_body)
        decoded = current.req.headers.get("x-amz-decoded-content-length", "") if plan.decoder else ""
        if (int(decoded) if decoded.isdigit() else size) > limit:
            self._too_large = True
        elif plan.spool is not None:
            plan.limit = limit
            self._spool = BodySpool(plan, lambda paused: self.set_reading_paused("spool", paused))
        else:
            self._limit = limit

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        self._size += len(body)
        if self._size > self._limit:
            self._refuse_body()
            return
        if self._spool is not None:
            self._spool.write(body)
            return
        self._body.append(body)
        if not self._planned and self._size > SPILL_THRESHOLD:  # chunked, or longer than declared
            self._plan(self._size)
            if self._too_large:
                self._refuse_body()
            elif self._spool is not None:
                for chunk in self._body:
                    self._spool.write(chunk)
                self._body = []

    def _refuse_body(self) -> None:
        self._too_large = True
        self._body = []
        if self._spool is not None:
            self._spool.abort()
            self._spool = None

    def on_message_complete(self) -> None:
        pending = self._current
        self._current = None
        if pending is None:  # pragma: no cover - parser guarantees order
            return
        pending.too_large = self._too_large
        if not self._too_large and self._body:
            pending.req.body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        pending.spool, self._spool = self._spool, None
        self._body = []
        self._enqueue(pending)

    def _enqueue(self, pending: _Pending) -> None:
        self.queue.append(pending)
        if len(self.queue) > MAX_PIPELINED:
            self.set_reading_paused("pipeline", True)
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._serve_queue())

    # ---- serving ----
    async def _serve_queue(self) -> None:
        while self.queue and not self.closed:
            pending = self.queue.popleft()
            if len(self.queue) < MAX_PIPELINED // 2:
                self.set_reading_paused("pipeline", False)
            if pending.upgrade:
                await self._serve_upgrade(pending.req)
                return
            if pending.spool is not None:
                await self._receive_spooled(pending)
            try:
                resp = await self.state.handler(pending.req, pending.too_large)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("unhandled error serving %s %s", pending.req.method, pending.req.path)
                resp = HttpResponse(500, {"Content-Type": "text/plain"}, b"Internal Server Error")
            finally:
                if not isinstance(pending.req.body, bytes):
                    pending.req.body.close()  # a spooled body; a provider that wants it keep()s it
            keep_alive = pending.keep_alive and not self.state.stopping
            await self._write(resp, pending.req.method == "HEAD", keep_alive)
            if not keep_alive:
                if self.transport is not None and not self.closed:
                    self.transport.close()
                self.closed = True
                return
        if not self.closed:
            if self.state.stopping and self._current is None and self.transport is not None:
                self.transport.close()
                self.closed = True
            else:
                self._arm_idle()

    @staticmethod
    async def _receive_spooled(pending: _Pending) -> None:
        """Wait until a spooled body is all on disk; it becomes the request's body, or what
        went wrong becomes its `body_error` (or the request is too large after all)."""
        assert pending.spool is not None
        try:
            pending.req.body = await pending.spool.complete()
        except BodyTooLarge:
            pending.too_large = True
        except Exception as exc:
            pending.req.body_error = exc
        finally:
            pending.spool = None

    async def _serve_upgrade(self, req: HttpRequest) -> None:
        """Hand the connection to whoever accepts the upgrade, else answer 400 and close."""
        tunnel = None
        if self.state.upgrade is not None:
            try:
                tunnel = self.state.upgrade(req)
            except Exception:
                log.exception("upgrade of %s %s failed", req.method, req.path)
        if tunnel is None or self.transport is None:
            self._reject(400, "Protocol upgrades are not supported")
            return
        self._tunnel = tunnel
        buffered, self._upgrade_buffer = self._upgrade_buffer or [], None
        for data in buffered:
            tunnel.feed(data)
        self.set_reading_paused("tunnel", False)
        try:
            await tunnel.run(TunnelIO(self))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("upgraded connection %s %s failed", req.method, req.path)
        finally:
            if self.transport is not None and not self.closed:
                self.transport.close()
            self.closed = True

    async def _write(self, resp: HttpResponse, head_only: bool, keep_alive: bool) -> None:
        transport = self.transport
        if transport is None or self.closed:
            return
        body = resp.body
        if resp.status in (204, 304):  # responses that never have a body (RFC 9110 6.4.1)
            _close_body(body)
            body = b""
        if isinstance(body, (bytes, bytearray, memoryview)):
            length = len(body)
            if head_only and "Content-Length" in resp.headers:
                length = int(resp.headers["Content-Length"])
            out = response_head(resp, length, keep_alive)
            if not head_only:
                out += body
            transport.write(out)
            return
        declared = resp.headers.get("Content-Length")
        stream_length = int(declared) if declared is not None else None
        transport.write(response_head(resp, stream_length, keep_alive))
        if head_only:
            _close_body(body)
            return
        async for chunk in _chunks(body):
            if self.closed:
                break
            if not self.writable.is_set():
                await self.writable.wait()
            if chunk:
                transport.write(chunk if stream_length is not None else b"%x\r\n%b\r\n" % (len(chunk), chunk))
        if stream_length is None and not self.closed:
            transport.write(b"0\r\n\r\n")


def _close_body(body: Any) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


async def _chunks(body: Any) -> AsyncIterator[bytes]:
    """Bytes from an async iterator, a sync iterator or a file-like object (read off-loop)."""
    if hasattr(body, "__aiter__"):
        async for chunk in body:
            yield chunk
        return
    if hasattr(body, "read"):
        try:
            while chunk := await asyncio.to_thread(body.read, STREAM_CHUNK):
                yield chunk
        finally:
            _close_body(body)
        return
    iterator = iter(body) if isinstance(body, Iterable) else iter(())
    sentinel = object()
    while (chunk := await asyncio.to_thread(next, iterator, sentinel)) is not sentinel:
        yield chunk


class HttpServer:
    """Listens, serves, and stops gracefully: stop accepting, finish in-flight requests,
    close idle connections, and force the rest closed after `grace` seconds."""

    def __init__(self, handler: Handler, *, max_body: int, plan_body: BodyPlanner | None = None,
                 upgrade: Upgrader | None = None) -> None:
        self.state = ServerState(handler, max_body, plan_body, upgrade)
        self.server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: HttpProtocol(self.state), host, port,
                                               reuse_address=True, backlog=2048)

    async def serve_socket(self, sock: socket.socket, origin: str = "function") -> asyncio.AbstractServer:
        """Serve one more listening socket (one in a function's network namespace); its requests
        carry `origin`. The caller closes the returned server; stop() closes its connections."""
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: HttpProtocol(self.state, origin), sock=sock)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def stop(self, grace: float = 15.0) -> None:
        self.state.stopping = True
        if self.server is not None:
            self.server.close()
        for conn in list(self.state.connections):
            conn.close_if_idle()
        deadline = asyncio.get_running_loop().time() + grace
        while self.state.connections and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
            for conn in list(self.state.connections):
                conn.close_if_idle()
        for conn in list(self.state.connections):
            if conn.transport is not None:
                conn.transport.close()
        if self.server is not None:
            await self.server.wait_closed()
