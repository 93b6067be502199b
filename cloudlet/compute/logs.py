"""An environment's log stream: its stdout/stderr pipe cut into events. The platform's own lines
(START, END, REPORT, ...) are PlatformEvents (types.py), worded by the Lambda service."""

from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cloudlet.compute.types import Line

MAX_EVENT = 256 * 1024 - 26  # CloudWatch Logs' event size limit, less its per-event overhead
MAX_FRAME = 8 * MAX_EVENT  # a runtime's event as JSON (escapes make it longer), before it is cut


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def log_stream_name(version: str) -> str:
    """AWS: one stream per environment, 'YYYY/MM/DD/[version]<32 hex>'."""
    return f"{datetime.now(UTC):%Y/%m/%d}/[{version}]{secrets.token_hex(16)}"


def billed_ms(duration_ms: float) -> int:
    return max(1, math.ceil(duration_ms - 1e-9))


def frame_mark(token: str) -> str:
    """What starts a runtime's event in an environment's output (LogPipe)."""
    return f"\x00cloudlet-log-{token}\x00"


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")[:MAX_EVENT]


def _frame(raw: bytes) -> str:
    try:
        event = json.loads(raw)
    except ValueError:
        event = None
    if not isinstance(event, str):  # not a frame after all: the line as it is
        return _text(raw + b"\n")
    return event[:MAX_EVENT]


class LogPipe:
    """Reads an environment's output pipe on the event loop and cuts it into log events, as
    Lambda records a function's output: each line of stdout and stderr is one event, its "\n"
    kept (a blank line is the event "\n"; "\r" is no line break, the old trick for one event of
    several lines).

    The runtime's own events (its logging records, console.* of Node, error reports) are one event
    however many lines they hold, as AWS's runtimes send them through a framed telemetry fd: here
    they travel in the same pipe, one frame per event written at once, `frame_mark(token)` then
    the event as a JSON string then "\n", `token` being the environment's own (runtimes/
    python_runtime.py, node_bootstrap.js). A line of the function's own output left unterminated
    before a frame goes on after it, as AWS's stdout and telemetry streams are apart.

    While an invocation (or the init phase) is being recorded, events are kept for its log
    text; otherwise they go straight to `on_idle` (output of background threads between
    invocations still belongs in the stream).
    """

    def __init__(self, fd: int, on_idle: Callable[[list[Line]], None], token: str | None = None) -> None:
        self.fd = fd
        self.on_idle = on_idle
        self.recording: list[Line] | None = None
        self.closed = False
        self._partial = b""
        self._mark = frame_mark(token).encode() if token else None
        os.set_blocking(fd, False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._on_readable)

    def _on_readable(self) -> None:
        self._read()

    def _read(self) -> None:
        while not self.closed:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._flush_partial()
                self.close()
                return
            self._feed(data)
            if len(data) < 65536:
                return

    def _feed(self, data: bytes) -> None:
        buf = self._partial + data if self._partial else data
        *complete, rest = buf.split(b"\n")
        mark = self._mark or b"\n"  # (no mark: no line holds a "\n")
        events: list[str] = []
        cut = b""
        for line in complete:
            at = line.find(mark)
            if at < 0:
                events.append(_text(cut + line + b"\n"))
                cut = b""
            else:  # a runtime's event; what came before it is an unterminated line of output
                cut += line[:at]
                events.append(_frame(line[at + len(mark):]))
        rest = cut + rest
        if len(rest) > MAX_EVENT and (mark not in rest or len(rest) > MAX_FRAME):
            events.append(_text(rest))  # a line too long for one event is cut
            rest = b""
        self._partial = rest
        if events:
            ts = now_ms()
            self._emit([(ts, e) for e in events])

    def _flush_partial(self) -> None:
        """An unterminated last line is an event of its own (without a "\n")."""
        if self._partial:
            part, self._partial = self._partial, b""
            self._emit([(now_ms(), _text(part))])

    def _emit(self, lines: list[Line]) -> None:
        if self.recording is not None:
            self.recording.extend(lines)
        else:
            self.on_idle(lines)

    def record(self) -> None:
        self.recording = []

    def take(self) -> list[Line]:
        """Everything written so far (the writer wrote before it answered us, so it is in the
        pipe), including an unterminated last line; stops recording."""
        self._read()
        self._flush_partial()
        lines, self.recording = self.recording or [], None
        return lines

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._loop.remove_reader(self.fd)
            try:
                os.close(self.fd)
            except OSError:
                pass
