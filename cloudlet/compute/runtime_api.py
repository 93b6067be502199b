"""The Lambda Runtime API (2018-06-01) for one execution environment.

Every ProcessEnvironment gets its own listener on 127.0.0.1, an ephemeral port in its account's
network namespace (network.py) or, sharing the host's network, of the host's loopback (handed to
the runtime as AWS_LAMBDA_RUNTIME_API): the API's paths carry no environment identity, and a
listener per environment makes "which environment is asking" a property of the connection,
as it is on AWS where each environment has its own endpoint.

    GET  /2018-06-01/runtime/invocation/next             long-polls for the next event
    POST /2018-06-01/runtime/invocation/{id}/response    202
    POST /2018-06-01/runtime/invocation/{id}/error       202 (Lambda-Runtime-Function-Error-Type)
    POST /2018-06-01/runtime/init/error                  202

A response posted with `Lambda-Runtime-Function-Response-Mode: streaming` (chunked) is handed to
the environment chunk by chunk as it arrives, not when it is complete; an error that happens
mid-stream arrives in the trailers `Lambda-Runtime-Function-Error-Type` and
`Lambda-Runtime-Function-Error-Body` (base64), as AWS's Runtime API defines.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import socket
from typing import TYPE_CHECKING

import httptools

if TYPE_CHECKING:
    from cloudlet.compute.environment import Invocation, ProcessEnvironment

PREFIX = b"/2018-06-01/runtime/"
MAX_BODY = 6 * 1024 * 1024 + 100
REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 413: "Request Entity Too Large", 500: "Internal Server Error"}
ACCEPTED = json.dumps({"status": "OK"}).encode()


def _error_body(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class RuntimeAPIServer:
    def __init__(self, env: ProcessEnvironment) -> None:
        self.env = env
        self.server: asyncio.Server | None = None
        self.port = 0
        self.current: Invocation | None = None  # delivered (or queued) and not yet answered
        self._delivered = False
        self._waiting: _Connection | None = None  # a /next request waiting for an event
        self._conns: set[_Connection] = set()

    async def open(self, sock: socket.socket | None = None) -> int:
        """Listen on an ephemeral port of the host's loopback, or serve `sock`: a socket listening
        in the environment's network namespace."""
        loop = asyncio.get_running_loop()
        if sock is None:
            self.server = await loop.create_server(lambda: _Connection(self), "127.0.0.1", 0)
        else:
            self.server = await loop.create_server(lambda: _Connection(self), sock=sock)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in list(self._conns):
            conn.close()

    # ---- the engine side --------------------------------------------------------------------

    def deliver(self, inv: Invocation) -> None:
        self.current = inv
        self._delivered = False
        if self._waiting is not None:
            conn, self._waiting = self._waiting, None
            self._send_event(conn, inv)

    def _send_event(self, conn: _Connection, inv: Invocation) -> None:
        self._delivered = True
        headers = [
            (b"Content-Type", b"application/json"),
            (b"Lambda-Runtime-Aws-Request-Id", inv.request_id.encode()),
            (b"Lambda-Runtime-Deadline-Ms", str(inv.deadline_ms).encode()),
            (b"Lambda-Runtime-Invoked-Function-Arn", inv.invoked_arn.encode()),
        ]
        if inv.trace_id:
            headers.append((b"Lambda-Runtime-Trace-Id", inv.trace_id.encode()))
        if inv.client_context:
            headers.append((b"Lambda-Runtime-Client-Context", inv.client_context.encode()))
        if inv.cognito_identity:
            headers.append((b"Lambda-Runtime-Cognito-Identity", inv.cognito_identity.encode()))
        conn.respond(200, inv.payload, headers)

    # ---- the runtime side ---------------------------------------------------------------------

    def begin_stream(self, conn: _Connection, path: bytes, headers: dict[bytes, bytes]) -> bool:
        """A streaming POST to .../response: if it answers the current invocation, its body goes
        to the environment as it arrives (True); anything else is answered when complete."""
        parts = path[len(PREFIX):].split(b"/") if path.startswith(PREFIX) else []
        inv = self.current
        if (len(parts) != 3 or parts[0] != b"invocation" or parts[2] != b"response" or inv is None
                or not self._delivered or parts[1].decode("utf-8", "replace") != inv.request_id):
            return False
        self.current = None
        content_type = headers.get(b"content-type", b"application/octet-stream").decode("latin-1")
        self.env.runtime_stream_open(content_type, conn.pause_reading, conn.resume_reading)
        return True

    def end_stream(self, conn: _Connection, trailers: dict[bytes, bytes]) -> None:
        conn.respond(202, ACCEPTED)
        error_type = trailers.get(b"lambda-runtime-function-error-type", b"").decode("utf-8", "replace") or None
        error_body = None
        if b"lambda-runtime-function-error-body" in trailers:
            try:
                error_body = base64.b64decode(trailers[b"lambda-runtime-function-error-body"], validate=True)
            except (binascii.Error, ValueError):
                error_body = trailers[b"lambda-runtime-function-error-body"]
        self.env.runtime_stream_end(error_type, error_body)

    def handle(self, conn: _Connection, method: bytes, path: bytes, headers: dict[bytes, bytes],
               body: bytes, too_large: bool) -> None:
        if not path.startswith(PREFIX):
            return conn.respond(404, _error_body("InvalidRequest", "Unknown path"))
        rest = path[len(PREFIX):]
        error_type = headers.get(b"lambda-runtime-function-error-type", b"").decode() or None
        if rest == b"invocation/next":
            if method != b"GET":
                return conn.respond(405, _error_body("InvalidRequest", "Method not allowed"))
            self.env.runtime_next()
            if self.current is not None and not self._delivered:
                return self._send_event(conn, self.current)
            self._waiting = conn
            return None
        if rest == b"init/error":
            self.env.runtime_init_error(body, error_type)
            return conn.respond(202, ACCEPTED)
        parts = rest.split(b"/")
        if len(parts) == 3 and parts[0] == b"invocation" and parts[2] in (b"response", b"error"):
            if method != b"POST":
                return conn.respond(405, _error_body("InvalidRequest", "Method not allowed"))
            inv = self.current
            if inv is None or not self._delivered or parts[1].decode() != inv.request_id:
                return conn.respond(400, _error_body("InvalidRequestID", "Invalid request ID"))
            self.current = None
            if parts[2] == b"response":
                if too_large:
                    conn.respond(413, _error_body("RequestEntityTooLarge",
                                                  f"Exceeded maximum allowed payload size ({MAX_BODY} bytes)."))
                else:
                    conn.respond(202, ACCEPTED)
                self.env.runtime_response(body, too_large)
            else:
                conn.respond(202, ACCEPTED)
                self.env.runtime_error(body, error_type)
            return None
        return conn.respond(404, _error_body("InvalidRequest", "Unknown path"))


class _Connection(asyncio.Protocol):
    def __init__(self, api: RuntimeAPIServer) -> None:
        self.api = api
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._keep_alive = True
        self._streaming = False  # this request's body goes to the environment as it arrives
        self._trailers: dict[bytes, bytes] | None = None  # set once the headers are complete

    # asyncio callbacks
    def connection_made(self, transport) -> None:
        self.transport = transport
        if self.api.server is None:  # accepted just before the API closed: nobody serves it
            transport.close()
            return
        self.api._conns.add(self)

    def connection_lost(self, exc) -> None:
        # A stream cut short (the runtime died or closed the socket) ends with the process's exit
        # or the invocation's timeout: no response is made up from a partial body.
        self.api._conns.discard(self)
        if self.api._waiting is self:
            self.api._waiting = None
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._keep_alive = False
            self.respond(400, _error_body("InvalidRequest", "Malformed HTTP request"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._size = 0
        self._streaming = False
        self._trailers = None

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._trailers is not None:  # after the body of a chunked request: a trailer
            self._trailers[name.lower()] = value
        else:
            self._headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self._trailers = {}
        if (self._headers.get(b"lambda-runtime-function-response-mode", b"").lower() == b"streaming"
                and self.parser.get_method() == b"POST"):
            self._streaming = self.api.begin_stream(self, self._url.split(b"?", 1)[0], self._headers)

    def on_body(self, body: bytes) -> None:
        if self._streaming:
            self.api.env.runtime_stream_data(body)
            return
        self._size += len(body)
        if self._size <= MAX_BODY:
            self._body.append(body)

    def on_message_complete(self) -> None:
        self._keep_alive = self.parser.should_keep_alive()
        if self._streaming:
            self._streaming = False
            return self.api.end_stream(self, self._trailers or {})
        path = self._url.split(b"?", 1)[0]
        self.api.handle(self, self.parser.get_method(), path, self._headers, b"".join(self._body),
                        self._size > MAX_BODY)

    def respond(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        if self.transport is None:
            return
        head = [b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "OK").encode())]
        if headers is None:
            headers = [(b"Content-Type", b"application/json")]
        for k, v in headers:
            head.append(k + b": " + v + b"\r\n")
        head.append(b"Content-Length: %d\r\n" % len(body))
        if not self._keep_alive:
            head.append(b"Connection: close\r\n")
        head.append(b"\r\n")
        self.transport.write(b"".join(head) + body)
        if not self._keep_alive:
            self.transport.close()

    def pause_reading(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
